"""Data augmentation of image batches for training (`python -m export.train --augment`).

Done on the batch tensor, no dependency: every image of a batch is shifted by
its own random (dy, dx) in [-S, S] pixels (zero padding of S pixels on every
side, then a crop back to the image size: the classic pad-and-crop of
CIFAR/Fashion-MNIST training), and, when the data set's classes are mirror
symmetric (Fashion-MNIST's garments, not MNIST's digits), flipped left-right
with probability 1/2. A padded pixel is feature 0, the background of MNIST and
Fashion-MNIST (and the int8 zero point the runtime pads the first convolution
with). Only the training batches are changed; the test set never is.
"""

from __future__ import annotations

import re

import torch

#: Data sets whose images may be flipped left-right without changing the class.
FLIP_DATASETS = ("fashion",)
#: Default largest shift in pixels.
DEFAULT_SHIFT = 2


def is_image(name: str, shape: tuple[int, int, int]) -> bool:
    """True for a data set whose inputs are images that may be shifted: height and width above 1
    (not 1-D sensor windows) and pixels not permuted (`pmnist:SEED`, `mnist:perm=K`)."""
    permuted = re.fullmatch(r"p[a-z]+:\d+", name) is not None or ":perm=" in name
    return shape[1] > 1 and shape[2] > 1 and not permuted


def augment_batch(x: torch.Tensor, shape: tuple[int, int, int], gen: torch.Generator, shift: int = DEFAULT_SHIFT,
                  flip: bool = False) -> torch.Tensor:
    """A new (N, C*H*W) batch: each image of x (N, C*H*W, flattened (C, H, W)) shifted by random
    whole pixels in [-shift, shift] along both axes (zeros shifted in) and, with `flip`, mirrored
    left-right with probability 1/2. Random numbers from `gen` (reproducible)."""
    n = x.shape[0]
    c, h, w = shape
    img = x.reshape(n, c, h, w)
    if shift > 0:
        padded = torch.nn.functional.pad(img, (shift, shift, shift, shift))
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]  # (n, 1, h, 1)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]  # (n, 1, 1, w)
        batch = torch.arange(n)[:, None, None, None]
        chan = torch.arange(c)[None, :, None, None]
        img = padded[batch, chan, rows, cols]
    if flip:
        mirror = torch.rand(n, generator=gen) < 0.5
        img = torch.where(mirror[:, None, None, None], img.flip(-1), img)
    return img.reshape(n, c * h * w)
