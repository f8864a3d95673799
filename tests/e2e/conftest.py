"""End-to-end fixtures: a real `streamlit run app.py` server on a free port with an
AEDEMO_HOME of its own, and a real Chromium driven by Playwright. Chromium is installed when
missing: Debian's package where apt-get can run as root, else Playwright's own download. Every
failing test leaves a screenshot in artifacts/e2e/."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import ARTIFACTS, CHROMIUM_FLAGS, find_chromium, server_on_lesson_models

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    """Every test under tests/e2e/ is marked e2e, in this one place, so `pytest -m "not e2e"`
    is the fast loop without a module that forgets its mark. This hook sees the whole
    session's items, hence the path check."""
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def server(tmp_path_factory, lesson_store):
    """One server per test module, as a class meets it once the first models are in: the
    README's command on a copy of the lesson's models (tests/conftest.py's lesson_store), on
    the digits, its zoo turned off (AEDEMO_ZOO=0, a teacher's setting) so nothing trains
    behind the tests. What a fresh server does while its zoo trains is test_server's."""
    srv = server_on_lesson_models(tmp_path_factory, lesson_store, "e2e-home")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()




@pytest.fixture
def three(browser, request):
    """Alice's, Bob's and the teacher's browsers: three contexts, three student cookies (a
    class in one test); each one's screenshot is kept when the test fails."""
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
    pages = [c.new_page() for c in contexts]
    for pg in pages:
        pg.set_default_timeout(30_000)
    yield pages
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name, pg in zip(("alice", "bob", "teacher"), pages):
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}.png"),
                          full_page=True)
    for c in contexts:
        c.close()
