"""Host-versus-device parity on the emulated boards (targets/, docs/TARGETS.md).

The stream learner runs on every emulated board (Cortex-M0/M3/M4F/M7 under
qemu-system-arm, rv32imc under qemu-system-riscv32) for a model whose first
layer takes int8 features and one whose first layer takes bits, 1,000 learning
steps each (and a conv model, and one with a rehearsal set and memory slots);
its log must be byte-identical to the host's (pyruntime), and the state it
saved must load on the host into the very state the host learned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from targets_util import ARM, RISCV, need, need_board, optional

from export.blob import read_blob
from pyruntime import format as fmt
from targets import firmware
from targets.boards import BOARDS, board
from targets.hostlog import host_log
from targets.models import MEMORY, REHEARSAL, SHAPES, random_blob, random_stream
from targets.stream import Stream, load, quantize

KINDS = list(SHAPES)


def steps(kind: str) -> int:
    """Learning steps of the 1,000 labelled samples of a parity stream (two each with a rehearsal set)."""
    return 2000 if kind in REHEARSAL else 1000


@pytest.fixture(scope="module")
def cases():
    """blob, stream, host log and host state of each model kind."""
    out = {}
    for kind in KINDS:
        blob = random_blob(kind)
        spec = read_blob(blob)
        stream = random_stream(spec.n_inputs, spec.n_classes)
        log, state = host_log(blob, stream)
        out[kind] = (blob, stream, log, state)
    return out


@pytest.fixture(scope="module")
def board_runs(cases):
    """Every (board, kind) run, started together on all cores; futures by key."""
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    futures = {}
    for name in BOARDS:
        if not all(shutil.which(t) for t in (RISCV if name == "rv32imc" else ARM)):
            continue  # the tests of this board skip (or fail, see targets_util.need)
        for kind in KINDS:
            blob, stream, _, _ = cases[kind]
            futures[name, kind] = pool.submit(firmware.run_learner, name, blob, stream.to_bytes(), 300)
    yield futures
    pool.shutdown(wait=True)


def test_models_fit_the_smallest_board(cases):
    for kind, (blob, stream, log, state) in cases.items():
        assert firmware.arena_size(blob) + firmware.state_size(blob) < 9 * 1024, kind
        assert log.count(" y ") >= 1000, "at least 1,000 learning steps"
        assert " y " not in log.splitlines()[10 + 1], "some samples are predict-only"
        assert len(state) == firmware.state_size(blob)


@pytest.mark.parametrize("kind", KINDS)
def test_host_learns_something(cases, kind):
    """The stream changes many hidden weights and flips binary ones: parity covers learning."""
    from pyruntime import Model

    blob, _, log, state = cases[kind]
    before = np.frombuffer(Model.load(blob).state()[32:], dtype=np.int8)
    after = np.frombuffer(state[32:], dtype=np.int8)
    assert (before != after).sum() > 500
    assert ((before < 0) != (after < 0)).sum() > 50
    assert log.splitlines()[-1].startswith(f"end steps {steps(kind)} labelled 1000 ")


@pytest.mark.parametrize("kind", list(MEMORY))
def test_memory_fills_and_is_replaced(cases, kind):
    """The memory slots of the rehearsal model fill early in the stream and
    have rows replaced all through it: the state (version 2) holds labelled
    samples of the stream, most of them from after the first `slots`."""
    blob, stream, _, state = cases[kind]
    spec = read_blob(blob)
    memory = fmt.read_spec_state(state, spec, fmt.blob_crc(blob)).memory
    assert state[4] == 2 and memory is not None and memory.seen == 1000
    labelled = np.flatnonzero(stream.y >= 0)
    kept = []
    for row, label in zip(memory.x, memory.labels):
        at = next(i for i, j in enumerate(labelled) if np.array_equal(stream.x[j], row))
        assert stream.y[labelled[at]] == label
        kept.append(at)
    assert len(kept) == spec.memory and sum(at >= spec.memory for at in kept) > spec.memory // 2, kept


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(BOARDS))
def test_board_log_is_identical_to_host(board_runs, cases, name, kind):
    need_board(name)
    run = board_runs[name, kind].result()
    _, _, want, _ = cases[kind]
    assert run.returncode == 0, run.log[-500:] + run.stderr
    if run.log != want:  # name the first differing line, not a 100 kB diff
        got_lines, want_lines = run.log.splitlines(), want.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(got_lines, want_lines)) if a != b),
                     min(len(got_lines), len(want_lines)))
        pytest.fail(f"{name} {kind}: log differs from line {first}: board "
                    f"{got_lines[first:first + 1]} host {want_lines[first:first + 1]}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(BOARDS))
def test_board_state_loads_on_host(board_runs, cases, name, kind):
    from pyruntime import Model

    need_board(name)
    run = board_runs[name, kind].result()
    blob, _, log, want_state = cases[kind]
    assert run.state is not None, "the board saved no state.bin"
    m = Model.load(blob)
    m.load_state(run.state)
    assert m.step == steps(kind)
    assert m.state() == want_state
    assert f"state {zlib.crc32(run.state):08x}" in run.log


def test_board_rejects_a_stream_of_another_shape(cases):
    need_board("cortex-m3")
    blob, stream, _, _ = cases["int8"]
    other = Stream(np.zeros((3, stream.x.shape[1] + 1), np.int8), np.zeros(3))
    run = firmware.run_learner("cortex-m3", blob, other.to_bytes())
    assert run.returncode == 2
    assert run.log.strip().endswith(f"error stream: {stream.x.shape[1] + 1} features per sample, "
                                    f"the model takes {stream.x.shape[1]}")
    run = firmware.run_learner("cortex-m3", blob, b"NOPE" + bytes(12))
    assert run.returncode == 2 and "not a metabnn stream" in run.log


def test_board_reports_runtime_errors(cases):
    """A runtime status on the board reaches the log as one line, and the exit status says so."""
    need_board("cortex-m0")
    blob, stream, _, _ = cases["bits"]
    run = firmware.run_learner("cortex-m0", blob, stream.to_bytes(), arena_bytes=4)
    assert run.returncode == 1
    assert run.log.startswith("error model: arena") and run.log.count("\n") == 1, run.log
    corrupt = bytearray(blob)
    corrupt[200] ^= 0x10
    with pytest.raises(ValueError, match="CRC"):  # refused on the host before anything is built
        firmware.build_learner("cortex-m0", bytes(corrupt))


def test_board_lookup_and_aliases():
    assert board("microbit").name == "cortex-m0"
    assert board("M4F").name == "cortex-m4"
    assert board("esp32-c3").name == "rv32imc"
    with pytest.raises(ValueError, match="known: cortex-m0"):
        board("avr")


def test_stream_format_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    s = Stream(rng.integers(-128, 128, (7, 13)).astype(np.int8), [0, -1, 5, 65534, -1, 2, 1])
    data = s.to_bytes()
    assert data[:4] == b"MBSM" and len(data) == 16 + 7 * (2 + 13)
    assert data[16:18] == b"\x00\x00" and data[16 + 15:16 + 17] == b"\xff\xff"
    back = Stream.from_bytes(data)
    assert np.array_equal(back.x, s.x) and np.array_equal(back.y, s.y)
    np.savez(tmp_path / "s.npz", x=s.x, y=s.y)
    assert np.array_equal(load(tmp_path / "s.npz").y, s.y)
    (tmp_path / "s.bin").write_bytes(data)
    assert np.array_equal(load(tmp_path / "s.bin").x, s.x)
    with pytest.raises(ValueError, match="labels"):
        Stream(s.x, [70000] * 7)
    with pytest.raises(ValueError, match="not a metabnn stream"):
        Stream.from_bytes(b"XXXX" + bytes(20))


def test_float_npz_is_quantized_with_the_blob(tmp_path):
    blob = random_blob("int8")
    spec = read_blob(blob)
    f = np.random.default_rng(0).uniform(0, 1, (4, spec.n_inputs))
    np.savez(tmp_path / "f.npz", x=f)
    s = load(tmp_path / "f.npz", blob)
    assert np.array_equal(s.x, quantize(f, spec.input_scale, spec.input_zero_point))
    assert np.all(s.y == -1)
    with pytest.raises(ValueError, match="quantize"):
        load(tmp_path / "f.npz")


def test_cli_run_and_host_print_the_same_log(tmp_path):
    """`python -m targets run` and `python -m targets host`, as a user types them."""
    need_board("rv32imc")
    py = [sys.executable, "-m", "targets"]
    env = {**os.environ, "PYTHONPATH": str(firmware.ROOT)}
    model, stream = tmp_path / "model.mbnn", tmp_path / "stream.npz"
    subprocess.run([*py, "demo", "--kind", "bits", "--model", model, "--stream", stream, "--samples", "120"],
                   check=True, env=env, capture_output=True)
    dev = subprocess.run([*py, "run", "--board", "rv32imc", "--model", model, "--stream", stream,
                          "--state", tmp_path / "dev.state"], env=env, capture_output=True, text=True)
    host = subprocess.run([*py, "host", "--model", model, "--stream", stream,
                           "--state", tmp_path / "host.state"], env=env, capture_output=True, text=True)
    assert dev.returncode == 0 and host.returncode == 0, dev.stderr + host.stderr
    assert dev.stdout == host.stdout and dev.stdout.count("\n") == 122
    assert (tmp_path / "dev.state").read_bytes() == (tmp_path / "host.state").read_bytes()
    bad = subprocess.run([*py, "run", "--board", "z80", "--model", model, "--stream", stream],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "unknown board" in bad.stderr


@pytest.mark.parametrize("name", list(BOARDS))
def test_hello_runs_on_every_board(name):
    """Start-up code, linker script and semihosting of each board, without the runtime."""
    need_board(name)
    build = firmware.make(name, "hello", firmware.BUILD / name / "hello")
    proc, work = firmware.run_elf(name, build / "hello.elf", timeout=30)
    shutil.rmtree(work)
    assert proc.returncode == 0 and proc.stdout == b"hello from the board\n"


def test_exit_status_reaches_the_host_on_riscv(cases):
    need_board("rv32imc")
    run = firmware.run_learner("rv32imc", cases["int8"][0], b"NOPE" + bytes(12))
    assert run.returncode == 2 and run.log.startswith("error stream: not a metabnn stream")


@pytest.mark.parametrize("name", ["cortex-m0", "rv32imc", "lx106"])
def test_runtime_builds_without_warnings_or_globals(name, tmp_path):
    """The runtime and the stream learner compile with -Werror for the board
    (lx106: the ESP8266's Xtensa core, compile only: no emulator exists) and
    the runtime's objects hold no .data or .bss (the runtime owns no memory)."""
    cross = {"cortex-m0": "arm-none-eabi-", "rv32imc": "riscv64-unknown-elf-", "lx106": "xtensa-lx106-elf-"}[name]
    if name == "lx106":  # gcc-xtensa-lx106 picolibc-xtensa-lx106-elf, optional
        optional(f"{cross}gcc")
    need(f"{cross}gcc", "make")
    build = firmware.make(name, "lib", tmp_path, "EXTRA_CFLAGS=-Werror")
    sizes = subprocess.run([f"{cross}size", *sorted((build / "rt").glob("*.o"))], capture_output=True,
                           text=True, check=True).stdout.splitlines()[1:]
    assert len(sizes) >= 5
    for line in sizes:
        text, data, bss = map(int, line.split()[:3])
        assert text > 0 and data == 0 and bss == 0, line
