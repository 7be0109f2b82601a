"""The import contract of chalicelib/ (DESIGN.md, "Shape of the code"), checked with `ast`.

Arrows point down only: routes/ui -> http -> domain -> {manifests, storage ports} -> oci.
Each layer (a subpackage or top-level module of chalicelib) may import only the layers in
ALLOWED; `manifests/`, `domain/` (and `oci/`) import no AWS SDK, Chalice or pynamodb;
nothing under chalicelib/ imports the local server, client, tests, bench or infra; only
entry points (app.py, code outside chalicelib/) import the composition root, `container`. Every import counts,
including those inside functions (lazy imports for cold start are still dependencies).

Today's violations are listed below, module pair by module pair, as a shrinking allow-list
(issue 15): a NEW violation fails, and so does an entry that no longer happens (remove it).
No module may exceed MAX_LINES (no allow-list). To print the current lists after a refactor:

    .venv/bin/python tests/unit/test_layers.py
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "chalicelib"
MAX_LINES = 400

_ALL = frozenset({"oci", "manifests", "storage", "auth", "domain", "http", "routes", "ui", "config"})
# Which layers each layer may import (its own layer is always allowed). `oci` is the core
# every layer may use; it imports nothing of ours. Siblings not listed stay independent.
ALLOWED: Dict[str, FrozenSet[str]] = {
    "oci": frozenset(),
    "manifests": frozenset({"oci"}),
    "storage": frozenset({"oci"}),
    "auth": frozenset({"oci"}),
    "domain": frozenset({"oci", "manifests", "storage", "auth"}),
    "http": frozenset({"oci", "manifests", "auth", "domain", "config"}),
    "routes": frozenset({"oci", "manifests", "auth", "domain", "http", "config"}),
    "ui": frozenset({"oci", "manifests", "auth", "domain", "http", "config"}),
    "config": frozenset({"oci", "manifests"}),
    # The composition root wires everything; no layer imports it (only entry points do,
    # app.py and code outside chalicelib/): handlers get it through http/inject.py.
    "container": _ALL,
    "chalicelib": frozenset(),  # chalicelib/__init__.py
}
_AWS_AND_WEB = frozenset({"boto3", "botocore", "chalice", "pynamodb"})
# Third-party packages a layer must not import (top-level distribution names).
FORBIDDEN_EXTERNAL: Dict[str, FrozenSet[str]] = {
    "oci": _AWS_AND_WEB,
    "manifests": _AWS_AND_WEB,
    "domain": _AWS_AND_WEB,
    "auth": _AWS_AND_WEB,
    "storage": frozenset({"chalice"}),
    "http": frozenset({"boto3", "botocore", "pynamodb"}),
    "routes": frozenset({"boto3", "botocore", "pynamodb"}),
    "ui": frozenset({"boto3", "botocore", "pynamodb"}),
}
# Project code that is never deployed: nothing under chalicelib/ may import it.
OUTSIDE = frozenset({"app", "local", "client", "tests", "bench", "infra", "scripts", "support", "e2e"})

# Known violations (importer, imported), issue 15: remove an entry when its import goes.
KNOWN_VIOLATIONS: FrozenSet[Tuple[str, str]] = frozenset({
})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> Dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def imports_of(name: str, path: Path, known: Set[str]) -> Iterator[str]:
    """Every module `name` imports, resolved to a module of ours where one matches."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb level-1 packages from this one
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:  # `from pkg import module` names the module
                full = f"{base}.{alias.name}"
                yield full if full in known else base


