"""The C runtime (through pyruntime) against the integer reference, bit for bit,
over random models: 1 to 4 layers, widths that are mostly not multiples of 32,
int8 or bit input, learning on any non-empty subset of layers, with or without
a rehearsal set (format version 3: two learning steps per sample) and a memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyruntime
from pyruntime.testing import random_convs, random_spec, random_stream
from export.blob import KIND_BITS, KIND_INT8, write_blob
from pyruntime import model as pyruntime_model
from pyruntime import reference
from pyruntime.model import KERNEL_LEVELS


@pytest.fixture(scope="module", autouse=True, params=KERNEL_LEVELS)
def kernels(request: pytest.FixtureRequest):
    """Every test of this file once per level of the host's kernels that this CPU
    runs (pyruntime.Model.set_kernels; the others are skipped): each level's
    kernels against the reference."""
    level = request.param
    if KERNEL_LEVELS.index(level) > KERNEL_LEVELS.index(pyruntime_model.cpu_kernels()):
        pytest.skip(f"this CPU does not run the {level} kernels")
    saved = pyruntime_model._DEFAULT_CAP
    pyruntime_model._DEFAULT_CAP = pyruntime_model._kernel_cap(level)
    yield level
    pyruntime_model._DEFAULT_CAP = saved


@st.composite
def models(draw: st.DrawFn, max_width: int = 80) -> tuple[bytes, np.random.Generator]:
    """A random blob and the generator that made it (for inputs)."""
    n_layers = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, max_width)) for _ in range(n_layers)] + [draw(st.integers(2, 12))]
    kind = draw(st.sampled_from([KIND_INT8, KIND_BITS]))
    learns = [draw(st.booleans()) for _ in range(n_layers)]
    if not any(learns):
        learns[draw(st.integers(0, n_layers - 1))] = True
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spec = random_spec(rng, sizes, kind, learns)
    with_rehearsal(draw, spec, rng)
    return write_blob(spec), rng


def with_rehearsal(draw: st.DrawFn, spec, rng: np.random.Generator) -> None:
    """Half the time, a rehearsal set of 1 to 40 samples (format version 3), half of those with a
    memory of 1 to 30 slots (filled, then replaced, within the steps of the tests)."""
    if draw(st.booleans()):
        spec.rehearsal = random_stream(rng, draw(st.integers(1, 40)), spec.n_inputs, spec.n_classes)
        spec.memory = draw(st.integers(1, 30)) if draw(st.booleans()) else 0


def steps_per_sample(ref: reference.Model) -> int:
    """2 with a rehearsal set (the sample, then one of the set), else 1."""
    return 1 if ref.spec.rehearsal is None else 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(max_width=300))
def test_inference_matches_reference(model_rng: tuple[bytes, np.random.Generator]) -> None:
    """Logits and predictions on random inputs are identical."""
    blob, rng = model_rng
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    x = rng.integers(-128, 128, (64, ref.n_inputs)).astype(np.int8)
    np.testing.assert_array_equal(c_model.infer(x), ref.infer(x))
    np.testing.assert_array_equal(c_model.predict(x), ref.predict(x))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_learning_matches_reference_every_step(model_rng: tuple[bytes, np.random.Generator]) -> None:
    """1,000 learning steps: after each, the whole learned state (hidden weights,
    error statistics, generator step) and the logits of probe samples are identical."""
    blob, rng = model_rng
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    x, y = random_stream(rng, 1000, ref.n_inputs, ref.n_classes)
    probe = x[:4]
    for i in range(len(x)):
        c_pred = c_model.learn(x[i : i + 1], y[i : i + 1])
        r_pred = ref.learn(x[i : i + 1], y[i : i + 1])
        assert c_pred[0] == r_pred[0], f"prediction before step {i}"
        assert c_model.state() == ref.state(), f"learned state after step {i}"
        np.testing.assert_array_equal(c_model.infer(probe), ref.infer(probe), err_msg=f"logits after step {i}")
    assert c_model.step == ref.step == 1000 * steps_per_sample(ref)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(max_width=200))
def test_batch_learning_matches_reference(model_rng: tuple[bytes, np.random.Generator]) -> None:
    """The C loop over a batch of samples gives the same predictions and state as the reference."""
    blob, rng = model_rng
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    x, y = random_stream(rng, 300, ref.n_inputs, ref.n_classes)
    np.testing.assert_array_equal(c_model.learn(x, y), ref.learn(x, y))
    assert c_model.state() == ref.state()
    assert c_model.step == 300 * steps_per_sample(ref)


@st.composite
def conv_models(draw: st.DrawFn) -> tuple[bytes, np.random.Generator]:
    """A random conv network (pyruntime.testing.random_convs: 1-D or 2-D, odd sizes,
    strides, padding, pooling) with one or two dense layers after it, int8 or bit
    input, learning on any non-empty subset of layers."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    in_shape, convs = random_convs(rng)
    dense = [draw(st.integers(1, 40)) for _ in range(draw(st.integers(0, 1)))] + [draw(st.integers(2, 8))]
    n_layers = len(convs) + len(dense)
    learns = [draw(st.booleans()) for _ in range(n_layers)]
    if not any(learns):
        learns[draw(st.integers(0, n_layers - 1))] = True
    kind = draw(st.sampled_from([KIND_INT8, KIND_BITS]))
    spec = random_spec(rng, [int(np.prod(in_shape)), *dense], kind, learns, in_shape=in_shape, convs=convs)
    with_rehearsal(draw, spec, rng)
    return write_blob(spec), rng


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_models())
def test_conv_inference_matches_reference(model_rng: tuple[bytes, np.random.Generator]) -> None:
    """Conv networks: logits and predictions identical, and the arena size the reference
    predicts is the one C asks for."""
    blob, rng = model_rng
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    x = rng.integers(-128, 128, (32, ref.n_inputs)).astype(np.int8)
    np.testing.assert_array_equal(c_model.infer(x), ref.infer(x))
    np.testing.assert_array_equal(c_model.predict(x), ref.predict(x))
    assert c_model.arena_size == ref.arena_size
    assert pyruntime.Model.load(blob, learn=False).arena_size == reference.Model.load(blob, learn=False).arena_size


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_models())
def test_conv_learning_matches_reference_every_step(model_rng: tuple[bytes, np.random.Generator]) -> None:
    """Conv networks, 100 learning steps: after each the learned state (conv kernels'
    hidden weights included) and the probe logits are identical; the state loads back."""
    blob, rng = model_rng
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    x, y = random_stream(rng, 100, ref.n_inputs, ref.n_classes)
    probe = x[:4]
    for i in range(len(x)):
        assert c_model.learn(x[i : i + 1], y[i : i + 1])[0] == ref.learn(x[i : i + 1], y[i : i + 1])[0]
        assert c_model.state() == ref.state(), f"learned state after step {i}"
        np.testing.assert_array_equal(c_model.infer(probe), ref.infer(probe), err_msg=f"logits after step {i}")
    assert c_model.step == ref.step == 100 * steps_per_sample(ref)
    fresh = pyruntime.Model.load(blob)
    fresh.load_state(ref.state())
    np.testing.assert_array_equal(fresh.infer(probe), ref.infer(probe))


