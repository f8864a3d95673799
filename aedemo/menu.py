"""The app's pages in menu order, and nothing heavy: app.py imports this before PyTorch, so a
visitor gets the menu and the page's title at once, even while a fresh server is still loading
torch and the models. Streamlit itself is imported only by aedemo.ui and app.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str
    blurb: str


PAGES: tuple[PageInfo, ...] = (
    PageInfo("pages/home.py", "Home", ":material/home:",
             "What an autoencoder is, and the shape of the one you pick."),
    PageInfo("pages/train.py", "Train", ":material/model_training:",
             "Choose a variant and its settings, train it, watch the loss fall."),
    PageInfo("pages/reconstructions.py", "Reconstructions", ":material/compare:",
             "Originals against reconstructions, the bottleneck slider, PCA at the same k."),
    PageInfo("pages/latent_space.py", "Latent space", ":material/scatter_plot:",
             "The test set's codes on a 2D map, and the decoded plane for k = 2."),
    PageInfo("pages/generate.py", "Generate", ":material/auto_awesome:",
             "New digits from the VAE's N(0, I) prior, interpolation, the role of beta."),
    PageInfo("pages/denoising.py", "Denoising", ":material/blur_off:",
             "Corrupted digits cleaned by the denoising autoencoder, scored by PSNR and SSIM."),
    PageInfo("pages/insights.py", "Sparse and conv", ":material/grid_view:",
             "What a sparse code and convolution filters look like inside."),
    PageInfo("pages/draw.py", "Draw", ":material/draw:",
             "Draw a digit and watch every model reconstruct it."),
    PageInfo("pages/anomaly.py", "Anomaly detection", ":material/troubleshoot:",
             "Train on some digits; the others stand out by their reconstruction error."),
    PageInfo("pages/sequences.py", "Sequences", ":material/show_chart:",
             "The LSTM autoencoder flags unusual time series."),
)

# Set once app.py has run st.navigation in this process. A fresh Streamlit server treats a
# folder named pages/ as a legacy multipage app (its menu lists the files, and it runs a page
# without app.py) until some session has run st.navigation; app.py's server start-up runs the
# app once and waits for this before it lets browsers in.
navigation_ran = threading.Event()

# Set once the heavy part of the app (torch, the models, the service) has been imported: until
# then app.py shows each visitor the page's title and "starting" instead of a blank page.
app_loaded = threading.Event()
