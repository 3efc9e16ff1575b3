"""`python -m export --board`, the board fit table, and headers that compile into user code and firmware."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
from targets_util import need

from export import data
from export.__main__ import main
from export.blob import read_blob
from export.boards import BOARD_SPECS, board_spec, needs
from export.checkpoint import save_checkpoint
from export.train import train
from pyruntime import Model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A digits model too large to learn in all layers on a micro:bit (16 KiB of RAM)."""
    ds = data.load("digits")
    model, settings, history = train(ds, [64, 200, 200, 10], epochs=1, progress=False, log=lambda s: None)
    path = tmp_path_factory.mktemp("wide") / "wide.pt"
    save_checkpoint(path, model, settings, history)
    return path


def test_board_picks_the_learning_layers_that_fit(wide, tmp_path, capsys):
    out = tmp_path / "m.mbnn"
    assert main([str(wide), "-o", str(out), "--board", "microbit"]) == 0
    text = capsys.readouterr().out
    blob = out.read_bytes()
    assert [l.learns for l in read_blob(blob).layers] == [False, False, True]
    n = needs(blob)
    spec = board_spec("microbit")
    assert n.fits(spec, learn=True) and n.ram_learn == Model.load(blob).arena_size + len(Model.load(blob).state())
    assert "--board microbit: layers 2 learn" in text
    # the table names every board and says yes/no for inference and learning
    rows = {line.split()[0]: line.split()[5:7] for line in text.splitlines() if line.split()[:1] and line.split()[0] in BOARD_SPECS}
    assert set(rows) == set(BOARD_SPECS) and rows["microbit"] == ["yes", "yes"]
    # on a 256 KiB board every layer learns
    assert main([str(wide), "-o", str(out), "--board", "cortex-m4"]) == 0
    assert all(l.learns for l in read_blob(out.read_bytes()).layers)


def test_board_that_does_not_fit_fails_with_one_line(wide, tmp_path, capsys):
    out = tmp_path / "m.mbnn"
    assert main([str(wide), "-o", str(out), "--board", "microbit", "--learn", "all"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "microbit has 16,384 B" in err and "--learn last" in err
    assert not out.exists()
    assert main([str(wide), "-o", str(out), "--board", "no-such-board"]) == 2
    assert "known: microbit" in capsys.readouterr().err


def test_emulated_board_that_does_not_fit_fails_with_one_line(wide, tmp_path, capsys):
    """`python -m targets run` with a model too large for the board: one line, status 2, nothing built."""
    from targets.__main__ import main as targets_main

    model = tmp_path / "all.mbnn"
    assert main([str(wide), "-o", str(model)]) == 0
    np.savez(tmp_path / "s.npz", x=np.zeros((2, 64), np.int8), y=np.array([0, 1]))
    capsys.readouterr()
    assert targets_main(["run", "--board", "cortex-m0", "--model", str(model), "--stream", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not fit cortex-m0" in err and "--board" in err


def test_header_name_must_not_collide_with_the_runtime(wide, tmp_path, capsys):
    args = [str(wide), "-o", str(tmp_path / "m.mbnn"), "--header", str(tmp_path / "m.h"), "--name", "mbnn_model"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "collides" in err and not (tmp_path / "m.h").exists()


def test_header_macros_match_the_runtime_in_user_code(wide, tmp_path):
    """User code including mbnn.h and the header: the macros equal the runtime's own queries, and
    model_quantize gives the host's int8 codes."""
    need("gcc")
    blob_path, header = tmp_path / "model.mbnn", tmp_path / "model.h"
    assert main([str(wide), "-o", str(blob_path), "--header", str(header), "--board", "microbit"]) == 0
    feats = [0.0, 0.1, 0.49, 0.5, 0.93, 1.0, -0.2, 0.77]
    src = tmp_path / "user.c"
    src.write_text(
        '#include <stdio.h>\n#include "mbnn.h"\n#include "model.h"\n'
        "static unsigned char arena[MODEL_MBNN_ARENA_LEARN] __attribute__((aligned(4)));\n"
        "int main(void) {\n  mbnn_model m; size_t a = 0, i = 0, s = 0;\n"
        "  mbnn_arena_size(model_mbnn, MODEL_MBNN_LEN, MBNN_MODE_INFER, &i);\n"
        "  mbnn_arena_size(METABNN_MODEL, METABNN_MODEL_LEN, MBNN_MODE_LEARN, &a);\n"
        "  if (mbnn_model_init(&m, model_mbnn, model_mbnn_len, arena, sizeof arena) != MBNN_OK) return 3;\n"
        "  mbnn_state_size(&m, &s);\n"
        "  printf(\"%d %d %d %d\\n\", a == MODEL_MBNN_ARENA_LEARN, i == MODEL_MBNN_ARENA_INFER,\n"
        "         s == METABNN_STATE_BYTES, m.n_inputs == MODEL_MBNN_N_INPUTS && m.n_classes == METABNN_N_CLASSES);\n"
        f"  {{ const float f[] = {{{', '.join(f'{v}f' for v in feats)}}};\n"
        "    for (unsigned k = 0; k < sizeof f / sizeof f[0]; k++) printf(\"%d \", METABNN_QUANTIZE(f[k])); }\n"
        "  return 0; }\n")
    exe = tmp_path / "user"
    srcs = sorted(str(p) for p in (ROOT / "runtime_c" / "src").glob("*.c"))
    done = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(ROOT / "runtime_c/include"),
                           "-I", str(tmp_path), str(src), *srcs, "-o", str(exe)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "1 1 1 1"
    spec = read_blob(blob_path.read_bytes())
    from targets.stream import quantize

    assert [int(v) for v in lines[1].split()] == quantize(np.array(feats), spec.input_scale, spec.input_zero_point).tolist()
