"""The server settings in .streamlit/config.toml, read back through Streamlit's own config
loader, so a misspelt option (which Streamlit ignores with only a log line) fails here; and the
server's first seconds: what the pages import before any of them runs, and what the sidebar says
while the training worker starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from streamlit import config

from aedemo import local_workers
from aedemo.service import Service
from support import REPO


@pytest.fixture
def repo_config(monkeypatch):
    monkeypatch.chdir(REPO)                     # Streamlit reads ./.streamlit/config.toml
    config.get_config_options(force_reparse=True)
    yield
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


def test_no_full_garbage_collection_after_every_rerun(repo_config):
    # Streamlit's default collects all generations after each script run; with torch,
    # plotly and scikit-learn in the process that is the slow part of every rerun (timed
    # in bench/classroom.py, not asserted here)
    assert config.get_option("runner.postScriptGC") is False


def test_a_links_settings_print_no_warning_in_the_terminal(repo_config):
    # aedemo/ui/links.py puts a link's values in widgets' session state on purpose
    assert config.get_option("global.disableWidgetStateDuplicationWarning") is True



def test_hardened_for_a_class(repo_config):
    from aedemo import preprocess
    from aedemo.data import CSV_MAX_BYTES

    assert config.get_option("server.address") == "127.0.0.1"       # this machine only
    assert config.get_option("client.showErrorDetails") == "type"   # no tracebacks on screen
    assert config.get_option("client.toolbarMode") == "viewer"      # no Deploy, no Rerun
    # the server's own limit is what the pages promise, not Streamlit's 200 MB
    promised = max(preprocess.UPLOAD_MAX_BYTES, CSV_MAX_BYTES)
    assert config.get_option("server.maxUploadSize") * 1_000_000 >= promised
    assert config.get_option("server.maxUploadSize") == round(promised / 1_000_000)


class FakePage:
    """What st.navigation returns, as far as ui.run_page uses it."""

    def __init__(self, url_path: str, error: Exception | None = None):
        self.url_path, self.error, self.ran = url_path, error, False

    def run(self) -> None:
        self.ran = True
        if self.error:
            raise self.error


def test_a_page_runs_in_the_apps_styles(monkeypatch):
    from aedemo import ui

    styled = []
    monkeypatch.setattr(ui.frame, "page_style", lambda: styled.append(True))
    page = FakePage("draw")
    ui.run_page(page)
    assert page.ran and styled == [True]


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two colours (#RRGGBB)."""
    def luminance(colour: str) -> float:
        rgb = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def over(colour: str, background: str, opacity: float) -> str:
    """``colour`` drawn at ``opacity`` on ``background``, as the browser blends it."""
    mix = [round(opacity * int(colour[i:i + 2], 16) + (1 - opacity) * int(background[i:i + 2], 16))
           for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mix)


WHITE, SIDEBAR = "#ffffff", "#f0f2f6"      # Streamlit's light page and sidebar
CAPTION_OPACITY = 0.6                      # how Streamlit draws captions, in the body colour
AA_TEXT = 4.5                              # WCAG AA for text under 18 pt


def test_the_reference_contrast_is_wcags():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)   # the AA grey
    assert over("#000000", "#ffffff", 0.6) == "#666666"


def test_the_theme_meets_wcag_aa_contrast(repo_config):
    # light whatever the student's system prefers: the figures below are against white
    assert config.get_option("theme.base") == "light"
    text = config.get_option("theme.textColor") or "#31333f"         # Streamlit's default
    primary = config.get_option("theme.primaryColor") or "#ff4b4b"
    for background in (WHITE, SIDEBAR):
        assert contrast(text, background) >= AA_TEXT
        # a caption: the body colour at 60% on the page or the sidebar
        caption = over(text, background, CAPTION_OPACITY)
        assert contrast(caption, background) >= AA_TEXT, (caption, background)
    # a primary button's white text on the accent, and the accent as a control on the page
    assert contrast("#ffffff", primary) >= AA_TEXT
    assert contrast(primary, WHITE) >= 3                 # WCAG 1.4.11, a control's colour


# --- the server's first seconds --------------------------------------------------------------

