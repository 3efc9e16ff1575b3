"""`python -m export`: blob, C header, ONNX, --verify, and bad input (status 2, one line, no file)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from export import data
from export.__main__ import main
from export.blob import read_blob
from export.checkpoint import save_checkpoint
from export.model import MetaBNN
from export.train import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, digits):
    model, settings, history = train(digits, [64, 48, 10], epochs=3, progress=False, log=lambda s: None)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, model, settings, history)
    return path, model


def test_export_blob_header_onnx_verify(tmp_path, ckpt, digits, capsys):
    path, model = ckpt
    out, header, onnx = tmp_path / "m.mbnn", tmp_path / "m.h", tmp_path / "m.onnx"
    rc = main([str(path), "-o", str(out), "--header", str(header), "--onnx", str(onnx), "--verify", "digits"])
    text = capsys.readouterr().out
    assert rc == 0, text
    spec = read_blob(out.read_bytes())
    assert [l.n_out for l in spec.layers] == [48, 10]
    assert "bits (flash)" in text and "hidden (RAM)" in text and "arena" in text
    assert "agreement 100.00%" in text and "ONNX agreement 100.00%" in text
    h = header.read_text()
    assert "static MBNN_BLOB_ALIGN const unsigned char m_mbnn[" in h and "m_mbnn_len" in h
    # ONNX predictions equal PyTorch's on the whole test split
    from export.onnx_export import run_onnx

    logits = run_onnx(onnx.read_bytes(), digits.x_test)
    assert np.array_equal(logits.argmax(1), model.predict(torch.from_numpy(digits.x_test)).numpy())


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_header_compiles_and_runtime_accepts_it(tmp_path, ckpt):
    path, _ = ckpt
    header = tmp_path / "model.h"
    assert main([str(path), "-o", str(tmp_path / "model.mbnn"), "--header", str(header)]) == 0
    src = tmp_path / "t.c"
    src.write_text(
        '#include "model.h"\n#include "mbnn.h"\n#include <stdint.h>\n'
        "int main(void) { size_t n = 0;\n"
        "  if (((uintptr_t)model_mbnn) % 4 != 0) return 10;\n"
        "  return (int)mbnn_arena_size(model_mbnn, model_mbnn_len, MBNN_MODE_LEARN, &n); }\n"
    )
    sources = sorted(str(p) for p in (ROOT / "runtime_c" / "src").glob("*.c"))
    exe = tmp_path / "t"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-pedantic", f"-I{ROOT / 'runtime_c' / 'include'}",
                    f"-I{tmp_path}", str(src), *sources, "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0


def test_learn_none_and_last(tmp_path, ckpt):
    path, _ = ckpt
    for mode, want in (("none", [False, False]), ("last", [False, True])):
        out = tmp_path / f"{mode}.mbnn"
        assert main([str(path), "-o", str(out), "--learn", mode]) == 0
        assert [l.learns for l in read_blob(out.read_bytes()).layers] == want


def _bad(args, capsys, tmp_path):
    before = set(os.listdir(tmp_path))
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert set(os.listdir(tmp_path)) == before  # no file written
    return err


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, ckpt, capsys):
    path, _ = ckpt
    out = str(tmp_path / "x.mbnn")
    assert "no such file" in _bad([str(tmp_path / "missing.pt"), "-o", out], capsys, tmp_path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    assert "not a metabnn checkpoint" in _bad([str(junk), "-o", out], capsys, tmp_path)
    deep = tmp_path / "deep.pt"
    save_checkpoint(deep, MetaBNN([4] * 10 + [2]).eval(), {"meta": 1.35})
    assert "1 to 8 layers" in _bad([str(deep), "-o", out], capsys, tmp_path)
    assert "does not exist" in _bad([str(path), "-o", str(tmp_path / "nodir" / "x.mbnn")], capsys, tmp_path)
    assert "directory" in _bad([str(path), "-o", str(tmp_path)], capsys, tmp_path)
    assert "does not exist" in _bad([str(path), "-o", out, "--header", str(tmp_path / "no" / "m.h")],
                                    capsys, tmp_path)
    assert "unknown dataset" in _bad([str(path), "-o", out, "--verify", "cifar"], capsys, tmp_path)
    (tmp_path / "afile").write_bytes(b"")
    assert "not a directory" in _bad([str(path), "-o", str(tmp_path / "afile" / "x.mbnn")], capsys, tmp_path)
    assert "invalid choice" in _bad([str(path), "-o", out, "--learn", "some"], capsys, tmp_path)
    assert "must differ" in _bad([str(path), "-o", out, "--header", out], capsys, tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory(tmp_path, ckpt, capsys):
    path, _ = ckpt
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert "permission denied" in _bad([str(path), "-o", str(locked / "x.mbnn")], capsys, locked)
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_write_failure_is_one_line(tmp_path, ckpt, capsys):
    path, _ = ckpt
    err = _bad([str(path), "-o", str(tmp_path / "ok.mbnn"), "--header", "/proc/x.h"], capsys, tmp_path)
    assert "cannot write header /proc/x.h" in err  # and the blob written before it is removed again


@pytest.mark.skipif(not data.FASHION_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_verify_dataset_of_other_width(tmp_path, ckpt, capsys):
    path, _ = ckpt
    assert "784 features" in _bad([str(path), "-o", str(tmp_path / "x.mbnn"), "--verify", "fashion"],
                                  capsys, tmp_path)


def test_module_entry_point(tmp_path, ckpt):
    path, _ = ckpt
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-m", "export", str(tmp_path / "none.pt"), "-o", str(tmp_path / "o.mbnn")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.strip().startswith("error:") and len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "o.mbnn").exists()
