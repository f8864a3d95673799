"""A page's settings in the address bar, in Chromium on the README's server: a link with settings
opens the page with them, the address follows a changed setting without a reload, that
address opened in another browser shows the same, and a hostile link opens the defaults with a
plain note."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from e2e_support import no_exception, open_page, wait_idle


def query(tab) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(tab.url).query).items()}


def test_a_link_opens_its_settings_and_the_address_follows_a_change(server, page, browser):
    open_page(page, server, "generate?seed=7&temperature=0.5")
    seed = page.get_by_role("spinbutton", name="Seed")
    expect(seed).to_have_value("7", timeout=60_000)
    temperature = page.locator('[data-testid="stSlider"]', has_text="Temperature T")
    expect(temperature.get_by_role("slider")).to_have_value("0.5")
    assert query(page)["seed"] == "7" and query(page)["temperature"] == "0.5"
    assert "model" in query(page)                 # the page's model, as the link did not say

    seed.fill("12")
    seed.press("Enter")
    wait_idle(page)
    page.wait_for_function("() => new URLSearchParams(location.search).get('seed') === '12'")
    address = page.url
    no_exception(page)

    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        other.goto(address)
        other.locator("h1").first.wait_for(timeout=60_000)
        wait_idle(other)
        expect(other.get_by_role("spinbutton", name="Seed")).to_have_value("12")
        assert query(other) == query(page)
    finally:
        other.context.close()


def test_a_hostile_link_opens_the_defaults_with_a_plain_note(server, page):
    open_page(page, server, "train?variant=%3Cscript%3Ealert(1)%3C/script%3E&latent=1e999"
                            "&lr=nan&" + "x" * 2000 + "=1")
    note = page.get_by_text(re.compile(r"This link's variant = .* is not used"))
    expect(note).to_be_visible()
    expect(page.get_by_text(re.compile(r"latent = .1e999. is not used: latent takes a whole "
                                       r"number from 2 to 1024"))).to_be_visible()
    no_exception(page)
    assert query(page)["variant"] == "dense"
    assert page.evaluate("() => window.__xss === undefined")
