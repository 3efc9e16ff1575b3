"""The host's log of a stream: the same text the firmware writes, through pyruntime.

Per sample (targets/common/learner.c): `s I p PRED z CRC` where PRED is the
argmax of the logits (ties: lowest index) and CRC the CRC-32 (zlib's) of the
logits as little-endian int32 bytes; for a labelled sample the learner then
learns and adds ` y LABEL l LOSS` (LOSS: 32768 - p(label) in Q15, before the
update). At the end: `end steps N labelled N correct N accuracy P.PP% state
CRC`, CRC over the saved learned state.
"""

from __future__ import annotations

import zlib

import numpy as np

from pyruntime.format import blob_crc
from targets.stream import Stream


def host_log(blob: bytes, stream: Stream) -> tuple[str, bytes]:
    """(log text, learned state bytes) of the stream through pyruntime.Model."""
    from pyruntime import Model

    m = Model.load(bytes(blob), learn=True)
    if stream.x.shape[1] != m.n_inputs:
        raise ValueError(f"the stream has {stream.x.shape[1]} features per sample, the model takes {m.n_inputs}")
    model_crc = blob_crc(bytes(blob))
    n = len(stream.y)
    lines = [f"metabnn-log 1 model {model_crc:08x} inputs {m.n_inputs} classes {m.n_classes} samples {n}"]
    labelled = correct = 0
    for i in range(n):
        x = stream.x[i:i + 1]
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
    state = m.state()
    acc = (correct * 10000 + labelled // 2) // labelled if labelled else 0
    lines.append(f"end steps {m.step} labelled {labelled} correct {correct} "
                 f"accuracy {acc // 100}.{acc // 10 % 10}{acc % 10}% state {zlib.crc32(state):08x}")
    return "\n".join(lines) + "\n", state
