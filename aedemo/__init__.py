"""aedemo: a teaching demo of autoencoders. Everything that computes lives in this package;
the Streamlit pages are thin views over it, and only ``aedemo.ui`` imports streamlit."""

import os

# OpenMP threads spin while they wait for work: fastest when torch has the cores to itself,
# ruinous when it does not (a training job and page requests in one server, or two processes
# on a 2-core machine). A dense epoch measured, alone / beside one busy core: default spinning
# 68,000 / 1,100 samples/s; never spinning (OMP_WAIT_POLICY=PASSIVE) 34,000 / 38,000; spinning
# briefly (GOMP_SPINCOUNT=10000) 64,000 / 18,000. The last keeps training fast while the class
# is idle and degrades gently under load. Set before torch is first imported: OpenMP reads it
# once, when torch loads, so import aedemo before torch in scripts.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

__version__ = "0.1.0"
