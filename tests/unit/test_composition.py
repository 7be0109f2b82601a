"""Composition happens at the entry points only: no module under chalicelib/ imports the
container (or the removed service locator); handlers reach the wired use cases through
http/inject.py, and app.py builds the process's container exactly once."""
from __future__ import annotations

import ast
from pathlib import Path

from test_layers import ALLOWED, ROOT, imports_of, modules

ROOTS = {"chalicelib.container", "chalicelib.bootstrap"}


def _importers(target: str) -> set[str]:
    mods = modules()
    return {name for name, path in mods.items()
            if name != target and not name.startswith(target + ".") and any(t == target or t.startswith(target + ".")
                                      for t in imports_of(name, path, set(mods)))}


def test_no_module_under_chalicelib_imports_the_composition_root():
    for target in ROOTS:  # (the container package's own modules import each other)
        assert _importers(target) <= ROOTS - {target}, f"only entry points import {target}"


def test_no_layer_may_import_the_container():
    assert all("container" not in allowed for allowed in ALLOWED.values())


def test_the_service_locator_is_gone_from_handlers():
    """routes/, http/, ui/ and domain/ name neither bootstrap nor a module-level container."""
    for name, path in modules().items():
        if name.split(".")[1:2] in (["routes"], ["http"], ["ui"], ["domain"]):
            assert "bootstrap" not in path.read_text(encoding="utf-8"), name


def _calls(tree: ast.AST, attr: str) -> int:
    return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Call)
               and isinstance(n.func, ast.Attribute) and n.func.attr == attr)


def test_app_builds_and_installs_one_container():
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    assert _calls(tree, "build") == 1 and _calls(tree, "provide") == 1


def test_the_checker_sees_an_import_of_the_container(tmp_path: Path, monkeypatch):
    import test_layers

    monkeypatch.setattr(test_layers, "ROOT", tmp_path)
    for rel, text in {"chalicelib/__init__.py": "", "chalicelib/container.py": "",
                      "chalicelib/routes/__init__.py": "",
                      "chalicelib/routes/r.py": "def f():\n    from .. import container\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert _importers("chalicelib.container") == {"chalicelib.routes.r"}
