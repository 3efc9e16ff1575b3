"""`pyruntime.reference.Model` has the whole interface of `pyruntime.Model`: one
script of calls, good and bad, drives both, and every result, attribute and
error (the status of an MbnnError, the type and message of another) is the same."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

import numpy as np

import pyruntime
from pyruntime import MbnnError, reference

GOLDEN = Path(__file__).parent / "data" / "golden.mbnn"


def outcome(call: Callable[[], Any]) -> Any:
    """What a call returns, or what it raised: an MbnnError's status and sample, another error's type and message."""
    try:
        value = call()
    except MbnnError as exc:  # the reference may add a detail to the runtime's message
        return ("MbnnError", exc.name, exc.sample)
    except (ValueError, TypeError) as exc:
        return (type(exc).__name__, str(exc))
    if isinstance(value, tuple):
        return tuple(outcome(lambda v=v: v) for v in value)
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape, value.tolist())
    return value


def script(cls) -> list[Any]:
    """The same calls on a model class; returns what each gave."""
    blob = GOLDEN.read_bytes()
    rng = np.random.default_rng(11)
    m = cls.load(GOLDEN)  # a path
    x = rng.integers(-128, 128, (40, m.n_inputs)).astype(np.int8)
    y = np.arange(40) % m.n_classes
    got: list[Any] = [
        m.n_inputs, m.n_classes, m.out_frac_bits, m.arena_size, m.blob == blob, m.step, m.can_learn,
        m.input_scale, m.input_zero_point,
        outcome(lambda: m.quantize(rng.normal(0, 0.5, (5, m.n_inputs)))),
        outcome(lambda: m.infer(x)),
        outcome(lambda: m.predict(x)),
        outcome(lambda: m.learn(x[:20], y[:20])),
        outcome(lambda: m.learn(x[20:], y[20:], return_loss=True)),
        outcome(lambda: m.last_losses),
        m.step,
        outcome(lambda: m.learn(x[:3], [0, 1, 99])),  # bad label: nothing learned
        outcome(lambda: m.learn(x[:3].astype(np.float32), y[:3])),
        outcome(lambda: m.infer(x[0])),
        outcome(lambda: m.infer(list(x))),
        outcome(lambda: m.learn(x[:3], y[:2])),
        m.step,
    ]
    saved = m.state()
    older = cls.load(blob).state()
    got += [
        outcome(lambda: m.infer(x)),
        outcome(lambda: m.pick_state(older, saved)),
        outcome(lambda: m.pick_state(saved, None)),
        outcome(lambda: m.pick_state(None, b"junk")),
        outcome(lambda: m.load_state(saved[:-1])),
        outcome(lambda: m.load_state("not bytes")),
        outcome(lambda: m.load_state(older)),
        m.step,
        outcome(lambda: m.infer(x)),
    ]
    frozen = cls.load(blob, learn=False)  # an inference-only model of a learning blob
    got += [
        frozen.can_learn, frozen.arena_size,
        outcome(lambda: frozen.learn(x[:2], y[:2])),
        outcome(lambda: frozen.state()),
        outcome(lambda: frozen.load_state(saved)),
        outcome(lambda: frozen.pick_state(saved, saved)),
        outcome(lambda: frozen.infer(x)),
        outcome(lambda: cls.load(blob[:100])),
        outcome(lambda: cls.load(3)),
    ]
    return got


def test_reference_and_c_answer_every_call_alike() -> None:
    """Results, attributes and errors (status, or type and message) are the same, call for call."""
    c, ref = script(pyruntime.Model), script(reference.Model)
    for idx, (a, b) in enumerate(zip(c, ref)):
        assert a == b, f"call {idx}: C {a!r}\nreference {b!r}"
    assert len(c) == len(ref)


def test_reference_has_every_public_member_of_the_c_model() -> None:
    """No public method or property of pyruntime.Model is missing from the reference."""
    public = {name for name in dir(pyruntime.Model) if not name.startswith("_")}
    missing = {name for name in public if not hasattr(reference.Model, name)}
    m = reference.Model.load(GOLDEN)
    missing -= {name for name in missing if hasattr(m, name)}  # plain attributes
    assert not missing
    for name in ("learn", "load", "pick_state", "load_state"):
        c_params = list(inspect.signature(getattr(pyruntime.Model, name)).parameters)
        assert list(inspect.signature(getattr(reference.Model, name)).parameters) == c_params, name