def layer_of(module: str) -> str:
    """chalicelib.domain.registry -> domain; chalicelib.config -> config."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def check() -> Tuple[List[str], Set[Tuple[str, str]], Set[str]]:
    """Problems (not allow-listed), all layer violations seen, all oversize modules seen."""
    mods = modules()
    known = set(mods)
    problems: List[str] = []
    violations: Set[Tuple[str, str]] = set()
    for name, path in mods.items():
        src = layer_of(name)
        for target in sorted(set(imports_of(name, path, known))):
            top = target.split(".")[0]
            if top == PACKAGE:
                dst = layer_of(target)
                if dst == src:
                    continue
                if src not in ALLOWED:
                    problems.append(f"{name}: layer {src!r} has no rule in ALLOWED (add it)")
                    break
                if dst not in ALLOWED[src]:
                    violations.add((name, target))
            elif top in OUTSIDE:
                violations.add((name, target))
            elif top in FORBIDDEN_EXTERNAL.get(src, frozenset()):
                violations.add((name, top))
    oversize = {name for name, path in mods.items()
                if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES}
    return problems, violations, oversize


@pytest.fixture(scope="module")
def result() -> Tuple[List[str], Set[Tuple[str, str]], Set[str]]:
    return check()


def test_every_layer_has_a_rule(result) -> None:
    assert result[0] == []


def test_no_new_import_violations(result) -> None:
    new = sorted(result[1] - KNOWN_VIOLATIONS)
    assert new == [], ("imports against the layers of DESIGN.md (routes -> http -> domain -> "
                       f"{{manifests, storage}} -> oci; container only from entry points): {new}")


def test_no_stale_allowed_violations(result) -> None:
    stale = sorted(KNOWN_VIOLATIONS - result[1])
    assert stale == [], f"fixed, so remove from KNOWN_VIOLATIONS in {__file__}: {stale}"


def test_no_module_over_max_lines(result) -> None:
    # No allow-list: split a module along its seams before it grows past the limit.
    big = sorted(result[2])
    assert big == [], f"modules over {MAX_LINES} lines: split them along their seams: {big}"


# Directories of the repository that hold no code of ours (environments, tools, build output).
NOT_OURS = {".venv", ".tools", ".git", ".mypy_cache", "node_modules", "__pycache__", "out", ".local-data"}


def project_python_files(root: Path = ROOT) -> Iterator[Path]:
    """Every Python file of the project: app, chalicelib, local, client, bench, infra, tests, scripts."""
    for path in sorted(root.rglob("*.py")):
        if not NOT_OURS.intersection(path.relative_to(root).parts[:-1]):
            yield path


def test_no_python_file_of_the_project_over_max_lines() -> None:
    # The same limit outside chalicelib/: the local server, client, bench, infra and the tests
    # themselves (a test module grows a support module and splits by topic, as test_auth*.py did).
    files = list(project_python_files())
    assert any(p.parts[-2:] == ("unit", "test_layers.py") for p in files)  # the walk sees the tests
    assert any(p.parent.name == "local" for p in files)
    big = sorted(str(p.relative_to(ROOT)) for p in files
                 if len(p.read_text(encoding="utf-8").splitlines()) > MAX_LINES)
    assert big == [], f"files over {MAX_LINES} lines: split them along their seams: {big}"


# The checker itself, on tiny synthetic trees, so a broken walker cannot pass vacuously.

def _tree(tmp_path: Path, files: Dict[str, str]) -> Dict[str, Path]:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return {module_name(p): p for p in tmp_path.rglob("*.py")}


def test_walker_resolves_relative_lazy_and_from_imports(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    mods = _tree(tmp_path, {
        "chalicelib/__init__.py": "", "chalicelib/container.py": "",
        "chalicelib/domain/__init__.py": "", "chalicelib/domain/errors.py": "",
        "chalicelib/manifests/__init__.py": "",
        "chalicelib/manifests/base.py": (
            "from ..domain import errors\nfrom ..domain.errors import X\n"
            "def f():\n    from chalicelib import container\n    import boto3.session\n"),
    })
    got = set(imports_of("chalicelib.manifests.base", mods["chalicelib.manifests.base"], set(mods)))
    assert got == {"chalicelib.domain.errors", "chalicelib.container", "boto3.session"}


def test_check_reports_backward_and_external_imports(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    _tree(tmp_path, {
        "chalicelib/__init__.py": "", "chalicelib/container.py": "import chalicelib.domain.x\n",
        "chalicelib/domain/__init__.py": "", "chalicelib/domain/x.py": "import pynamodb\nfrom local import server\n",
        "chalicelib/manifests/__init__.py": "", "chalicelib/manifests/m.py": "from ..domain import x\n",
        "chalicelib/routes/__init__.py": "", "chalicelib/routes/r.py": "from .. import container\n",
        "chalicelib/storage/__init__.py": "", "chalicelib/storage/big.py": "x = 1\n" * (MAX_LINES + 1),
    })
    problems, violations, oversize = check()
    assert problems == []
    assert violations == {("chalicelib.domain.x", "pynamodb"), ("chalicelib.domain.x", "local"),
                          ("chalicelib.manifests.m", "chalicelib.domain.x"),
                          ("chalicelib.routes.r", "chalicelib.container")}
    assert oversize == {"chalicelib.storage.big"}


if __name__ == "__main__":  # print the current lists, to paste after a refactor
    _, found, big = check()
    for pair in sorted(found):
        print(f"    {pair!r},")
    print()
    for name in sorted(big):
        print(f"    {name!r},")
