"""Rehearsal (format version 3, docs/ARITHMETIC.md "Rehearsal"): with a rehearsal set
in the blob, each learning call is the step on the new sample, then one on sample
i = mix32(mix32(seed + step * 0x9E3779B9) ^ 0x52454852) mod count of the set, `step`
the counter after the first step. Checked in C (pyruntime.Model) and in the
reference against the same network without a set that learns the two samples itself,
with the index computed here from the rule.

With memory slots (the rehearsal entry's `memory`), r = mix32(key ^ 0x52454852): when
the memory has filled rows (filled = min(seen, slots)) and bit 31 of r is set, the
second step relearns memory row (r & 0x7FFFFFFF) mod filled, else set sample r mod
count; then the new sample is offered to the memory by reservoir sampling: row
`filled` while one is free, else row mix32(key ^ 0x4D454D4F) mod seen when that is
below slots (seen counted with the new sample, saturating at 2^32 - 1). The memory is
kept here too, and the state's memory section (version 2) compared with it."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import pyruntime
from pyruntime import reference
from pyruntime.format import write_blob
from pyruntime.reference import mix32
from pyruntime.testing import random_spec, random_stream

MASK32 = 0xFFFFFFFF


def rule_index(seed: int, step: int, count: int) -> int:
    """The rehearsal sample of the step `step` (the counter after the new sample's step)."""
    key = int(mix32((seed + step * 0x9E3779B9) & MASK32))
    return int(mix32(key ^ 0x52454852)) % count


def pair(seed: int, count: int, distinct: bool = True):
    """(blob with a rehearsal set of count samples, the same network without one, the set)."""
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, [23, 19, 6], 0, [True, True])
    plain = write_blob(spec)
    x, y = random_stream(rng, count, spec.n_inputs, spec.n_classes)
    if distinct:  # every sample different (first feature = its index) and labels not all equal
        x[:, 0] = np.arange(count) - 64
        y = np.arange(count) % spec.n_classes
    spec.rehearsal = (x, y)
    return write_blob(spec), plain, spec


@pytest.mark.parametrize("loader", [pyruntime.Model.load, reference.Model.load], ids=["C", "reference"])
@pytest.mark.parametrize(("count", "seed"), [(1, 1), (7, 2), (200, 3)])
def test_two_steps_per_sample_with_the_drawn_sample(loader, count: int, seed: int) -> None:
    """After every sample the step is 2 more, and the learned weights are those of the
    network without a set that learns the sample and then rehearsal sample rule_index."""
    blob, plain, spec = pair(seed, count)
    rx, ry = spec.rehearsal
    model, twin = loader(blob), loader(plain)
    x, y = random_stream(np.random.default_rng(seed + 100), 60, model.n_inputs, model.n_classes)
    drawn = []
    for n in range(len(x)):
        preds, losses = model.learn(x[n : n + 1], y[n : n + 1], return_loss=True)
        want_pred, want_loss = twin.learn(x[n : n + 1], y[n : n + 1], return_loss=True)
        assert model.step == 2 * (n + 1)
        assert (preds[0], losses[0]) == (want_pred[0], want_loss[0])  # those of the new sample
        i = rule_index(spec.seed, twin.step, count)
        drawn.append(i)
        twin.learn(rx[i : i + 1], ry[i : i + 1])
        # the state bytes after the header's CRC and model CRC: step, hidden weights, statistics
        assert model.state()[20:] == twin.state()[20:], f"after sample {n}"
    if count > 1:
        assert len(set(drawn)) > 1


def test_a_wrong_index_would_be_noticed() -> None:
    """The comparison above can fail: relearning sample i + 1 instead of i gives another state."""
    blob, plain, spec = pair(4, 7)
    rx, ry = spec.rehearsal
    model, twin = pyruntime.Model.load(blob), pyruntime.Model.load(plain)
    x, y = random_stream(np.random.default_rng(9), 20, model.n_inputs, model.n_classes)
    differ = 0
    for n in range(len(x)):
        model.learn(x[n : n + 1], y[n : n + 1])
        twin.learn(x[n : n + 1], y[n : n + 1])
        i = (rule_index(spec.seed, twin.step, 7) + 1) % 7
        twin.learn(rx[i : i + 1], ry[i : i + 1])
        differ += model.state()[20:] != twin.state()[20:]
    assert differ > 0


