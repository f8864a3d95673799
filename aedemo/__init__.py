"""aedemo: a teaching demo of autoencoders. Everything that computes lives in this package;
the Streamlit pages are thin views over it, and only ``aedemo.ui`` imports streamlit."""

__version__ = "0.1.0"
