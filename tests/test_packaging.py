"""Packaging: the wheel carries the runtime's C sources and the firmware sources,
console scripts point at real entry points, and (slow) `python -m targets run`
works from an installed wheel."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _tracked(folder: str) -> set[str]:
    done = subprocess.run(["git", "-C", str(ROOT), "ls-files", folder], capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout:
        pytest.skip("not a git checkout")
    return {p for p in done.stdout.split() if not p.endswith((".py", ".pyc"))}


@pytest.mark.parametrize("package", ["targets", "runtime_c"])
def test_package_data_covers_every_source(package):
    """Every tracked non-Python file of targets/ and runtime_c/ matches a package-data pattern."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"][package]
    covered = {str(p.relative_to(ROOT)) for pat in patterns for p in (ROOT / package).glob(pat) if p.is_file()}
    missing = _tracked(package) - covered
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_console_scripts_resolve():
    scripts = PYPROJECT["project"]["scripts"]
    assert {"metabnn-export", "metabnn-train", "metabnn-targets"} <= set(scripts)
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func))


@pytest.mark.slow
def test_targets_run_from_an_installed_wheel(tmp_path):
    """pip wheel, install into a folder, run the stream learner from there (nothing from the checkout)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path / "dist")], check=True)
    wheel = next((tmp_path / "dist").glob("*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "targets", *a], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=600)
    paths = run("paths")
    assert paths.returncode == 0 and str(site / "runtime_c" / "include") in paths.stdout
    assert run("demo").returncode == 0
    done = run("run", "--board", "cortex-m4", "--model", "model.mbnn", "--stream", "stream.npz")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("end steps 1000")