def test_a_refused_label_changes_nothing_and_state_round_trips() -> None:
    """A bad label is refused before either step; a saved state (step even) loads into a
    fresh model, which then continues exactly as the original."""
    blob, _, _ = pair(5, 9)
    model = pyruntime.Model.load(blob)
    x, y = random_stream(np.random.default_rng(1), 10, model.n_inputs, model.n_classes)
    model.learn(x[:5], y[:5])
    before = model.state()
    with pytest.raises(pyruntime.MbnnError) as info:
        model.learn(x[5:6], [model.n_classes])
    assert info.value.name == "MBNN_ERR_BAD_LABEL" and model.state() == before and model.step == 10
    fresh = pyruntime.Model.load(blob)
    fresh.load_state(before)
    model.learn(x[5:], y[5:])
    fresh.learn(x[5:], y[5:])
    assert fresh.state() == model.state() and fresh.step == 20


REHEARSAL_SALT = 0x52454852  # "REHR"
MEMORY_SALT = 0x4D454D4F  # "MEMO"


def step_key(seed: int, step: int) -> int:
    """mix32(seed + step * 0x9E3779B9): the key of the step about to be taken."""
    return int(mix32((seed + step * 0x9E3779B9) & MASK32))


def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


class MemoryRule:
    """The memory as the rule says, kept beside the model: rows, labels, seen. `wrong` names a wrong
    rule to follow instead (test_a_wrong_memory_rule_would_be_noticed)."""

    def __init__(self, slots: int, n_inputs: int, wrong: str | None = None) -> None:
        self.x = np.zeros((slots, n_inputs), np.int8)
        self.labels = np.zeros(slots, np.uint16)
        self.seen = 0
        self.wrong = wrong
        self.drawn = self.replaced = self.refused = 0

    @property
    def filled(self) -> int:
        return min(self.seen, len(self.labels))

    def draw(self, key: int, count: int) -> tuple[str, int]:
        """("memory", row) or ("set", sample): what the second step relearns."""
        r = int(mix32(key ^ REHEARSAL_SALT))
        from_memory = bool(r & 1) if self.wrong == "bit 0" else bool(r >> 31)
        if self.filled and from_memory:
            self.drawn += 1
            return "memory", (r if self.wrong == "all bits" else r & 0x7FFFFFFF) % self.filled
        return "set", r % count

    def offer(self, key: int, x: np.ndarray, label: int) -> None:
        """Reservoir sampling of the new sample."""
        filled = self.filled
        before = self.seen
        self.seen = min(self.seen + 1, MASK32)
        if filled < len(self.labels):
            slot = filled
        elif self.wrong == "row 0":
            slot = 0
        else:
            slot = int(mix32(key ^ MEMORY_SALT)) % (before if self.wrong == "seen before" else self.seen)
        if slot < len(self.labels):
            self.replaced += filled == len(self.labels)
            self.x[slot], self.labels[slot] = x, label
        else:
            self.refused += 1

    def section(self) -> bytes:
        """The memory section of the learned state: seen, the rows, the labels, each padded to 4."""
        return (struct.pack("<I", self.seen) + pad4(self.x.tobytes())
                + pad4(self.labels.astype("<u2").tobytes()))


def memory_pair(seed: int, count: int, slots: int):
    """(blob with a rehearsal set of count samples and `slots` memory slots, the network without either,
    the spec)."""
    blob, plain, spec = pair(seed, count)
    spec.memory = slots
    return write_blob(spec), plain, spec


