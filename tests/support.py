"""Paths and commands the tests share (importable as `support`; pytest puts tests/ on sys.path,
and the benches put it there themselves)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def readme_command(marker: str) -> str:
    """The shell command in README.md's ```sh block under ``<!-- marker -->``: the tests and
    benches run what a user is told to run, not a variant of their own."""
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- {re.escape(marker)} -->\s*```sh\n(.+?)\n```", text, re.S)
    if found is None:
        raise LookupError(f"README.md has no ```sh block under <!-- {marker} -->")
    return found.group(1).strip()


def app_command() -> list[str]:
    """The README's command that starts the app, without the install steps before it: the
    server is started exactly as a user starts it, with no flags of the tests' own. Only its
    port (STREAMLIT_SERVER_PORT) differs, so that tests can run side by side."""
    return shlex.split(readme_command("app-command").split("&&")[-1])
