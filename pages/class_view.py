import streamlit as st

from aedemo import ui
from aedemo.lessons import draw

st.title("Class")
st.markdown(
    "Every drawing the class shared from the Draw page (**Share with the class**) is a point "
    "on the lesson model's map of the test digits' codes, placed as the Latent space page "
    "places them. Drawings of the same digit should land among that digit's test codes. A "
    "drawing the model finds **unusual** (its reconstruction error is higher than 95% of the "
    "test digits', as the Draw page judges) is marked apart: a scribble, a letter, a digit "
    "written very differently. Hover over a point to see the drawing and the model's copy of "
    "it. Nobody's name is shown. The map follows the class by itself.")

svc = ui.service()
data, stored_models = ui.models_or_wait("image model", kind="image", prefer=draw.nearest_k)
# the lesson's models (the teacher's pins, then the zoo), the same for everyone: the map a
# teacher projects is the one each student finds on their own screen
whose = svc.provenance_of(ui.student_id())
lesson = [m for m in stored_models if whose(m).showcase] or stored_models
link = ui.linked_settings("class")
left, _ = st.columns([2, 3])
stored = ui.pick_model_id(draw.one_per_variant(lesson), key="class-model",
                          label="Seen through", where=left, link=link)
link.update_address()
ui.class_map(stored, key="class-map")
# every model the students trained this lesson, against the lesson's own
ui.class_models_section(lesson, key="class-models")
