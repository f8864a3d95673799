"""Accessibility in a real Chromium: axe-core (the engine accessibility teams use, brought to
Playwright by axe-playwright-python) on every page, in the states a student reaches: the
lesson's models stored, a digit drawn, a job training, the teacher unlocked. Any critical or
serious violation fails, with its rule, impact, element and help printed. And what axe cannot
decide: the pad's Clear and Undo by keyboard, the Draw page's headings in order, projector mode
(large black text and chart text, kept across reloads and pages) and the Draw page on a phone.

The server is the README's command on small models trained in this session on scikit-learn's
digits (a couple of minutes in all, not the zoo's), with a teacher's passphrase set."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from aedemo import menu
from aedemo.roles import PASSPHRASE_ENV
from e2e_support import (
    PAD,
    draw_seven,
    no_exception,
    open_page,
    reload_page,
    server_on_lesson_models,
    start_training,
    wait_idle,
)

SECRET = "a passphrase for the class"
PAGES = {p.title: "" if i == 0 else p.url_name for i, p in enumerate(menu.PAGES)}
FAILING = ("critical", "serious")         # axe's two highest impacts: what "done" rules out
PROJECTOR_MIN_PX = 20                     # text readable from the back of a room
FINGER_PAD_PX = 240                       # the pad's least width on a phone
PHONE = {"width": 390, "height": 844}
# the server's copies beside the pad (drawing_pad.js's captions; the browser's say so instead)
RECONSTRUCTED = re.compile(r"^dense k=\d+ · MSE")
TRAIN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def lesson_server(tmp_path_factory, lesson_store):
    """The README's app command with a teacher's passphrase, on a store of small models: every
    image variant (three dense ks), a one-class detector and an LSTM, so every page has what it
    shows. Its worker trains the job of the 'job training' state."""
    srv = server_on_lesson_models(tmp_path_factory, lesson_store, "a11y-home",
                                 {PASSPHRASE_ENV: SECRET})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def axe():
    return Axe()


def settle(page) -> None:
    """Wait until the page has stopped changing: its script done, then the fragments and the
    derived results it asked for (a second look after a pause)."""
    wait_idle(page, 60)
    page.wait_for_timeout(1000)
    wait_idle(page, 60)


def audit(axe, page, where: str) -> list[str]:
    """axe-core's critical and serious violations on the page as it is now, one line each:
    where, the rule, its impact, the element and what the rule asks."""
    found = axe.run(page).response["violations"]
    return [f"{where}: {v['id']} ({v['impact']}) at {' > '.join(map(str, node['target']))}: "
            f"{v['help']} ({node['html'][:120]})"
            for v in found if v["impact"] in FAILING for node in v["nodes"]]


def crashed(page, where: str) -> list[str]:
    """A page that raised, as a problem of its own (its audit would be of an error box)."""
    errors = page.locator('[data-testid="stException"]')
    if not errors.count():
        return []
    return [f"{where}: the page raised: {errors.first.inner_text()[:200]}"]


def visit(page, title: str) -> None:
    """Go to a page through the sidebar's menu, as a student does: the session, and what it
    holds (a drawing), stays."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    # the page's address, with the settings it writes there after its name
    page.wait_for_url(re.compile(rf"//[^/]+/{re.escape(PAGES[title])}(\?|$)"))
    page.locator("h1").first.wait_for(timeout=60_000)
    settle(page)


