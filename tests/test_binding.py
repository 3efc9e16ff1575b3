"""pyruntime.Model, the C runtime through cffi: loading, shapes and dtypes, errors
that say what is wrong and change nothing, learned state, independence of models.

Bit-exactness against the reference is tests/test_bitexact.py; here the binding
itself is under test."""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyruntime
from pyruntime import MbnnError, Model
from pyruntime.errors import STATUS_NAMES, STRERROR
from pyruntime.format import BLOB_HEADER, KIND_BITS, KIND_INT8, quantize, write_blob
from pyruntime.testing import random_spec, random_stream

try:
    from pyruntime._mbnn import ffi, lib
except ImportError:  # pragma: no cover
    pytest.fail("pyruntime._mbnn is not built: run `bash scripts/setup.sh`", pytrace=False)


def stream(model: Model, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n int8 samples with learnable labels for this model."""
    return random_stream(np.random.default_rng(seed), n, model.n_inputs, model.n_classes)


def fix_crc(blob: bytes | bytearray) -> bytes:
    """The blob with its header CRC recomputed over [16, total_size)."""
    blob = bytearray(blob)
    total = BLOB_HEADER["total_size"].read(blob)
    BLOB_HEADER["crc32"].write(blob, 0, zlib.crc32(bytes(blob[16:total])))
    return bytes(blob)


@pytest.fixture()
def model(golden_blob: bytes) -> Model:
    return Model.load(golden_blob)


# ----------------------------------------------------------------- loading


def test_load_from_path_bytes_and_buffers(golden_path: Path, golden_blob: bytes) -> None:
    """A path (str or Path), bytes, bytearray, memoryview and a numpy array give the same model."""
    x, _ = random_stream(np.random.default_rng(1), 16, 20, 5)
    sources = [golden_path, str(golden_path), golden_blob, bytearray(golden_blob),
               memoryview(golden_blob), np.frombuffer(golden_blob, dtype=np.uint8)]
    logits = [Model.load(src).infer(x) for src in sources]
    for other in logits[1:]:
        np.testing.assert_array_equal(logits[0], other)
    m = Model.load(golden_path)
    assert (m.n_inputs, m.n_classes, m.step) == (20, 5, 0)
    assert m.can_learn and m.blob == golden_blob
    assert isinstance(pyruntime.Model(golden_blob), Model)


def test_load_keeps_a_private_copy(golden_blob: bytes) -> None:
    """Changing the caller's buffer after loading changes nothing in the model."""
    buf = bytearray(golden_blob)
    m = Model.load(buf)
    x, _ = stream(m, 8)
    before = m.infer(x)
    buf[40:] = bytes(len(buf) - 40)
    np.testing.assert_array_equal(m.infer(x), before)


def test_unaligned_source_buffer(golden_blob: bytes) -> None:
    """A blob that starts at an odd address in the caller's memory still loads (it is copied)."""
    backing = bytearray(len(golden_blob) + 1)
    backing[1:] = golden_blob
    m = Model.load(memoryview(backing)[1:])
    assert m.n_inputs == 20


def test_missing_file_and_wrong_type() -> None:
    with pytest.raises(FileNotFoundError):
        Model.load("/nonexistent/model.mbnn")
    with pytest.raises(TypeError, match="path"):
        Model.load(12345)


def test_golden_outputs(golden_blob: bytes) -> None:
    """The checked-in expected outputs of the golden blob, through the binding."""
    import json

    io = json.loads((Path(__file__).parent / "data" / "golden_io.json").read_text())
    m = Model.load(golden_blob)
    x = np.array(io["infer_inputs"], dtype=np.int8)
    np.testing.assert_array_equal(m.infer(x), io["infer_logits"])
    np.testing.assert_array_equal(m.predict(x), io["infer_predictions"])
    pred, loss = m.learn(np.array(io["learn_inputs"], dtype=np.int8), io["learn_labels"], return_loss=True)
    np.testing.assert_array_equal(pred, io["learn_predictions"])
    np.testing.assert_array_equal(loss, io["learn_losses"])
    assert m.step == io["step_after_learning"]
    assert zlib.crc32(m.state()) == io["state_crc_after_learning"]


# ------------------------------------------------------- shapes and dtypes


def test_shapes_and_dtypes(model: Model) -> None:
    x, y = stream(model, 12)
    logits = model.infer(x)
    assert logits.dtype == np.int32 and logits.shape == (12, 5)
    pred = model.predict(x)
    assert pred.shape == (12,) and np.issubdtype(pred.dtype, np.integer)
    np.testing.assert_array_equal(pred, np.argmax(logits, axis=1))
    learned = model.learn(x, y)
    assert learned.shape == (12,) and np.issubdtype(learned.dtype, np.integer)
    np.testing.assert_array_equal(learned, pred)  # predictions made before each update
    assert model.step == 12
    assert model.last_losses.shape == (12,)
    assert np.all((model.last_losses >= 0) & (model.last_losses <= 32768))
    pred2, loss2 = model.learn(x, y, return_loss=True)
    np.testing.assert_array_equal(loss2, model.last_losses)
    assert pred2.shape == loss2.shape == (12,)


def test_empty_batch(model: Model) -> None:
    x = np.zeros((0, 20), dtype=np.int8)
    assert model.infer(x).shape == (0, 5)
    assert model.predict(x).shape == (0,)
    assert model.learn(x, np.zeros(0, dtype=np.int64)).shape == (0,)
    assert model.step == 0


def test_non_contiguous_input(model: Model) -> None:
    """Slices and Fortran-ordered arrays give the same results as contiguous copies."""
    x, _ = stream(model, 10)
    wide = np.zeros((20, 40), dtype=np.int8)
    wide[::2, ::2] = x
    view = wide[::2, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(model.infer(view), model.infer(x))
    np.testing.assert_array_equal(model.infer(np.asfortranarray(x)), model.infer(x))


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((3, 20), dtype=np.float32), r"X must be int8 of shape \(N, 20\).*float32.*quantize"),
        (np.zeros((3, 20), dtype=np.uint8), r"X must be int8.*uint8"),
        (np.zeros((3, 20), dtype=np.int64), r"X must be int8.*int64"),
        (np.zeros((3, 21), dtype=np.int8), r"X must be int8 of shape \(N, 20\), got shape \(3, 21\)"),
        (np.zeros(20, dtype=np.int8), r"for one sample pass X\[None, :\]"),
        (np.zeros((2, 3, 20), dtype=np.int8), r"got shape \(2, 3, 20\)"),
    ],
)
def test_bad_x_is_refused(model: Model, x: np.ndarray, match: str) -> None:
    for call in (model.infer, model.predict, lambda a: model.learn(a, np.zeros(len(a), dtype=np.int64))):
        with pytest.raises(ValueError, match=match):
            call(x)
    assert model.step == 0


