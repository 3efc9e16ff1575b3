"""The exporter and the trainer refuse bad input before any work: exit status
2, one line on stderr naming the problem (never a temporary file), no file."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

import export.train as train_cli
from export.__main__ import main as export_main
from export.checkpoint import save_checkpoint
from export.model import MetaBNN


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert ".tmp" not in lines[0]
    return lines[0]


@pytest.fixture()
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to load data or train fails the test: refusals come first."""

    def fail(*_a, **_k):
        raise AssertionError("bad input reached the training")

    monkeypatch.setattr(train_cli, "train", fail)
    monkeypatch.setattr(train_cli.datasets, "load", fail)


@pytest.mark.parametrize("args, words", [
    (["--epochs", "0"], "--epochs must be 1 or more"),
    (["--epochs", "-1"], "--epochs must be 1 or more"),
    (["--batch", "-5"], "--batch must be 2 or more"),
    (["--batch", "0"], "--batch must be 2 or more"),
    (["--batch", "1"], "--batch must be 2 or more"),
    (["--lr", "nan"], "--lr must be a positive finite number"),
    (["--lr", "inf"], "--lr must be a positive finite number"),
    (["--lr", "0"], "--lr must be a positive finite number"),
    (["--lr", "-0.1"], "--lr must be a positive finite number"),
    (["--weight-decay", "nan"], "--weight-decay"),
    (["--meta", "nan"], "--meta"),
    (["--sizes", "64,9000,10"], "every width must be in 1..8192"),
    (["--sizes", "64"], "--sizes needs 2 to 9 widths"),
    (["--sizes", ",".join(["16"] * 10)], "--sizes needs 2 to 9 widths"),
    (["--int8-grid", "300"], "--int8-grid E must be in 0..255"),
    (["-o", "missing-dir/model.pt"], "directory missing-dir does not exist"),
])
def test_trainer_refuses_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], no_training: None,
                                         args: list[str], words: str) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["--dataset", "digits", "--sizes", "64,16,10"] + args
    if "-o" not in args:
        argv += ["-o", "model.pt"]
    assert train_cli.main(argv) == 2
    assert words in _one_line(capsys.readouterr().err)
    assert not any(tmp_path.rglob("*"))  # no checkpoint, no temporary file


def test_trainer_refuses_a_read_only_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               no_training: None) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert train_cli.main(["--dataset", "digits", "--sizes", "64,16,10", "-o", str(ro / "m.pt")]) == 2
        assert "permission denied" in _one_line(capsys.readouterr().err)
    finally:
        ro.chmod(0o700)


def _checkpoint(tmp_path: Path, edit) -> Path:
    model = MetaBNN([64, 16, 10])
    with torch.no_grad():
        edit(model)
    path = tmp_path / "bad.pt"
    save_checkpoint(path, model, {"epochs": 1}, [])
    return path


@pytest.mark.parametrize("edit, words", [
    (lambda m: m.bns[0].running_var.__setitem__(3, math.nan), "tensor bns.0.running_var (layer 0) holds NaN"),
    (lambda m: m.bns[1].weight.__setitem__(0, math.inf), "tensor bns.1.weight (layer 1) holds inf"),
    (lambda m: m.fcs[1].weight.__setitem__((0, 0), math.nan), "(layer 1) holds NaN"),
])
def test_exporter_refuses_non_finite_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 edit, words: str) -> None:
    path = _checkpoint(tmp_path, edit)
    out = tmp_path / "out.mbnn"
    assert export_main([str(path), "-o", str(out), "--header", str(tmp_path / "out.h")]) == 2
    assert words in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]


@pytest.mark.parametrize("args, words", [
    (["--device-lr", "inf"], "--device-lr must be a finite number"),
    (["--device-lr", "nan"], "--device-lr must be a finite number"),
    (["--seed", "-1"], "--seed must be in 0..4294967295"),
    (["--seed", str(1 << 32)], "--seed must be in 0..4294967295"),
])
def test_exporter_refuses_bad_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str], args, words) -> None:
    path = _checkpoint(tmp_path, lambda m: None)
    assert export_main([str(path), "-o", str(tmp_path / "out.mbnn")] + args) == 2
    assert words in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]
