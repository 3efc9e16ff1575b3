"""Checkpoints of `python -m export.train`: one torch.save'd dict.

    {"format": "metabnn-checkpoint", "version": 1,
     "architecture": MetaBNN.config(),   # sizes, binarize_input, input quantization, BatchNorm
     "state_dict": model.state_dict(),
     "settings": {...},                  # dataset, epochs, lr, meta, int8 grid, seed, ...
     "history": [{"epoch", "loss", "train_acc", "test_acc", "seconds"}, ...],
     "importance": [tensor per layer, shaped like its weights],  # optional
     "rehearsal": {"x": int8 tensor (n, inputs), "y": labels (n,)}}  # optional, export/rehearsal.py

`importance` (export/importance.py) tells export which hidden weights the
trained task needs; a checkpoint without it (written before it existed, or by
a user's own training loop) is consolidated uniformly.

`settings["meta"]` (float or list per layer) and `settings["int8_grid"]` (list
of hscale_log2 per layer, or None) are read by the exporter.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from export.blob import write_atomic
from export.importance import check_importance
from export.model import MetaBNN

FORMAT = "metabnn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a usable metabnn checkpoint; the message says why."""


def save_checkpoint(path: str | os.PathLike, model: MetaBNN, settings: dict[str, Any],
                    history: list[dict[str, Any]] | None = None,
                    importance: Sequence[np.ndarray] | None = None,
                    rehearsal: dict[str, torch.Tensor] | None = None) -> None:
    """Write a checkpoint atomically (`importance`: export.importance.fisher_importance's arrays;
    `rehearsal`: export.rehearsal.to_checkpoint's entry)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": model.config(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "settings": dict(settings),
        "history": list(history or []),
    }
    if importance is not None:
        payload["importance"] = [torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in importance]
    if rehearsal is not None:
        payload["rehearsal"] = dict(rehearsal)
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_atomic(path, buf.getvalue())


def read_checkpoint(source: str | os.PathLike | dict) -> dict[str, Any]:
    """The checkpoint dict of a path (or a dict already loaded), checked; raises CheckpointError."""
    if isinstance(source, dict):
        ckpt = source
    else:
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such file")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a non-checkpoint
            raise CheckpointError(f"{path}: not a metabnn checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError("not a metabnn checkpoint (train one with `python -m export.train`)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint version {ckpt.get('version')} is not supported (this metabnn reads {VERSION})"
        )
    for key in ("architecture", "state_dict", "settings"):
        if key not in ckpt:
            raise CheckpointError(f"checkpoint lacks {key!r}")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> MetaBNN:
    """A MetaBNN in eval mode with the checkpoint's architecture and weights."""
    try:
        model = MetaBNN(**ckpt["architecture"])
        model.load_state_dict(ckpt["state_dict"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint architecture or weights unusable: {str(exc).splitlines()[0]}") from None
    return model.eval()


def check_finite(model: MetaBNN, where: str) -> None:
    """Raise ValueError when any tensor of the model (or its input scale) holds
    NaN or inf, naming the tensor and its layer."""
    for name, tensor in model.state_dict().items():
        if not torch.is_floating_point(tensor):
            continue
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            kind = "NaN" if bool(torch.isnan(tensor).any()) else "inf"
            index = next((int(p) for p in name.split(".") if p.isdigit()), None)
            layer = f" (layer {index})" if index is not None else ""
            raise ValueError(f"{where}: tensor {name}{layer} holds {kind} in {int(bad.sum())} of "
                             f"{tensor.numel()} values; the training diverged: train again with a smaller --lr")
    scale = float(getattr(model, "input_scale", 1.0))
    if not 0 < scale < float("inf"):
        raise ValueError(f"{where}: input scale {scale} is not a positive finite number; train again")


def load_model(source: str | os.PathLike | dict) -> tuple[MetaBNN, dict[str, Any]]:
    """(model, checkpoint dict) of a checkpoint path or dict."""
    ckpt = read_checkpoint(source)
    return model_from_checkpoint(ckpt), ckpt


def importance_of(ckpt: dict[str, Any], model: MetaBNN, where: str) -> list[np.ndarray] | None:
    """The checkpoint's importance arrays (None when it holds none), checked against the model;
    ValueError naming `where` when they do not fit it or hold NaN, inf or negative values."""
    imp = ckpt.get("importance")
    if imp is None:
        return None
    if not isinstance(imp, (list, tuple)):
        raise ValueError(f"{where}: importance is not a list of arrays; train again with `python -m export.train`")
    return check_importance(imp, model, where)
