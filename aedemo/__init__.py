"""aedemo: a teaching demo of autoencoders. Everything that computes lives in this package;
the Streamlit pages are thin views over it, and only ``aedemo.ui`` imports streamlit."""

import os

# OpenMP threads that spin while waiting are fast when torch has the cores to itself, and
# ruinous when it does not: with a training job and page requests in one server, or two
# processes on a 2-core machine, a dense epoch measured 1,100 samples/s spinning against
# 41,000 sleeping. Set before torch is first imported (this package imports it after this).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
