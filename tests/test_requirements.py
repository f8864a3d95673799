"""Installs that do not drift: every package the code imports is declared by name, and the lock
files pin every one of them, and everything they pull in, to one exact version."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata

from support import REPO

APP_CODE = ["app.py", "aedemo", "pages"]
DEV_CODE = ["tests", "bench"]


def _names(path) -> set[str]:
    """Distribution names declared in a requirements file, normalised."""
    found = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            found.add(_normal(re.split(r"[<>=!~;\[ ]", line)[0]))
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path) -> dict[str, str]:
    return {_normal(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)",
                                                     path.read_text(), re.M)}


def _imported_distributions(folders: list[str]) -> set[str]:
    """The installed distributions that provide the top-level modules the code imports."""
    modules = set()
    for folder in folders:
        root = REPO / folder
        for file in [root] if root.is_file() else root.rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    provided = metadata.packages_distributions()
    # the project's own modules; a bench may import another's helpers (bench/hostile.py uses
    # bench/classroom.py's simulated student) as a test imports its support module
    local = {"aedemo", "support", "e2e_support"} | {
        p.stem for folder in ("tests", "bench") for p in (REPO / folder).rglob("*.py")}
    third_party = modules - set(sys.stdlib_module_names) - local
    return {_normal(d) for m in third_party for d in provided.get(m, [m])}


def test_every_package_the_app_imports_is_declared():
    missing = _imported_distributions(APP_CODE) - _names(REPO / "requirements.in")
    assert not missing, f"imported by the app but not in requirements.in: {sorted(missing)}"


def test_every_package_the_tests_and_benches_import_is_declared():
    declared = _names(REPO / "requirements.in") | _names(REPO / "requirements-dev.in")
    missing = _imported_distributions(DEV_CODE) - declared
    assert not missing, f"imported by tests or benches but not declared: {sorted(missing)}"


def test_the_locks_pin_every_declared_package_and_agree():
    app, dev = _pins(REPO / "requirements.txt"), _pins(REPO / "requirements-dev.txt")
    assert _names(REPO / "requirements.in") <= set(app)
    assert _names(REPO / "requirements-dev.in") <= set(dev)
    assert {name: dev.get(name) for name in app} == app     # the app's versions, in dev too
    # nothing but exact pins in a lock: every line is a pin, a comment or blank
    for lock in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO / lock).read_text().splitlines():
            assert not line.strip() or line.lstrip().startswith("#") or "==" in line, line


def test_the_lock_is_what_is_installed():
    """The environment the tests run in was installed from the dev lock, as the README's test
    command does: a lock that no longer installs would fail here, not on a fresh machine."""
    dev = _pins(REPO / "requirements-dev.txt")
    wrong = {}
    for name, version in dev.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong}"
