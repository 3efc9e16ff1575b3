"""Bring what a device learned back into PyTorch.

    model = export.load_state("model.pt", state_bytes)              # blob re-made from the checkpoint
    model = export.load_state("model.pt", state_bytes, blob=blob)   # the blob the device runs

The learned state (docs/FORMAT.md "Learned state", from `mbnn_state_save` or
`pyruntime.Model.state()`) holds the int8 hidden weights of every layer that
learns. Each becomes `Wh = (h + 0.5) * 2^-e` in the checkpoint's MetaBNN, after
undoing the exporter's negation of neurons with a negative BatchNorm scale
(`h -> -1 - h`). BatchNorm is frozen on the device, so the model keeps the
checkpoint's BatchNorm; layers that do not learn keep their weights. The
returned model (eval mode) then predicts what the device predicts, and can be
evaluated or trained further on the host.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import torch

from export.blob import BlobError, read_blob, write_blob
from export.checkpoint import load_model
from export.fold import fold
from export.model import MetaBNN

STATE_MAGIC = b"MBST"
STATE_VERSION = 1


class StateError(ValueError):
    """A learned state that cannot be read into this model; the message says why."""


def parse_state(data: bytes, shapes: list[tuple[int, int]]) -> tuple[int, int, list[tuple[np.ndarray, np.ndarray]]]:
    """(model_crc, step, [(hidden int8 (n_out, n_in), rms uint32 (n_out,)) per learning layer])."""
    data = bytes(data)
    if len(data) < 32:
        raise StateError(f"learned state too short: {len(data)} bytes")
    magic, version, total, crc, model_crc, step, n_learn, _ = struct.unpack_from("<4sIIIIIII", data)
    if magic != STATE_MAGIC:
        raise StateError("not a metabnn learned state (bad magic)")
    if version != STATE_VERSION:
        raise StateError(f"learned state version {version} is not supported (this metabnn reads {STATE_VERSION})")
    if total > len(data) or total < 32:
        raise StateError(f"learned state truncated: header says {total} bytes, got {len(data)}")
    if zlib.crc32(data[16:total]) != crc:
        raise StateError("learned state CRC mismatch: the state is corrupt")
    if n_learn != len(shapes):
        raise StateError(f"learned state has {n_learn} learning layers, the model {len(shapes)}")
    expected = 32 + sum(((o * i + 3) & ~3) + 4 * o for o, i in shapes)
    if total != expected:
        raise StateError(f"learned state has {total} bytes, this model's has {expected}")
    pos, layers = 32, []
    for n_out, n_in in shapes:
        h = np.frombuffer(data, np.int8, n_out * n_in, pos).reshape(n_out, n_in).copy()
        pos += (n_out * n_in + 3) & ~3
        rms = np.frombuffer(data, "<u4", n_out, pos).copy()
        pos += 4 * n_out
        layers.append((h, rms))
    return model_crc, step, layers


def load_state(
    checkpoint: str | os.PathLike | dict,
    state_bytes: bytes,
    blob: bytes | None = None,
    **fold_options,
) -> MetaBNN:
    """The checkpoint's MetaBNN with the hidden weights a device learned (see the module docstring).

    `blob`: the blob the device ran; by default it is made again from the
    checkpoint with `fold_options` (the options given to `python -m export`).
    The state must belong to that blob (its CRC is checked).
    """
    model, ckpt = load_model(checkpoint)
    if blob is None:
        spec, _ = fold(model, ckpt["settings"], **fold_options)
        blob = write_blob(spec)
    else:
        try:
            spec = read_blob(blob)
        except BlobError as exc:
            raise StateError(f"blob: {exc}") from None
        if [l.n_in for l in spec.layers] + [spec.n_classes] != model.sizes:
            raise StateError("the blob does not have the checkpoint's architecture")
    blob_crc = struct.unpack_from("<I", blob, 12)[0]
    learning = [i for i, l in enumerate(spec.layers) if l.learns]
    shapes = [(spec.layers[i].n_out, spec.layers[i].n_in) for i in learning]
    model_crc, _step, layers = parse_state(state_bytes, shapes)
    if model_crc != blob_crc:
        raise StateError(
            f"learned state belongs to another model (crc 0x{model_crc:08x}, blob 0x{blob_crc:08x}); "
            "pass the blob the device ran, or the export options used"
        )
    with torch.no_grad():
        for idx, (h, _rms) in zip(learning, layers):
            bn = model.bns[idx]
            flipped = np.zeros(h.shape[0], dtype=bool)
            if idx != model.n_layers - 1:
                flipped = (bn.weight.detach().double().numpy() < 0)
            h = np.where(flipped[:, None], -1 - h.astype(np.int64), h.astype(np.int64))
            w = (h + 0.5) * 2.0 ** -spec.layers[idx].hscale_log2
            model.fcs[idx].weight.copy_(torch.from_numpy(w).to(model.fcs[idx].weight.dtype))
    return model.eval()
