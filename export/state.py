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

import numpy as np
import torch

from export.checkpoint import importance_of, load_model
from export.fold import fold
from export.model import MetaBNN
from pyruntime.format import StateError, blob_crc, read_blob, read_spec_state, runtime_columns, write_blob

__all__ = ["StateError", "load_state"]


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
        fold_options.setdefault("importance", importance_of(ckpt, model, "checkpoint"))  # as `python -m export`
        spec, _ = fold(model, ckpt["settings"], **fold_options)
        blob = write_blob(spec)
    else:
        spec = read_blob(blob)
        if [tuple(l.bits.shape) for l in spec.layers] != [tuple(fc.weight.shape) for fc in model.fcs]:
            raise StateError("MBNN_ERR_STATE_MODEL", detail="the blob does not have the checkpoint's architecture",
                             hint="pass the blob the device ran with this checkpoint")
    learning = [i for i, l in enumerate(spec.layers) if l.learns]
    try:
        layers = read_spec_state(state_bytes, spec, blob_crc(blob)).layers
    except StateError as exc:
        if exc.name != "MBNN_ERR_STATE_MODEL":
            raise
        raise StateError(exc.name, detail=exc.detail,
                         hint="pass the blob the device ran, or the export options used") from None
    in_shapes = spec.in_shapes()
    with torch.no_grad():
        for idx, (h, _rms) in zip(learning, layers):
            # the state's columns are the runtime's (docs/FORMAT.md); back to PyTorch order
            h = h[:, runtime_columns(spec.layers[idx], in_shapes[idx])]
            bn = model.bns[idx]
            flipped = np.zeros(h.shape[0], dtype=bool)
            if idx != model.n_layers - 1:
                flipped = (bn.weight.detach().double().numpy() < 0)
            h = np.where(flipped[:, None], -1 - h.astype(np.int64), h.astype(np.int64))
            w = ((h + 0.5) * 2.0 ** -spec.layers[idx].hscale_log2).reshape(model.fcs[idx].weight.shape)
            model.fcs[idx].weight.copy_(torch.from_numpy(w).to(model.fcs[idx].weight.dtype))
    return model.eval()
