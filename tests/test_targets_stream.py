"""`python -m targets stream`: a stream.npz from data sets (one, or a task sequence)."""

import numpy as np

from export import data
from targets.__main__ import main
from targets.stream import load


def test_stream_from_a_task_sequence(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["stream", "--dataset", "digits,pdigits:3", "-n", "50", "--unlabelled-every", "5",
                 "-o", str(out)]) == 0
    assert "100 samples of 64 int8 features (80 labelled)" in capsys.readouterr().out
    with np.load(out) as z:
        x, y, task = z["x"], z["y"], z["task"]
    assert x.dtype == np.int8 and x.shape == (100, 64) and task.tolist() == [0] * 50 + [1] * 50
    assert (y[4::5] == -1).all() and (y[y >= 0] < 10).all()
    # every sample is a training sample of its task, quantized as training quantizes it
    digits, perm = data.load("digits"), data.load("pdigits:3")
    train = {digits.quantize(digits.x_train)[i].tobytes() for i in range(len(digits.y_train))}
    assert all(row.tobytes() in train for row in x[:50])
    ptrain = {perm.quantize(perm.x_train)[i].tobytes() for i in range(len(perm.y_train))}
    assert all(row.tobytes() in ptrain for row in x[50:])
    assert load(out).x.shape == (100, 64)  # what run/parity/link read


def test_stream_bad_input_is_one_line(tmp_path, capsys):
    assert main(["stream", "--dataset", "digits", "-n", "5000", "-o", str(tmp_path / "s.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fewer than -n 5000" in err and not (tmp_path / "s.npz").exists()
    assert main(["stream", "--dataset", "nosuch", "-n", "5", "-o", str(tmp_path / "s.npz")]) == 1
    assert "unknown dataset" in capsys.readouterr().err
