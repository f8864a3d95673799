"""aedemo's entry point: `streamlit run app.py`. Routes to the pages in pages/ with
st.navigation and draws the sidebar every page shares."""

import streamlit as st

from aedemo import ui

st.set_page_config(page_title="aedemo: autoencoders", page_icon=":material/compress:",
                   layout="wide")
navigation = ui.navigation()
ui.sidebar()
ui.run_page(navigation)
