"""What each page teaches, one module per page and named after it: the Draw page's lesson is
``aedemo.lessons.draw`` and its figures are ``aedemo.viz.draw``, and so on for every page.

Each module takes models and data (tensors, an ``ImageData``) and returns numbers, tensors or
small dataclasses; none knows about the service or Streamlit. What is slow to compute, a page
has computed once for every session by ``Service.derived``, which owns its cache key.
"""