def test_x_must_be_an_array(model: Model) -> None:
    with pytest.raises(TypeError, match="X must be int8"):
        model.infer([[0] * 20])


def test_quantize(model: Model) -> None:
    """quantize applies the blob's input scale and zero point, with saturation."""
    f = np.array([[0.0, model.input_scale * 10, 1e9, -1e9] + [0.0] * 16])
    q = model.quantize(f)
    assert q.dtype == np.int8
    zp = model.input_zero_point
    assert q[0, 0] == zp and q[0, 1] == np.clip(zp + 10, -128, 127)
    assert q[0, 2] == 127 and q[0, 3] == -128
    model.infer(q)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_in_c_matches_numpy(model: Model, dtype: type) -> None:
    """Model.quantize (one pass of C) gives format.quantize's int8 for every
    float: ties to even, saturation, infinities, non-contiguous arrays; a NaN
    anywhere leaves the whole array to numpy, as before."""
    rng = np.random.default_rng(7)
    s, zp = model.input_scale, model.input_zero_point
    ties = (np.arange(-300, 300) + 0.5) * s
    f = np.concatenate([rng.normal(0, 200 * s, 4000), ties, [np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30]])
    f = f.astype(dtype)
    np.testing.assert_array_equal(model.quantize(f), quantize(f, s, zp))
    grid = f[: 20 * 40].reshape(40, 20)[::2, ::-1]
    np.testing.assert_array_equal(model.quantize(grid), quantize(grid, s, zp))
    with_nan = f.copy()
    with_nan[3] = np.nan
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(model.quantize(with_nan), quantize(with_nan, s, zp))


