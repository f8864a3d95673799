"""The hover view's Python side (aedemo/ui/latent_hover.py) in the page scripts, by AppTest: on
both pages with a k = 2 model the view is there; a model whose decoder cannot run in the browser
(export.net_url None: a layer the interpreter lacks) gets a sentence that says so instead. What
the view computes is tested in Chromium (tests/e2e/test_hover_decode.py)."""

from __future__ import annotations

import pytest

from aedemo import export

PAGES = {"pages/latent_space.py": "latent-hover", "pages/generate.py": "gen-hover"}  # its key
NOT_IN_BROWSER = "does not run in the browser"


def said(at) -> str:
    return " ".join(c.value for c in at.caption)


def views(at) -> list[str]:
    """The keys of the Components v2 components on the page (AppTest lists them by type)."""
    return [c.key for c in at.get("bidi_component")]


@pytest.mark.parametrize("script", PAGES)
def test_the_view_is_offered_for_a_k2_model(explore, script):
    at = explore(script)
    assert PAGES[script] in views(at)
    assert NOT_IN_BROWSER not in said(at)


@pytest.mark.parametrize("script", PAGES)
def test_a_model_that_does_not_export_is_said_not_to_run_there(explore, monkeypatch, script):
    monkeypatch.setattr(export, "net_url", lambda stored: None)
    at = explore(script)
    assert NOT_IN_BROWSER in said(at)
    assert PAGES[script] not in views(at)