# In a fresh interpreter, as a fresh server: app.py's first run (the server's start-up step runs
# it before any browser is let in), then every page once; what each page run imported that no
# module had imported before, by top-level package.
FIRST_RUN_THEN_EVERY_PAGE = """
import json, sys
from streamlit.testing.v1 import AppTest

app = AppTest.from_file(sys.argv[1], default_timeout=120)
app.run()
assert not app.exception, [e.value for e in app.exception]
from aedemo import menu, ui

assert ui.service().wait_ready(60)
packages = lambda: {name.split(".")[0] for name in sys.modules}
loaded, imported = packages(), {}
for page in menu.PAGES:
    app.switch_page(page.path)
    app.run()
    assert not app.exception, (page.path, [e.value for e in app.exception])
    imported.update(dict.fromkeys(packages() - loaded, page.path))
    loaded = packages()
print(json.dumps(imported))
"""


def test_no_page_imports_a_package_before_it_runs(lesson_store, tmp_path):
    """Every session runs in a thread of its own, and two sessions that import a package at
    once can get it half-initialised: two tabs opened on a fresh server left the log with
    "partially initialized module 'pandas' has no attribute 'Series'" and the tabs blank. So the
    first run imports, under one lock, every package the pages use (menu.load_app), and then
    no page run, with models stored, imports one of its own."""
    home = tmp_path / "home"
    shutil.copytree(lesson_store, home)
    env = {**os.environ, "AEDEMO_HOME": str(home), "AEDEMO_DATA_DIR": str(tmp_path / "data"),
           "AEDEMO_ZOO": "0", "AEDEMO_WORKERS": "0", "AEDEMO_DATASET": "digits"}
    done = subprocess.run([sys.executable, "-c", FIRST_RUN_THEN_EVERY_PAGE, str(REPO / "app.py")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = json.loads(done.stdout.splitlines()[-1])
    assert imported == {}, f"imported by a page run, not before: {imported}"


def test_an_import_that_fails_leaves_the_other_pages_working(tmp_path, monkeypatch, caplog):
    """A package that cannot be imported fails the page that needs it, when it runs (the
    dataset loader falls back to another set when torchvision's cannot load), not every page
    of the app at its start."""
    from aedemo import menu

    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "broken.py").write_text("import json\nimport no_such_package\n")
    monkeypatch.setattr(menu, "ROOT", tmp_path)
    monkeypatch.setattr(menu, "PAGES", (menu.PageInfo("pages/broken.py", "Broken", "", ""),))
    monkeypatch.setattr(menu, "app_loaded", menu.threading.Event())
    assert menu.page_imports() == [("json", ()), ("no_such_package", ())]
    menu.load_app()
    assert menu.app_loaded.is_set()
    assert "could not import no_such_package" in caplog.text


STARTING = "The training worker is starting…"


def test_the_worker_is_starting_from_the_servers_first_moment_until_it_says_hello(
        quiet_env, monkeypatch):
    """The sidebar once said "No training worker is running… start one" while the server's
    own worker was starting: until the service's start-up thread had started the process the
    worker did not count as starting, and then the sidebar said nothing at all."""
    monkeypatch.setenv("AEDEMO_WORKERS", "1")
    service = Service()
    try:
        assert service.queue_problem() == STARTING          # at once, process or not
        deadline = time.monotonic() + 60
        while service.queue_problem() == STARTING:         # until the worker says hello
            assert time.monotonic() < deadline, "the worker never said hello"
            time.sleep(0.2)
        assert service.queue_problem() is None
        assert service.jobs.live_workers()
    finally:
        service.shutdown()


def test_a_worker_that_never_says_hello_is_not_starting_for_ever(monkeypatch):
    monkeypatch.setattr(local_workers, "STARTING_S", 0.3)
    local = local_workers.LocalWorkers(1, on_death=print)         # never started
    assert local.starting()
    deadline = time.monotonic() + 10
    while local.starting():
        assert time.monotonic() < deadline, "still starting long after STARTING_S"
        time.sleep(0.02)
    assert not local_workers.LocalWorkers(0, on_death=print).starting()     # none of its own
