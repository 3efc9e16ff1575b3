"""Task sequences from a list of data sets and transforms: ``--sequence mnist,fashion``.

A sequence is a comma-separated list of items; each item is a data set name
(``mnist``, ``fashion``, ``digits``) followed by ``:``-separated transforms, applied
left to right, to the training and the test images alike:

- ``perm=S``: the pixels permuted by a permutation of seed S (permuted MNIST),
- ``rot=D``: the image rotated by D degrees about its centre (nearest pixel; a
  remap that keeps the same pixels in use: rotated MNIST),
- ``shift=DX/DY``: the image translated by whole pixels (zeros come in),
- ``noise=SD``: Gaussian noise of standard deviation SD (features are in [0, 1)),
  one fixed draw per image (seeded), clipped to [0, 1),
- ``contrast=C``: ``0.5 + C (x - 0.5)``, clipped (a sensor's gain drift),
- ``bright=B``: ``x + B``, clipped (a sensor's offset drift),
- ``invert``: ``1 - x``,
- ``classes=A-B``: only the classes A..B (class-incremental splits; one shared
  output layer, no task identity).

Examples: ``mnist,fashion``; ``mnist,mnist:rot=30,mnist:rot=60,mnist:rot=90``;
``mnist:classes=0-4,mnist:classes=5-9``. ``sequence_key`` names everything that
defines a task's data, for the pretraining cache.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from export import data as datasets

#: Every transform of an item, for the error message.
TRANSFORMS = ("perm=S", "rot=DEG", "shift=DX/DY", "noise=SD", "contrast=C", "bright=B", "invert", "classes=A-B")
_FEATURES_MAX = np.float32(255 / 256)


def _side(ds: datasets.Dataset) -> int:
    side = int(round(math.sqrt(ds.n_features)))
    if side * side != ds.n_features:
        raise ValueError(f"{ds.name}: rot and shift need square images, not {ds.n_features} features")
    return side


def _remap(ds: datasets.Dataset, src: np.ndarray, name: str) -> datasets.Dataset:
    """Output pixel i takes input pixel src[i] (src[i] < 0: zero)."""
    def apply(x: np.ndarray) -> np.ndarray:
        out = x[:, np.maximum(src, 0)]
        out[:, src < 0] = 0.0
        return out

    return replace(ds, name=name, x_train=apply(ds.x_train), x_test=apply(ds.x_test))


def rotate(ds: datasets.Dataset, degrees: float) -> datasets.Dataset:
    """The images rotated counterclockwise (as displayed) by `degrees` about their centre.

    Each output pixel takes the nearest input pixel; pixels from outside the image are 0.
    """
    n = _side(ds)
    c = (n - 1) / 2.0
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    t = math.radians(degrees)
    sx = np.rint(c + (xx - c) * math.cos(t) - (yy - c) * math.sin(t)).astype(np.int64)
    sy = np.rint(c + (xx - c) * math.sin(t) + (yy - c) * math.cos(t)).astype(np.int64)
    inside = (sx >= 0) & (sx < n) & (sy >= 0) & (sy < n)
    src = np.where(inside, sy * n + sx, -1).ravel()
    return _remap(ds, src, f"{ds.name}:rot={degrees:g}")


def shift(ds: datasets.Dataset, dx: int, dy: int) -> datasets.Dataset:
    """The images translated by (dx, dy) whole pixels (zeros come in)."""
    n = _side(ds)
    yy, xx = np.mgrid[0:n, 0:n]
    sx, sy = xx - dx, yy - dy
    inside = (sx >= 0) & (sx < n) & (sy >= 0) & (sy < n)
    src = np.where(inside, sy * n + sx, -1).ravel()
    return _remap(ds, src, f"{ds.name}:shift={dx}/{dy}")


def _pointwise(ds: datasets.Dataset, fn, name: str) -> datasets.Dataset:
    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(fn(x, rng), 0.0, _FEATURES_MAX).astype(np.float32)

    return replace(ds, name=name, x_train=apply(ds.x_train, np.random.default_rng(1)),
                   x_test=apply(ds.x_test, np.random.default_rng(2)))


def select_classes(ds: datasets.Dataset, lo: int, hi: int) -> datasets.Dataset:
    """Only the samples of classes lo..hi (the output layer keeps all of its classes)."""
    tr = (ds.y_train >= lo) & (ds.y_train <= hi)
    te = (ds.y_test >= lo) & (ds.y_test <= hi)
    if not tr.any():
        raise ValueError(f"{ds.name}: no samples of classes {lo}-{hi}")
    return replace(ds, name=f"{ds.name}:classes={lo}-{hi}", x_train=ds.x_train[tr], y_train=ds.y_train[tr],
                   x_test=ds.x_test[te], y_test=ds.y_test[te])


def _number(text: str, item: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"sequence item {item!r}: {text!r} is not a number") from None


def apply_transform(ds: datasets.Dataset, transform: str, item: str = "") -> datasets.Dataset:
    """One transform (see the module docstring) applied to a data set."""
    key, _, value = transform.partition("=")
    key = key.strip().lower()
    if key == "perm":
        return replace(datasets.permute(ds, int(_number(value, item))), name=f"{ds.name}:perm={value}")
    if key == "rot":
        return rotate(ds, _number(value, item))
    if key == "shift":
        dx, _, dy = value.partition("/")
        return shift(ds, int(_number(dx, item)), int(_number(dy or "0", item)))
    if key == "noise":
        sd = _number(value, item)
        return _pointwise(ds, lambda x, r: x + r.normal(0.0, sd, x.shape), f"{ds.name}:noise={value}")
    if key == "contrast":
        c = _number(value, item)
        return _pointwise(ds, lambda x, r: 0.5 + c * (x - 0.5), f"{ds.name}:contrast={value}")
    if key == "bright":
        b = _number(value, item)
        return _pointwise(ds, lambda x, r: x + b, f"{ds.name}:bright={value}")
    if key == "invert" and not value:
        return _pointwise(ds, lambda x, r: 1.0 - x, f"{ds.name}:invert")
    if key == "classes":
        lo, _, hi = value.partition("-")
        return select_classes(ds, int(_number(lo, item)), int(_number(hi or lo, item)))
    raise ValueError(f"sequence item {item!r}: unknown transform {transform!r}; use one of {', '.join(TRANSFORMS)}")


def parse_item(item: str) -> datasets.Dataset:
    """One item of a sequence: ``NAME[:TRANSFORM[:TRANSFORM...]]``."""
    base, *transforms = [p.strip() for p in item.strip().split(":")]
    if not base:
        raise ValueError(f"sequence item {item!r}: no data set name; use e.g. mnist or mnist:rot=30")
    ds = datasets.load(base)
    for t in transforms:
        ds = apply_transform(ds, t, item)
    return ds


def parse_sequence(text: str) -> list[datasets.Dataset]:
    """The tasks of ``--sequence``: comma-separated items (see the module docstring)."""
    items = [s for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError("--sequence is empty; give e.g. mnist,fashion")
    cache: dict[str, datasets.Dataset] = {}
    tasks = []
    for item in items:
        key = item.strip().lower()
        if key not in cache:
            cache[key] = parse_item(key)
        tasks.append(cache[key])
    return tasks
