"""The device link (docs/LINK.md) against the link firmware on emulated boards.

QEMU connects the board's UART to a TCP socket (`-serial tcp:...`); the host
talks to it through pyruntime.link.Device (pyserial's socket:// URL): the same
frames as over a board's USB serial port. What the board answers must equal
what pyruntime computes on the host, bit for bit, and a bad frame must get an
error frame and change nothing.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from targets_util import need, need_board

pytest.importorskip("serial")

from export.blob import read_blob
from pyruntime import Model
from pyruntime import link
from pyruntime.link import Device, LinkError
from targets import firmware
from targets.models import random_blob, random_stream


@pytest.fixture(scope="module", params=["cortex-m4", "rv32imc"])
def board(request):
    """(board name, blob, pyserial URL) of the link firmware running under QEMU."""
    need_board(request.param)
    blob = random_blob("int8", seed=3)
    spec = read_blob(blob)
    proc, url = firmware.start_link(request.param, blob, model_bytes=8192)
    yield request.param, blob, spec, url
    proc.terminate()
    proc.wait(10)


def test_learning_over_the_link_equals_the_host(board):
    name, blob, spec, url = board
    stream = random_stream(spec.n_inputs, spec.n_classes, n=120, seed=4)
    host = Model.load(blob)
    with Device(url) as dev:
        dev.reset()
        info = dev.info()
        assert (info.n_inputs, info.n_classes, info.model_crc, info.step) == (
            spec.n_inputs, spec.n_classes, int.from_bytes(blob[12:16], "little"), 0)
        correct = labelled = 0
        for x, y in zip(stream.x, stream.y):
            if y < 0:
                assert dev.sample(x) == int(host.predict(x[None])[0])
                continue
            want_pred, want_loss = host.learn(x[None], np.array([y]), return_loss=True)
            pred, loss, step = dev.learn(x, int(y))
            assert (pred, loss, step) == (int(want_pred[0]), int(want_loss[0]), host.step)
            labelled += 1
            correct += pred == y
        cls, logits = dev.predict(stream.x[0])
        assert np.array_equal(logits, host.infer(stream.x[:1])[0]) and cls == int(np.argmax(logits))
        s = dev.stats()
        assert (s.samples, s.labelled, s.correct, s.step) == (len(stream.y), labelled, correct, host.step)
        assert 0.0 <= s.running_accuracy <= 1.0 and 0.0 < s.running_loss < 1.0
        state = dev.pull_state()
        assert state == host.state()
        assert len(state) == info.state_bytes


def test_bad_frames_get_an_error_frame_and_change_nothing(board):
    name, blob, spec, url = board
    x = np.zeros(spec.n_inputs, dtype=np.int8)
    with Device(url) as dev:
        before = dev.pull_state()
        step = dev.info().step
        # a labelled sample whose CRC is wrong: not learned
        frame = bytearray(link.encode(link.LABELLED, 7, struct.pack("<H", 1) + x.tobytes()))
        frame[-1] ^= 0xFF
        dev.send_raw(bytes(frame))
        kind, seq, payload = dev.read_frame()
        assert (kind, seq, payload[0]) == (link.ERROR, 7, 1)
        # noise between frames is skipped; an unknown type and a too-long frame are refused
        dev.send_raw(b"\x00\x13\xa5")
        with pytest.raises(LinkError) as err:
            dev.request(0x42)
        assert err.value.code == 3
        dev.send_raw(link.SYNC + struct.pack("<BBH", link.SAMPLE, 9, 4000))
        assert dev.read_frame()[0] == link.ERROR
        # a label out of range: the runtime's status, nothing learned
        with pytest.raises(LinkError) as err:
            dev.learn(x, spec.n_classes)
        assert err.value.code == 5 and err.value.status == 13  # MBNN_ERR_BAD_LABEL
        with pytest.raises(LinkError) as err:
            dev.request(link.SAMPLE, b"\x01\x02")  # wrong size
        assert err.value.code == 4
        # a corrupt state is refused, the learned state stays
        bad = bytearray(before)
        bad[-1] ^= 1
        with pytest.raises(LinkError) as err:
            dev.push_state(bytes(bad))
        assert err.value.code == 5
        assert dev.pull_state() == before and dev.info().step == step


def test_push_state_and_model(board):
    name, blob, spec, url = board
    stream = random_stream(spec.n_inputs, spec.n_classes, n=60, seed=8)
    host = Model.load(blob)
    host.learn(stream.x, np.where(stream.y < 0, 0, stream.y))
    with Device(url) as dev:
        dev.push_state(host.state())
        assert dev.pull_state() == host.state() and dev.info().step == host.step
        other = random_blob("bits", seed=2)
        dev.push_model(other)
        info = dev.info()
        assert info.model_crc == int.from_bytes(other[12:16], "little") and info.step == 0
        with pytest.raises(LinkError):  # a corrupt blob is refused: the compiled-in model comes back
            dev.push_model(other[:-1] + bytes([other[-1] ^ 1]))
        assert dev.info().model_crc == int.from_bytes(blob[12:16], "little")


def test_cli_monitor_pull_push(board, tmp_path):
    name, blob, spec, url = board
    if name != "cortex-m4":
        pytest.skip("the CLI once is enough")
    from targets.stream import save_npz

    stream = random_stream(spec.n_inputs, spec.n_classes, n=120, seed=5)
    save_npz(tmp_path / "s.npz", stream)
    with Device(url) as dev:
        dev.reset()
    py = [sys.executable, "-m", "targets", "link"]
    out = subprocess.run([*py, "monitor", url, "--stream", str(tmp_path / "s.npz"), "--every", "40",
                          "--plot", str(tmp_path / "run.png")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "110 labelled" in out.stdout and (tmp_path / "run.png").stat().st_size > 1000
    done = subprocess.run([*py, "pull", url, "-o", str(tmp_path / "state.bin")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    host = Model.load(blob)
    host.learn(stream.x[stream.y >= 0], stream.y[stream.y >= 0])
    assert (tmp_path / "state.bin").read_bytes() == host.state()
    with Device(url) as dev:
        dev.reset()
    done = subprocess.run([*py, "push", url, "--state", str(tmp_path / "state.bin")], capture_output=True, text=True)
    assert done.returncode == 0 and f"step {host.step}" in done.stdout
    done = subprocess.run([*py, "pull", "socket://127.0.0.1:1", "--wait", "0", "-o", str(tmp_path / "x.bin")],
                          capture_output=True, text=True)
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.bin").exists()


def test_arduino_link_sketch_on_the_host(tmp_path):
    """targets/esp32/src/main_link_arduino.cpp, its Serial on stdin/stdout (a host stand-in of the
    Arduino core): the frames it answers equal what pyruntime computes, and a corrupt frame gets
    an error frame."""
    need("gcc", "g++")
    import io

    from export.header import make_header

    esp32 = firmware.ROOT / "targets" / "esp32"
    blob = random_blob("int8", seed=6)
    spec = read_blob(blob)
    (tmp_path / "model.h").write_text(make_header(blob, "model_mbnn"))
    (tmp_path / "learner_config.h").write_text((esp32 / "include" / "learner_config.h").read_text())
    inc = ["-I", str(tmp_path), "-I", str(firmware.ROOT / "runtime_c/include"), "-I", str(firmware.ROOT / "targets/common"),
           "-I", str(esp32 / "stubs")]
    stream = random_stream(spec.n_inputs, spec.n_classes, n=30, seed=7)
    frames = [link.encode(link.INFO, 1)]
    frames += [link.encode(link.LABELLED, 2 + i, struct.pack("<H", int(max(y, 0))) + x.tobytes())
               for i, (x, y) in enumerate(zip(stream.x, stream.y))]
    bad = bytearray(link.encode(link.STATS, 99))
    bad[-2] ^= 0x10
    frames += [bytes(bad), link.encode(link.PULL_STATE, 100, struct.pack("<IH", 0, 2040))]
    (tmp_path / "main.cpp").write_text(
        f"void setup();\nvoid loop();\nint main() {{ setup(); for (int i = 0; i < {len(frames)}; i++) loop(); }}\n")
    objs = []
    for src in [firmware.ROOT / "targets/common/link.c", *sorted((firmware.ROOT / "runtime_c/src").glob("*.c"))]:
        objs.append(str(tmp_path / (src.stem + ".o")))
        subprocess.run(["gcc", "-std=c99", "-O1", *inc, "-c", str(src), "-o", objs[-1]], check=True)
    exe = tmp_path / "sketch"
    done = subprocess.run(["g++", "-O1", "-Wall", "-Wextra", "-Werror", *inc, str(esp32 / "src/main_link_arduino.cpp"),
                           str(tmp_path / "main.cpp"), *objs, "-o", str(exe)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = subprocess.run([str(exe)], input=b"".join(frames), capture_output=True, timeout=60).stdout

    class Pipe:  # read_frame over the sketch's output
        def __init__(self, data):
            self.f = io.BytesIO(data)

        def read(self, n):
            return self.f.read(n)

    dev = Device.__new__(Device)
    dev.port, dev._ser = "sketch", Pipe(out)
    kind, _, payload = dev.read_frame()
    assert kind == link.INFO | link.RESPONSE and struct.unpack("<HH", payload[2:6]) == (spec.n_inputs, spec.n_classes)
    host = Model.load(blob)
    for x, y in zip(stream.x, stream.y):
        want_pred, want_loss = host.learn(x[None], np.array([max(int(y), 0)]), return_loss=True)
        kind, _, payload = dev.read_frame()
        assert struct.unpack("<HII", payload) == (int(want_pred[0]), int(want_loss[0]), host.step)
    kind, seq, payload = dev.read_frame()
    assert (kind, seq, payload[0]) == (link.ERROR, 99, 1)
    kind, _, payload = dev.read_frame()
    total, offset = struct.unpack("<II", payload[:8])
    assert (total, offset) == (len(host.state()), 0) and payload[8:] == host.state()[:len(payload) - 8]