def follow(model, twin, spec, rule: MemoryRule, x: np.ndarray, y: np.ndarray) -> int:
    """Both learn the stream: model itself, twin the new sample and then what `rule` draws, the rule
    offered each sample; the number of samples whose prediction or loss differ, or after which the states
    differ (layers, step or memory)."""
    rx, ry = spec.rehearsal
    differ = 0
    for n in range(len(x)):
        preds, losses = model.learn(x[n : n + 1], y[n : n + 1], return_loss=True)
        want_pred, want_loss = twin.learn(x[n : n + 1], y[n : n + 1], return_loss=True)
        differ_now = (preds[0], losses[0]) != (want_pred[0], want_loss[0])  # those of the new sample
        key = step_key(spec.seed, twin.step)
        where, i = rule.draw(key, len(ry))
        if where == "memory":
            twin.learn(rule.x[i : i + 1].copy(), rule.labels[i : i + 1].astype(np.int64))
        else:
            twin.learn(rx[i : i + 1], ry[i : i + 1])
        rule.offer(key, x[n], int(y[n]))
        state, plain = model.state(), twin.state()
        # the state: the plain network's header fields from the step on and its layers, then the memory
        differ += differ_now or state[20:len(plain)] != plain[20:] or state[len(plain):] != rule.section()
    return differ


@pytest.mark.parametrize("loader", [pyruntime.Model.load, reference.Model.load], ids=["C", "reference"])
@pytest.mark.parametrize(("count", "slots", "seed", "n"), [(1, 1, 11, 40), (5, 7, 12, 90), (13, 30, 13, 120),
                                                           (3, 200, 14, 50)])
def test_the_memory_follows_its_rule(loader, count: int, slots: int, seed: int, n: int) -> None:
    """After every sample: the step is 2 more, the layers are those of the network without a set that
    learned the sample and then the set sample or memory row the rule draws, and the state's memory
    section (version 2) holds the rows, labels and seen of the memory kept here by reservoir sampling.
    The memory fills, then rows are replaced and offers refused (200 slots: it never fills)."""
    blob, plain, spec = memory_pair(seed, count, slots)
    model, twin = loader(blob), loader(plain)
    assert model.state()[4] == 2 and len(model.state()) == len(twin.state()) + len(MemoryRule(slots, 23).section())
    rule = MemoryRule(slots, model.n_inputs)
    x, y = random_stream(np.random.default_rng(seed + 100), n, model.n_inputs, model.n_classes)
    assert follow(model, twin, spec, rule, x, y) == 0
    assert model.step == 2 * n and rule.seen == n
    assert rule.drawn > 0
    if slots < n:
        assert rule.replaced > 0 and (slots == 1 or rule.refused > 0)


@pytest.mark.parametrize("wrong", ["row 0", "all bits", "bit 0", "seen before"])
def test_a_wrong_memory_rule_would_be_noticed(wrong: str) -> None:
    """The comparison above can fail: a memory kept by a wrong rule (a full memory always replacing row 0;
    the row drawn from all 32 bits of r; the memory chosen by bit 0; the replacement row mod the count
    before the new sample) gives another state, in C and in the reference."""
    for loader in (pyruntime.Model.load, reference.Model.load):
        blob, plain, spec = memory_pair(15, 5, 7)
        model, twin = loader(blob), loader(plain)
        x, y = random_stream(np.random.default_rng(16), 60, model.n_inputs, model.n_classes)
        assert follow(model, twin, spec, MemoryRule(7, model.n_inputs, wrong), x, y) > 0, loader


@pytest.mark.parametrize("loader", [pyruntime.Model.load, reference.Model.load], ids=["C", "reference"])
def test_seen_saturates_in_a_loaded_memory(loader) -> None:
    """A state whose memory has seen 2^32 - 2 samples (CRC fixed up) loads; seen then stays at 2^32 - 1, and
    the rule (mod seen) still describes what the model does."""
    blob, plain, spec = memory_pair(17, 4, 5)
    model, twin = loader(blob), loader(plain)
    rule = MemoryRule(5, model.n_inputs)
    x, y = random_stream(np.random.default_rng(18), 30, model.n_inputs, model.n_classes)
    assert follow(model, twin, spec, rule, x[:12], y[:12]) == 0
    state = bytearray(model.state())
    at = len(state) - len(rule.section())
    struct.pack_into("<I", state, at, MASK32 - 1)
    struct.pack_into("<I", state, 12, zlib.crc32(bytes(state[16:])))
    model.load_state(bytes(state))
    rule.seen = MASK32 - 1
    assert follow(model, twin, spec, rule, x[12:], y[12:]) == 0
    assert rule.seen == MASK32 == struct.unpack_from("<I", model.state(), at)[0]
