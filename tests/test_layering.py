"""The package's layers, read statically from its imports: only aedemo/ui.py imports streamlit,
and nothing in aedemo/ imports the page scripts (pages sit above the package, never below)."""

from __future__ import annotations

import ast

from support import REPO

PACKAGE = REPO / "aedemo"


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_ui_imports_streamlit():
    importers = {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.py")
                 if any(m.split(".")[0] == "streamlit" for m in _imports(p))}
    assert importers == {"aedemo/ui.py"}


def test_nothing_in_the_package_imports_the_pages():
    pages = {p.stem for p in (REPO / "pages").glob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        upward = {m for m in _imports(path) if m.split(".")[0] == "pages"}
        assert not upward, f"{path.relative_to(REPO)} imports {upward}"
        text = path.read_text()
        assert "pages/" not in text or path.name in ("menu.py",), (
            f"{path.relative_to(REPO)} names a page script; only menu.py lists them ({pages})")
