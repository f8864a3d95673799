"""The package's layers, read statically from its imports: only aedemo/ui/ imports streamlit,
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
            # "from aedemo import ui" imports aedemo.ui as surely as "import aedemo.ui"
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return found


def test_only_ui_imports_streamlit():
    """Streamlit stays in aedemo/ui/: nothing below it imports streamlit, nor ui itself (which
    would bring streamlit with it)."""
    ui = PACKAGE / "ui"
    below = [p for p in PACKAGE.rglob("*.py") if ui not in p.parents]
    for path in below:
        found = {m for m in _imports(path) if m.split(".")[0] == "streamlit"
                 or m == "aedemo.ui" or m.startswith("aedemo.ui.")}
        assert not found, f"{path.relative_to(REPO)} imports {found}: only aedemo/ui/ may"
    importers = {p.relative_to(REPO).as_posix() for p in ui.glob("*.py")
                 if any(m.split(".")[0] == "streamlit" for m in _imports(p))}
    assert importers, "aedemo/ui/ is where streamlit is imported"


def test_nothing_in_the_package_imports_the_pages():
    pages = {p.stem for p in (REPO / "pages").glob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        upward = {m for m in _imports(path) if m.split(".")[0] == "pages"}
        assert not upward, f"{path.relative_to(REPO)} imports {upward}"
        text = path.read_text()
        assert "pages/" not in text or path.name in ("menu.py",), (
            f"{path.relative_to(REPO)} names a page script; only menu.py lists them ({pages})")
