"""Helpers for the browser tests: the server process, Chromium, waiting on Streamlit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support import (  # noqa: F401  (for e2e tests and bench/)
    REPO,
    app_command,
    cpu_seconds,
    debian_program,
    free_port,
    own_cpu_seconds,
    process_tree,
    resident_mb,
    run_apart,
)

ARTIFACTS = REPO / "artifacts" / "e2e"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_TIMEOUT = 90


def find_chromium() -> str | None:
    """The Chromium binary to use, installing Debian's first when it is missing. None means
    use Playwright's own downloaded build."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    found = debian_program("chromium", "chromium")
    if found:
        return found
    subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)
    return None


class Server:
    def __init__(self, home: Path, extra_env: dict[str, str] | None = None, *,
                 command: list[str] | None = None, host: str = "127.0.0.1"):
        """The README's app command (or ``command``, another of its commands), reached at
        ``host``. What it was started with is kept, for a second server of the same class."""
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.home, self.env, self.command, self.host = home, extra_env, command, host
        self.log = ARTIFACTS / f"server-{self.port}.log"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AEDEMO_HOME": str(home), "AEDEMO_DATA_DIR": str(home / "data"),
               "STREAMLIT_SERVER_PORT": str(self.port), "PYTHONUNBUFFERED": "1",
               **(extra_env or {})}
        # the README's own command, with no flags of the tests' own: settings belong in
        # .streamlit/config.toml, where users get them too (a test-only flag once hid a file
        # watcher that burned a core per open tab)
        self.proc = subprocess.Popen(command or app_command(), cwd=REPO, env=env,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not become healthy in {SERVER_START_TIMEOUT} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def server_on_lesson_models(tmp_path_factory, lesson_store: Path, name: str,
                            extra_env: dict[str, str] | None = None) -> Server:
    """The README's command on a copy of the lesson's models (tests/conftest.py's
    lesson_store), on the digits, the zoo off (AEDEMO_ZOO=0, a teacher's setting) so nothing
    trains behind the tests; ``extra_env`` adds to that (no worker, a passphrase)."""
    home = tmp_path_factory.mktemp(name)
    shutil.copytree(lesson_store, home, dirs_exist_ok=True)
    return Server(home, {"AEDEMO_DATASET": "digits", "AEDEMO_ZOO": "0", **(extra_env or {})})


def classroom_on_lesson_models(tmp_path_factory, lesson_store: Path, name: str,
                               passphrase: str, extra_env: dict[str, str] | None = None
                               ) -> Server:
    """The README's classroom command (a teacher's passphrase, every address) on a copy of the
    lesson's models, no worker: for a teacher and students in browser contexts of their own,
    reaching it at this machine's network address as their laptops would. ``extra_env`` adds
    to that (a Redis for several servers)."""
    from aedemo.roles import PASSPHRASE_ENV
    from support import classroom_command, lan_address

    home = tmp_path_factory.mktemp(name)
    shutil.copytree(lesson_store, home, dirs_exist_ok=True)
    return Server(home, {"AEDEMO_DATASET": "digits", "AEDEMO_ZOO": "0", "AEDEMO_WORKERS": "0",
                         PASSPHRASE_ENV: passphrase, **(extra_env or {})},
                  command=classroom_command(), host=lan_address())


def open_page(page, server: Server, path: str = "") -> None:
    """Load a page and wait until Streamlit has finished running its script."""
    page.goto(f"{server.url}/{path}")
    _wait_loaded(page)


def reload_page(page) -> None:
    """Reload the page and wait as open_page does. wait_idle alone is not enough: in the first
    moments after a reload there is no status widget yet either, so it could return before the
    page had drawn anything (seen on a busy machine)."""
    page.reload()
    _wait_loaded(page)


def _wait_loaded(page) -> None:
    page.wait_for_selector('[data-testid="stApp"]')
    page.locator("h1").first.wait_for(timeout=60_000)     # every page starts with its title
    wait_idle(page)


def wait_idle(page, timeout: float = 30.0) -> None:
    """Streamlit shows its status widget while a script runs; wait for it to go away."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout * 1000)


# The Draw page's drawing pad (aedemo/assets/drawing_pad.js); Playwright's CSS selectors reach
# into the component's shadow root.
PAD = "canvas.pad-canvas"


def draw_seven(page, pad: str = PAD) -> None:
    """A '7' in mouse strokes: the top bar, then the diagonal, as a student would draw it."""
    box = page.locator(pad).bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.25 * w, y + 0.2 * h)
    page.mouse.down()
    page.mouse.move(x + 0.75 * w, y + 0.2 * h, steps=8)
    page.mouse.move(x + 0.45 * w, y + 0.85 * h, steps=12)
    page.mouse.up()


def start_training(tab, variant: str, epochs_key: str = "End") -> None:
    """On the Train page: pick ``variant``, set the epochs slider with a key (End: the most, a
    job that trains while a test looks at it) and press Start."""
    # scrolled to first, as a person does: a click that has to scroll the page (a finished
    # job's panel, with its latent map's replay, stands above the settings) closes the list
    variants = tab.get_by_label("Variant")
    variants.scroll_into_view_if_needed()
    wait_idle(tab)
    variants.click()
    tab.get_by_role("option", name=variant).first.click()
    wait_idle(tab)
    epochs = tab.locator('[data-testid="stSlider"]', has_text="Epochs").get_by_role("slider")
    epochs.focus()
    epochs.press(epochs_key)
    wait_idle(tab)
    tab.get_by_role("button", name="Start training").click()


SIDEBAR = '[data-testid="stSidebar"]'


def sign_in_as_teacher(tab, passphrase: str):
    """Unlock the teacher's role in ``tab``'s sidebar with the passphrase, as a teacher does;
    returns the sidebar."""
    sidebar = tab.locator(SIDEBAR)
    sidebar.get_by_text("Teacher", exact=True).click()
    sidebar.get_by_label("Passphrase").fill(passphrase)
    sidebar.get_by_role("button", name="Unlock the teacher's role").click()
    sidebar.get_by_text("You are signed in as the teacher.").wait_for()
    return sidebar


def no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()

