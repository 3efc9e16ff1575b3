"""The host's log of a stream: the same text the firmware writes, through pyruntime.

Per sample (targets/common/learner.c): `s I p PRED z CRC` where PRED is the
argmax of the logits (ties: lowest index) and CRC the CRC-32 (zlib's) of the
logits as little-endian int32 bytes; for a labelled sample the learner then
learns and adds ` y LABEL l LOSS` (LOSS: 32768 - p(label) in Q15, before the
update). At the end: `end steps N labelled N correct N accuracy P.PP% state
CRC`, CRC over the saved learned state.

With a flash (learner.h), the firmware logs after the first line `boot resume
seq S step T` (it loaded the state saved at step T and skips the labelled
samples that state learned: T, or T / 2 for a blob with a rehearsal set, whose
learning calls take two steps) or `boot new: REASON`, and `saved seq S step T`
after each save;
`host_log(..., save_every=N, boot=...)` writes the same lines.
"""

from __future__ import annotations

import zlib

import numpy as np

from pyruntime.format import blob_crc, read_blob
from targets.stream import Stream


def host_log(blob: bytes, stream: Stream, save_every: int = 0,
             boot: tuple[int, int] | str | None = None) -> tuple[str, bytes]:
    """(log text, learned state bytes) of the stream through pyruntime.Model.

    boot: None for a board without a flash; (seq, step) for one that resumed
    from the record seq saved at learning step `step`; a string for one that
    started new (the reason it logged). save_every: its save period."""
    from pyruntime import Model

    m = Model.load(bytes(blob), learn=True)
    if stream.x.shape[1] != m.n_inputs:
        raise ValueError(f"the stream has {stream.x.shape[1]} features per sample, the model takes {m.n_inputs}")
    model_crc = blob_crc(bytes(blob))
    n = len(stream.y)
    lines = [f"metabnn-log 1 model {model_crc:08x} inputs {m.n_inputs} classes {m.n_classes} samples {n}"]
    seq, skip = 0, 0
    per_call = 2 if read_blob(bytes(blob)).rehearsal is not None else 1  # learning steps of a labelled sample
    if isinstance(boot, tuple):
        seq, step = boot
        skip = step // per_call  # the labelled samples that state learned
        lines.append(f"boot resume seq {seq} step {step}")
    elif boot is not None:
        lines.append(f"boot new: {boot}")
    labelled = correct = 0
    for i in range(n):
        x = stream.x[i:i + 1]
        if skip:  # learned by the saved state before the reset
            if int(stream.y[i]) >= 0:
                m.learn(x, stream.y[i:i + 1].astype(np.int64))
                skip -= 1
            continue
        z = m.infer(x)[0]
        pred = int(np.argmax(z))  # first maximum: ties go to the lowest index
        line = f"s {i} p {pred} z {zlib.crc32(z.astype('<i4').tobytes()):08x}"
        label = int(stream.y[i])
        if label >= 0:
            p_learn, loss = m.learn(x, np.array([label]), return_loss=True)
            labelled += 1
            correct += pred == label
            line += f" y {label} l {int(loss[0])}"
            if int(p_learn[0]) != pred:
                line += " learn-prediction-differs"
        lines.append(line)
        if boot is not None and save_every and label >= 0 and m.step % save_every < per_call:  # passed a multiple
            seq += 1
            lines.append(f"saved seq {seq} step {m.step}")
    state = m.state()
    acc = (correct * 10000 + labelled // 2) // labelled if labelled else 0
    lines.append(f"end steps {m.step} labelled {labelled} correct {correct} "
                 f"accuracy {acc // 100}.{acc // 10 % 10}{acc % 10}% state {zlib.crc32(state):08x}")
    return "\n".join(lines) + "\n", state
