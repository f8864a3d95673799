"""The app's pages in menu order, and nothing heavy: app.py imports this before PyTorch, so a
visitor gets the menu and the page's title at once, even while a fresh server is still loading
torch and the models. Streamlit itself is imported only by aedemo.ui and app.py.

``load_app`` imports what the pages need, once, before any page runs (see there)."""

from __future__ import annotations

import ast
import importlib
import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent     # the repository: pages/ and aedemo/


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str
    blurb: str
    # the page's address, where its file's name would not do (st.Page names it by the file)
    url_path: str | None = None

    @property
    def url_name(self) -> str:
        """The page's address after the server's: ``url_path``, else its file's name, as
        st.Page derives it (the first page is also at the bare address)."""
        return self.url_path or Path(self.path).stem


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
    PageInfo("pages/class_view.py", "Class", ":material/groups:",
             "Every student's shared drawing on one map, unusual ones marked.",
             url_path="class"),
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

# Held by the one session that imports the app (load_app); the others wait for it.
_loading = threading.Lock()

# What the pages reach through an attribute rather than an import statement, which
# page_imports cannot read: a DataFrame's .style (the stored models' table) imports pandas'
# Styler, and jinja2 with it, at its first use. tests/test_server_config.py runs every page
# after the first run and fails on any package first imported there.
ATTRIBUTE_IMPORTS = ("pandas.io.formats.style",)


def load_app() -> None:
    """Import every module the pages can import, once, in one session at a time; the sessions
    that arrive meanwhile wait here, and no page runs before it is done.

    Sessions run in threads of their own, and Python's imports are not safe to race: two
    sessions that import a large package at once can get it half-initialised (plotly, building
    the Home page's figure, found pandas in sys.modules while another session's page was still
    importing it: "partially initialized module 'pandas' has no attribute 'Series'"). An
    import inside a function happens at its first call, in whichever session calls it first, so
    those are imported here too."""
    with _loading:
        if app_loaded.is_set():
            return
        for module, names in [*page_imports(), *((m, ()) for m in ATTRIBUTE_IMPORTS)]:
            try:
                # what the statement `from module import names` (or `import module`) does
                importlib.__import__(module, fromlist=names)
            except Exception:
                # the page that needs it fails again when it runs, and says so there; the
                # others must still work
                log.exception("could not import %s for the pages", module)
        app_loaded.set()


def wait_for_loading(timeout: float) -> None:
    """Wait, at most ``timeout`` seconds, for an import of the app in progress (load_app) to
    finish: a server that stops must not shut the interpreter down under it."""
    if _loading.acquire(timeout=timeout):
        _loading.release()


def page_imports() -> list[tuple[str, tuple[str, ...]]]:
    """Every import statement that running the pages can execute, as (module, names) for
    ``from module import names`` (no names for ``import module``), in the order a reader meets
    them: the page scripts' in menu order, and those of every aedemo module they reach, inside
    functions too. Read from the code, so a new page or a new import needs no list here."""
    found: dict[tuple[str, tuple[str, ...]], None] = {}
    todo = deque(ROOT / page.path for page in PAGES)
    seen: set[Path] = set()
    while todo:
        file = todo.popleft()
        if file in seen:
            continue
        seen.add(file)
        for module, names in _imports(ast.parse(file.read_text(), str(file))):
            found[module, names] = None
            # our own modules are read in turn: `from aedemo.lessons import draw` reaches
            # aedemo/lessons/__init__.py and aedemo/lessons/draw.py
            todo += filter(None, map(_own_file, (module, *(f"{module}.{n}" for n in names))))
    return list(found)


def _imports(node: ast.AST) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The absolute imports under ``node``, at any depth, in source order, except those only a
    type checker reads (``if TYPE_CHECKING:``)."""
    if isinstance(node, ast.Import):
        yield from ((alias.name, ()) for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module, tuple(alias.name for alias in node.names)
    elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
        for child in node.orelse:
            yield from _imports(child)
    else:
        for child in ast.iter_child_nodes(node):
            yield from _imports(child)


def _own_file(module: str) -> Path | None:
    """The source file of one of this project's modules (aedemo.*), or None."""
    if module.split(".")[0] != __name__.split(".")[0]:
        return None
    base = ROOT.joinpath(*module.split("."))
    for file in (base.with_suffix(".py"), base / "__init__.py"):
        if file.is_file():
            return file
    return None