def no_violations(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


def test_every_page_with_the_lessons_models_stored(page, lesson_server, axe):
    problems = []
    for title, path in PAGES.items():
        open_page(page, lesson_server, path)
        settle(page)
        problems += crashed(page, title) + audit(axe, page, title)
    no_violations(problems)


def test_a_digit_drawn_and_the_pages_that_show_it(page, lesson_server, axe):
    open_page(page, lesson_server, "draw")
    page.locator(PAD).wait_for()
    draw_seven(page)
    page.get_by_text(RECONSTRUCTED).first.wait_for(timeout=60_000)
    settle(page)
    problems = audit(axe, page, "Draw, a digit drawn")
    for title in ("Reconstructions", "Anomaly detection"):      # they show the drawing too
        visit(page, title)
        problems += crashed(page, title) + audit(axe, page, f"{title}, a digit drawn")
    no_violations(problems)


def test_a_job_training(page, lesson_server, axe):
    open_page(page, lesson_server, "train")
    start_training(page, "conv")        # the most epochs: it trains while the test looks on
    page.get_by_text("Training:").first.wait_for(timeout=TRAIN_TIMEOUT_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=TRAIN_TIMEOUT_MS)   # its loss curve
    settle(page)
    # the live loss chart in words, beside it, for a screen reader
    summary = page.locator(".aedemo-sr-only", has_text="Training loss").first
    assert "epochs" in summary.text_content()
    problems = audit(axe, page, "Train, a job training")
    visit(page, "Home")                 # the sidebar shows the job's progress on every page
    page.locator('[data-testid="stSidebar"]').get_by_text("▶ conv").wait_for()
    problems += audit(axe, page, "Home, a job training")
    visit(page, "Train")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Cancelled: nothing was stored.").wait_for(timeout=30_000)
    no_violations(problems)


def test_the_teacher_unlocked(page, lesson_server, axe):
    open_page(page, lesson_server, "train")
    sidebar = page.locator('[data-testid="stSidebar"]')
    problems = audit(axe, page, "Train, the teacher's box open")  # the passphrase form
    sidebar.get_by_text("Teacher", exact=True).click()
    sidebar.get_by_label("Passphrase").fill(SECRET)
    problems += audit(axe, page, "Train, the passphrase typed")
    sidebar.get_by_role("button", name="Unlock the teacher's role").click()
    sidebar.get_by_text("You are signed in as the teacher.").wait_for()
    with page.context.expect_page() as opened:     # the link that sets the role's cookie
        sidebar.get_by_role("link", name="Keep the role after a reload").click()
    teacher = opened.value
    for title, path in PAGES.items():
        open_page(teacher, lesson_server, path)    # the role follows the browser's cookie
        settle(teacher)
        problems += crashed(teacher, title) + audit(axe, teacher, f"{title}, the teacher")
    no_violations(problems)


FOCUSED = """() => { let e = document.activeElement;
    while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
    if (!e) return null;
    const style = getComputedStyle(e);
    return {text: e.textContent, outline: style.outlineStyle,
            width: parseFloat(style.outlineWidth)}; }"""


def focused(page) -> dict | None:
    return page.evaluate(FOCUSED)


def tab_to(page, name: str, limit: int = 12) -> dict:
    """Press Tab until the button named ``name`` has the focus; what has it then."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if now and now["text"] == name:
            return now
    raise AssertionError(f"Tab never reached {name!r}")


def pad_label(page) -> str:
    return page.locator(PAD).get_attribute("aria-label")


def test_the_pads_clear_and_undo_work_from_the_keyboard(page, lesson_server):
    open_page(page, lesson_server, "draw")
    page.locator(PAD).wait_for()
    assert "empty" in pad_label(page)                  # the canvas has a name, and says so
    draw_seven(page)
    draw_seven(page)
    page.get_by_text(RECONSTRUCTED).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert "2 strokes" in pad_label(page)
    # from the input's radio buttons just above the pad, as a keyboard user comes
    page.get_by_role("radio", name="Draw on the pad").focus()
    clear = tab_to(page, "Clear")
    assert clear["outline"] != "none" and clear["width"] >= 2      # visibly focused
    undo = tab_to(page, "Undo", limit=1)
    assert undo["outline"] != "none" and undo["width"] >= 2
    page.keyboard.press("Enter")                        # Undo: one stroke taken back
    page.locator(f'{PAD}[aria-label*="1 stroke drawn"]').wait_for(timeout=10_000)
    page.locator(".pad-status", has_text="1 stroke left").wait_for(state="attached")  # said
    page.keyboard.press("Shift+Tab")
    assert focused(page)["text"] == "Clear"
    page.keyboard.press("Space")                        # Clear: the pad is empty again
    page.locator(f'{PAD}[aria-label*="empty"]').wait_for(timeout=10_000)
    page.get_by_text(RECONSTRUCTED).first.wait_for(state="detached", timeout=30_000)
    no_exception(page)


HEADINGS = """() => Array.from(document.querySelectorAll(
    '[data-testid="stMain"] h1, [data-testid="stMain"] h2, [data-testid="stMain"] h3,'
    + '[data-testid="stMain"] h4, [data-testid="stMain"] h5, [data-testid="stMain"] h6'))
    .map(h => [Number(h.tagName[1]), h.textContent])"""


def test_the_draw_pages_headings_are_in_order(page, lesson_server):
    open_page(page, lesson_server, "draw")
    page.locator(PAD).wait_for()
    draw_seven(page)
    page.get_by_text("The nearest training digits").wait_for(timeout=60_000)
    settle(page)
    headings = page.evaluate(HEADINGS)
    levels = [level for level, _ in headings]
    assert levels[0] == 1 and levels.count(1) == 1, headings     # the title, the only h1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), headings   # no level skipped
    assert 2 in levels and 3 in levels, headings


CAPTION_FONT = """() => Array.from(document.querySelectorAll(
    '[data-testid="stMain"] [data-testid="stCaptionContainer"]')).map(c => {
        const s = getComputedStyle(c);
        return [parseFloat(s.fontSize), s.color, parseFloat(s.opacity)]; })"""
CHART_FONT = """() => Array.from(document.querySelectorAll(
    '.js-plotly-plot .xtick text, .js-plotly-plot .ytick text, .js-plotly-plot .legendtext'))
    .map(t => parseFloat(getComputedStyle(t).fontSize))"""
BODY_FONT = """() => parseFloat(getComputedStyle(
    document.querySelector('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p'))
    .fontSize)"""


def test_projector_mode_is_large_black_text_and_stays_on(browser, lesson_server, axe):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        tab = context.new_page()
        open_page(tab, lesson_server, "draw")
        normal = tab.evaluate(BODY_FONT)
        sidebar = tab.locator('[data-testid="stSidebar"]')
        toggle = sidebar.get_by_role("switch", name="Projector mode")
        assert not toggle.is_checked()
        sidebar.get_by_text("Projector mode").click()
        wait_idle(tab)
        reload_page(tab)                      # set once for the screen: it stays
        assert toggle.is_checked()
        assert tab.evaluate(BODY_FONT) >= PROJECTOR_MIN_PX > normal
        tab.locator(PAD).wait_for()
        draw_seven(tab)
        tab.get_by_text("Your drawing among the dataset").wait_for(timeout=60_000)
        tab.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
        settle(tab)
        captions = tab.evaluate(CAPTION_FONT)
        assert captions and all(size >= PROJECTOR_MIN_PX and color == "rgb(0, 0, 0)"
                                and opacity == 1 for size, color, opacity in captions), captions
        chart_text = tab.evaluate(CHART_FONT)
        assert chart_text and min(chart_text) >= PROJECTOR_MIN_PX, chart_text
        problems = audit(axe, tab, "Draw, projector mode")
        open_page(tab, lesson_server, "reconstructions")     # and on the other pages
        assert toggle.is_checked() and tab.evaluate(BODY_FONT) >= PROJECTOR_MIN_PX
        no_violations(problems)
    finally:
        context.close()


def test_on_a_phone_the_pad_is_finger_sized_and_a_copy_stays_in_view(browser, lesson_server):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    try:
        tab = context.new_page()
        open_page(tab, lesson_server, "draw")
        pad = tab.locator(PAD)
        pad.scroll_into_view_if_needed()
        assert pad.bounding_box()["width"] >= FINGER_PAD_PX
        draw_seven(tab)
        caption = tab.get_by_text("dense k=16 · MSE").first
        caption.wait_for(timeout=60_000)
        wait_idle(tab)
        pad_box = pad.bounding_box()
        image = caption.locator("xpath=..").locator("canvas.live-recon")   # its picture
        box = image.bounding_box()
        # where the student is drawing, the pad on the screen, a reconstruction is there too
        assert 0 <= pad_box["y"] and pad_box["y"] + pad_box["height"] <= PHONE["height"]
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"] + 1, box
        assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box
        assert box["width"] >= 64, box                        # a digit one can see
        # captions stay short: two lines at most
        line = float(caption.evaluate("c => parseFloat(getComputedStyle(c).lineHeight)"))
        assert caption.bounding_box()["height"] <= 2.5 * line
        no_exception(tab)
    finally:
        context.close()
