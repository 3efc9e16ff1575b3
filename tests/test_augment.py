"""Training-time augmentation of image batches (export/augment.py) and export.train's --augment (seconds)."""

import dataclasses

import numpy as np
import pytest
import torch

from export import data
from export.augment import augment_batch, is_image
from export.train import train


def test_shift_moves_whole_images_and_pads_with_zeros():
    x = torch.rand(64, 2 * 6 * 7) + 0.5  # no zero pixel: zeros can only come from the padding
    out = augment_batch(x, (2, 6, 7), torch.Generator().manual_seed(0), shift=2)
    img, got = x.reshape(64, 2, 6, 7), out.reshape(64, 2, 6, 7)
    seen = set()
    for n in range(64):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                want = torch.zeros(2, 10, 11)
                want[:, 2:8, 2:9] = img[n]
                if torch.equal(got[n], want[:, 2 + dy : 8 + dy, 2 + dx : 9 + dx]):
                    matches.append((dy, dx))
        assert len(matches) == 1, f"image {n} is no shift of its input"
        seen.add(matches[0])
    assert len(seen) > 10  # shifts are drawn per image, not once per batch


def test_flip_mirrors_about_half_and_no_shift_no_flip_is_identity():
    x = torch.rand(400, 1 * 5 * 5)
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(augment_batch(x, (1, 5, 5), gen, shift=0, flip=False), x)
    out = augment_batch(x, (1, 5, 5), gen, shift=0, flip=True).reshape(400, 5, 5)
    img = x.reshape(400, 5, 5)
    mirrored = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, img)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, img)])
    assert bool((mirrored ^ kept).all())
    assert 150 < int(mirrored.sum()) < 250


def test_only_images_with_neighbouring_pixels():
    assert is_image("fashion", (1, 28, 28)) and is_image("digits", (1, 8, 8))
    assert not is_image("basicmotions", (6, 1, 20))
    assert not is_image("pmnist:3", (1, 28, 28)) and not is_image("mnist:perm=1", (1, 28, 28))
    ds = data.load("digits")
    with pytest.raises(ValueError, match="not images"):
        train(dataclasses.replace(ds, name="pdigits:1"), "conv2d:4:3,dense:10", epochs=1, augment=True,
              progress=False, log=lambda m: None)


def test_augmented_training_changes_the_run_but_not_the_test_set():
    ds = data.load("digits")
    x_test = ds.x_test.copy()
    runs = [train(ds, "conv2d:4:3,dense:10", epochs=1, augment=a, progress=False, log=lambda m: None)
            for a in (False, True, True)]
    (m0, s0, _), (m1, s1, h1), (m2, _, h2) = runs
    assert s0["augment"] is False and s1["augment"] == {"shift": 2, "flip": False}
    assert s0["lr_schedule"] == "cosine"  # the default for a network with convolutions
    assert not torch.equal(m0.fcs[0].weight, m1.fcs[0].weight)
    assert torch.equal(m1.fcs[0].weight, m2.fcs[0].weight) and h1[0]["test_acc"] == h2[0]["test_acc"]  # seeded
    assert np.array_equal(ds.x_test, x_test)