# ------------------------------------------------------------- bad blobs


def expect(status: str, blob: bytes, **kw) -> MbnnError:
    with pytest.raises(MbnnError) as info:
        Model.load(blob, **kw)
    err = info.value
    assert err.name == status, str(err)
    assert err.status == STATUS_NAMES.index(status) == getattr(lib, status)
    text = ffi.string(lib.mbnn_strerror(err.status)).decode()
    assert str(err).startswith(text)
    assert isinstance(err, ValueError)
    return err


def test_corrupt_blob_crc(golden_blob: bytes) -> None:
    blob = bytearray(golden_blob)
    blob[len(blob) // 2] ^= 0x10
    err = expect("MBNN_ERR_CRC", bytes(blob))
    assert str(err).startswith("blob CRC mismatch")
    assert "export" in str(err)  # says what to do


def test_truncated_blob(golden_blob: bytes) -> None:
    expect("MBNN_ERR_TRUNCATED", golden_blob[:-1])
    expect("MBNN_ERR_TRUNCATED", golden_blob[:100])
    expect("MBNN_ERR_TRUNCATED", golden_blob[:15])
    expect("MBNN_ERR_TRUNCATED", b"")


def test_longer_buffer_is_fine(golden_blob: bytes) -> None:
    """The buffer may be longer than total_size (e.g. a flash page)."""
    m = Model.load(golden_blob + b"\xff" * 13)
    x, _ = stream(m, 4)
    np.testing.assert_array_equal(m.infer(x), Model.load(golden_blob).infer(x))


def test_bad_magic_and_newer_version(golden_blob: bytes) -> None:
    expect("MBNN_ERR_BAD_MAGIC", b"GIF8" + golden_blob[4:])
    newer = bytearray(golden_blob)
    struct.pack_into("<I", newer, 4, 4)
    err = expect("MBNN_ERR_VERSION", bytes(newer))
    assert "newer" in str(err)


def test_every_flipped_byte_is_caught(golden_blob: bytes) -> None:
    """One flipped byte anywhere: an MbnnError, never garbage or a crash."""
    for pos in range(len(golden_blob)):
        blob = bytearray(golden_blob)
        blob[pos] ^= 0xA5
        with pytest.raises(MbnnError):
            Model.load(bytes(blob))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_blob_with_valid_crc_never_crashes(golden_blob: bytes, data: st.DataObject) -> None:
    """Bytes of the header and layer table changed and the CRC fixed up, so that the
    validation after the CRC is exercised: the blob loads and works, or MbnnError."""
    blob = bytearray(golden_blob)
    end = 32 + 32 * 3
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(16, end - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    try:
        m = Model.load(fix_crc(blob))
    except MbnnError as err:
        assert err.name.startswith("MBNN_ERR_")
        return
    x = np.random.default_rng(0).integers(-128, 128, (4, m.n_inputs)).astype(np.int8)
    assert m.infer(x).shape == (4, m.n_classes)
    if m.can_learn:
        m.learn(x, np.arange(4) % m.n_classes)


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        Model.load(data)
    except MbnnError:
        pass


# ------------------------------------------------ errors that change nothing


@pytest.mark.parametrize("bad", [5, -1, 70000])
def test_label_out_of_range_changes_nothing(model: Model, bad: int) -> None:
    x, y = stream(model, 8)
    model.learn(x[:2], y[:2])
    state, step = model.state(), model.step
    y = y.copy()
    y[5] = bad
    with pytest.raises(MbnnError) as info:
        model.learn(x, y)
    err = info.value
    assert err.name == "MBNN_ERR_BAD_LABEL" and err.sample == 5
    assert str(err).startswith("label out of range")
    assert "0..4" in str(err)
    assert model.state() == state and model.step == step


def test_label_batch_check_in_c(model: Model) -> None:
    """The C batch loop itself checks every label before the first update."""
    x, y = stream(model, 6)
    labels = y.astype(np.uint16)
    labels[4] = 9
    state = model.state()
    pred = np.zeros(6, dtype=np.uint16)
    loss = np.zeros(6, dtype=np.uint32)
    failed = ffi.new("size_t *")
    status = lib.mbnnpy_learn_batch(model._m, ffi.from_buffer("int8_t[]", x), ffi.from_buffer("uint16_t[]", labels),
                                    6, ffi.from_buffer("uint16_t[]", pred), ffi.from_buffer("uint32_t[]", loss), failed)
    assert status == lib.MBNN_ERR_BAD_LABEL and failed[0] == 4
    assert model.state() == state


def test_bad_labels_shape_and_dtype(model: Model) -> None:
    x, y = stream(model, 4)
    with pytest.raises(ValueError, match=r"one label per row of X: shape \(4,\)"):
        model.learn(x, y[:3])
    with pytest.raises(ValueError, match="integer class labels"):
        model.learn(x, y.astype(np.float64))
    assert model.step == 0


def test_inference_only(golden_blob: bytes) -> None:
    """learn=False sizes the arena for inference: smaller, and learn is refused."""
    infer_only = Model.load(golden_blob, learn=False)
    learner = Model.load(golden_blob)
    assert not infer_only.can_learn and infer_only.arena_size < learner.arena_size
    x, y = stream(infer_only, 8)
    np.testing.assert_array_equal(infer_only.infer(x), learner.infer(x))
    with pytest.raises(MbnnError) as info:
        infer_only.learn(x, y)
    assert info.value.name == "MBNN_ERR_NO_LEARN"
    assert "learn=True" in str(info.value)
    assert infer_only.step == 0


def test_blob_where_nothing_learns() -> None:
    spec = random_spec(np.random.default_rng(3), [10, 16, 4], KIND_BITS, learns=[False, False])
    m = Model.load(write_blob(spec))
    assert not m.can_learn
    x, y = stream(m, 3)
    assert m.predict(x).shape == (3,)
    with pytest.raises(MbnnError, match="cannot learn"):
        m.learn(x, y)


# ------------------------------------------------------------ learned state


def test_state_round_trip(golden_blob: bytes) -> None:
    a = Model.load(golden_blob)
    x, y = stream(a, 40)
    a.learn(x[:30], y[:30])
    saved = a.state()
    assert saved[:4] == b"MBST"
    b = Model.load(golden_blob)
    b.load_state(saved)
    assert b.step == a.step == 30 and b.state() == saved
    np.testing.assert_array_equal(b.infer(x), a.infer(x))
    # Both go on identically (the random generator's state is the step).
    np.testing.assert_array_equal(a.learn(x[30:], y[30:]), b.learn(x[30:], y[30:]))
    assert a.state() == b.state()
    b.load_state(bytearray(saved))
    assert b.state() == saved


def test_bad_state_is_refused_and_changes_nothing(golden_blob: bytes) -> None:
    m = Model.load(golden_blob)
    x, y = stream(m, 20)
    m.learn(x[:10], y[:10])
    good = m.state()
    m.learn(x[10:], y[10:])
    current, logits = m.state(), m.infer(x)

    def refused(data: bytes, status: str) -> None:
        with pytest.raises(MbnnError) as info:
            m.load_state(data)
        assert info.value.name == status, str(info.value)
        assert "keeps its state" in str(info.value)
        assert m.state() == current and m.step == 20
        np.testing.assert_array_equal(m.infer(x), logits)

    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 1
    refused(bytes(flipped), "MBNN_ERR_STATE_CORRUPT")
    refused(good[:-4], "MBNN_ERR_STATE_CORRUPT")
    refused(good[:10], "MBNN_ERR_STATE_CORRUPT")
    refused(b"", "MBNN_ERR_STATE_CORRUPT")
    refused(b"MBNN" + good[4:], "MBNN_ERR_STATE_CORRUPT")
    other = Model.load(write_blob(random_spec(np.random.default_rng(9), [20, 37, 33, 5], KIND_INT8,
                                              learns=[True, False, True])))
    refused(other.state(), "MBNN_ERR_STATE_MODEL")
    with pytest.raises(TypeError, match="state"):
        m.load_state("not bytes")  # type: ignore[arg-type]
    m.load_state(good)
    assert m.step == 10


def test_copy_and_pickle(golden_blob: bytes) -> None:
    """copy.deepcopy and pickle carry the blob, the mode, the learned state and the kernel cap."""
    import copy

    m = Model.load(golden_blob)
    x, y = stream(m, 20)
    m.learn(x[:10], y[:10])
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert twin.state() == m.state() and twin.step == 10
        np.testing.assert_array_equal(twin.learn(x[10:], y[10:]), copy.deepcopy(m).learn(x[10:], y[10:]))
    assert m.step == 10  # the copies learned, not m
    frozen = pickle.loads(pickle.dumps(Model.load(golden_blob, learn=False)))
    assert not frozen.can_learn
    m.set_kernels("plain")  # the kernel cap travels too (each level gives the same numbers)
    assert pickle.loads(pickle.dumps(m)).kernels == copy.deepcopy(m).kernels == "plain"


# ------------------------------------------------------------ independence


def test_models_side_by_side_are_independent(golden_blob: bytes) -> None:
    """Interleaved use of two models gives what each gives alone."""
    x, y = random_stream(np.random.default_rng(4), 30, 20, 5)
    alone = Model.load(golden_blob)
    alone_pred = alone.learn(x, y)
    a, b = Model.load(golden_blob), Model.load(golden_blob)
    idle = b.state()
    pred = np.concatenate([a.learn(x[i : i + 5], y[i : i + 5]) for i in range(0, 30, 5)])
    np.testing.assert_array_equal(pred, alone_pred)
    assert b.state() == idle and b.step == 0
    # Now interleave both, b on other data.
    x2, y2 = random_stream(np.random.default_rng(5), 30, 20, 5)
    c, d = Model.load(golden_blob), Model.load(golden_blob)
    for i in range(0, 30, 3):
        c.learn(x[i : i + 3], y[i : i + 3])
        d.learn(x2[i : i + 3], y2[i : i + 3])
    assert c.state() == alone.state()
    d_alone = Model.load(golden_blob)
    d_alone.learn(x2, y2)
    assert d.state() == d_alone.state()


# ------------------------------------------------------------------ errors


def test_status_names_match_the_c_enum() -> None:
    """pyruntime.errors mirrors mbnn.h: same order and the same mbnn_strerror texts."""
    assert len(STATUS_NAMES) == lib.MBNN_STATUS_COUNT
    for value, name in enumerate(STATUS_NAMES):
        assert getattr(lib, name) == value
        assert STRERROR[name] == ffi.string(lib.mbnn_strerror(value)).decode()


def test_error_attributes_and_pickle() -> None:
    err = MbnnError(lib.MBNN_ERR_CRC, "blob CRC mismatch", sample=3)
    assert err.status == 5 and err.name == "MBNN_ERR_CRC" and err.sample == 3
    assert str(err).startswith("blob CRC mismatch (sample 3): ")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.status == err.status and back.sample == 3
    assert isinstance(back, ValueError)
    assert pyruntime.MbnnError is MbnnError


def test_kernel_levels(model: Model, golden_blob: bytes) -> None:
    """set_kernels caps the level of the host's kernels (same logits at every level the
    CPU has), kernels names the level in use, a bad name is a ValueError, and
    MBNN_HOST_KERNELS in the environment sets the level new models start with."""
    import os
    import subprocess
    import sys

    from pyruntime.model import KERNEL_LEVELS, cpu_kernels

    best = cpu_kernels()
    assert model.kernels == best
    x = np.random.default_rng(8).integers(-128, 128, (70, model.n_inputs)).astype(np.int8)
    want = model.infer(x)
    for level in KERNEL_LEVELS:
        model.set_kernels(level)
        expect = level if KERNEL_LEVELS.index(level) <= KERNEL_LEVELS.index(best) else best
        assert model.kernels == expect
        np.testing.assert_array_equal(model.infer(x), want)
        np.testing.assert_array_equal(model.infer(x[:1]), want[:1])
    model.set_kernels(None)
    assert model.kernels == best
    with pytest.raises(ValueError, match="kernel level"):
        model.set_kernels("sse9")
    code = ("import sys, pyruntime; m = pyruntime.Model.load(sys.stdin.buffer.read()); print(m.kernels)")
    env = dict(os.environ, MBNN_HOST_KERNELS="plain")
    out = subprocess.run([sys.executable, "-c", code], input=golden_blob, env=env, capture_output=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.decode().strip() == "plain"
