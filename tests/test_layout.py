"""Imports point one way (DESIGN.md principle 7): `pyruntime` is the leaf,
`export` and `targets` use it, nothing in the product packages imports the
research harness `export.experiments`, and tests and benchmarks import
packages, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    """Every module name a Python file imports (absolute imports)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def offenders(folder: str, forbidden: tuple[str, ...], skip: str | None = None) -> list[str]:
    """Files under folder that import a module in (or under) one of `forbidden`."""
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if skip and rel.startswith(skip):
            continue
        bad = sorted(n for n in imported(path) if any(n == f or n.startswith(f + ".") for f in forbidden))
        if bad:
            out.append(f"{rel}: {', '.join(bad)}")
    return out


def test_pyruntime_is_the_leaf() -> None:
    assert offenders("pyruntime", ("export", "targets", "tests", "bench", "blobgen")) == []


def test_product_packages_do_not_import_the_research_harness() -> None:
    forbidden = ("export.experiments", "tests", "bench")
    assert offenders("export", forbidden, skip="export/experiments") + offenders("targets", forbidden) == []


def test_tests_and_benchmarks_import_packages_not_each_other() -> None:
    assert offenders("bench", ("tests", "blobgen", "conftest")) == []
    assert offenders("tests", ("bench", "footprint", "host_speed")) == []
    for folder, other in (("tests", "bench"), ("bench", "tests")):
        for path in (ROOT / folder).rglob("*.py"):
            lines = [ln for ln in path.read_text().splitlines()
                     if ("sys.path" in ln or "spec_from_file_location" in ln) and other in ln]
            assert not lines, f"{path.relative_to(ROOT)} puts {other}/ on sys.path"