@pytest.mark.parametrize("sizes", [[2100, 70, 5], [518, 66, 3]])
def test_batched_inference_in_a_learning_arena(sizes: list[int]) -> None:
    """A learning arena keeps no bits of an int8 first layer that learns (its kernels,
    the blocked host kernel included, read the signs of the hidden weights): after
    learning steps that flip signs, batched and one-at-a-time inference give the
    reference's logits (first layers of at least 512 inputs and 64 outputs, the others keep
    their bits; a row of 2100 inputs: a partial last word of 32 bytes; 518: rows not 4-byte
    aligned)."""
    rng = np.random.default_rng(sum(sizes))
    blob = write_blob(random_spec(rng, sizes, KIND_INT8, [True] * (len(sizes) - 1)))
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    x = rng.integers(-128, 128, (70, sizes[0])).astype(np.int8)
    y = rng.integers(0, sizes[-1], 70)
    before = ref.layers[0].signs.copy()
    for i in range(0, 60, 20):
        c_model.learn(x[i : i + 20], y[i : i + 20])
        ref.learn(x[i : i + 20], y[i : i + 20])
    assert (ref.layers[0].signs != before).any(), "no first-layer sign flipped: the test shows nothing"
    assert c_model.state() == ref.state()
    want = ref.infer(x)
    np.testing.assert_array_equal(c_model.infer(x), want)
    for n in (1, 2, 65):
        np.testing.assert_array_equal(c_model.infer(x[:n]), want[:n])


@pytest.mark.parametrize("sizes, kind", [([2100, 70, 5], KIND_INT8), ([700, 130, 41, 3], KIND_BITS),
                                          ([33, 9, 2], KIND_INT8)])
def test_batched_inference_matches_reference(sizes: list[int], kind: int, kernels: str) -> None:
    """Batches that span several blocks of samples (the blocked kernels of x86-64
    hosts take 64 at a time), rows past 64 words of 32 int8 inputs (their int16
    sums are widened in steps) and remainders of rows and samples: the same logits
    as the reference, and as the model one sample at a time."""
    rng = np.random.default_rng(sum(sizes))
    blob = write_blob(random_spec(rng, sizes, kind, [False] * (len(sizes) - 2) + [True]))
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    assert c_model.kernels == kernels
    x = rng.integers(-128, 128, (150, sizes[0])).astype(np.int8)
    want = ref.infer(x)
    np.testing.assert_array_equal(c_model.infer(x), want)
    for n in (1, 2, 64, 65, 130):
        np.testing.assert_array_equal(c_model.infer(x[:n]), want[:n])


@pytest.mark.parametrize("n_in", [256, 276, 480])
@pytest.mark.parametrize("learns", [False, True])
def test_bit_rows_of_8_to_15_words_with_every_bit_differing(n_in: int, learns: bool) -> None:
    """A bit-input row of 8 to 15 words (the plain kernels' straight-line popcount of
    8 words) whose first 256 bits all differ from the input: popcount 256 there, which
    the bytes' sum by a multiply by 0x01010101 gave as 0 (a = n_in - 2 * 0 instead of
    n_in - 512); also a row where every bit agrees, and learning steps that keep it."""
    rng = np.random.default_rng(n_in)
    spec = random_spec(rng, [n_in, 5], KIND_BITS, [learns])
    x = rng.integers(-128, 128, (6, n_in)).astype(np.int8)
    layer = spec.layers[0]
    hidden = np.clip(rng.normal(0, 50, (5, n_in)).round(), -128, 127).astype(np.int8)
    hidden[0] = np.where(x[0] < 0, 40, -40)  # weight bit = NOT input bit: every bit differs
    hidden[1] = np.where(x[0] < 0, -40, 40)  # every bit agrees
    layer.bits = (hidden < 0).astype(np.uint8)
    if learns:
        layer.hidden = hidden
    blob = write_blob(spec)
    c_model, ref = pyruntime.Model.load(blob), reference.Model.load(blob)
    want = ref.infer(x)
    np.testing.assert_array_equal(c_model.infer(x), want)
    for n in (1, 2):
        np.testing.assert_array_equal(c_model.infer(x[:n]), want[:n])
    if learns:
        for i in range(len(x)):
            c_model.learn(x[:1], [i % 5])
            ref.learn(x[:1], [i % 5])
            assert c_model.state() == ref.state(), f"learned states differ after step {i}"
        np.testing.assert_array_equal(c_model.infer(x), ref.infer(x))
