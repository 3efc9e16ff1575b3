"""Architectures of a MetaBNN: the `--arch` syntax of `python -m export.train`.

An architecture is a comma-separated list of items, inputs to outputs:

- ``conv2d:C:K`` a binary 2-D convolution with C output channels and a K x K
  kernel; ``conv1d:C:K`` the same along time (the input is channels x length);
  options after K, in any order: ``sS`` stride S (default 1), ``same`` (zero
  padding (K - 1) / 2: the output keeps the input's size; stride 1, odd K),
  ``valid`` (no padding, the default) or ``pP`` (P zeros on each side);
  e.g. ``conv2d:32:3:same``, ``conv1d:16:5:s2:p2``;
- ``maxpool:P`` max pooling with window = stride = P (floor mode) after the
  previous convolution's sign (one per convolution);
- ``dense:N`` a binary dense layer of N neurons; the input of the first dense
  layer is the flattened (channel-major, PyTorch order) output of the last
  convolution; the last item is the dense output layer (one neuron per class).

Every convolution and dense layer is followed by BatchNorm (per channel for a
convolution) and, except the output layer, the sign. A 1-D convolution is a
2-D one of kernel 1 x K on an input of height 1: shapes are always
(channels, height, width), 1-D data having height 1 (docs/FORMAT.md, format
version 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

#: The item kinds, for messages.
ITEMS = ("conv1d:C:K[:sS][:same|valid|pP]", "conv2d:C:K[:sS][:same|valid|pP]", "maxpool:P", "dense:N")


@dataclass(frozen=True)
class Layer:
    """One weight layer: op ("dense", "conv1d", "conv2d"), its input shape (C, H, W),
    n_out (neurons or output channels) and, for a convolution, kernel, stride,
    padding (height, width) and the max pool P after its sign (1: none)."""

    op: str
    in_shape: tuple[int, int, int]
    n_out: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    pool: int = 1

    @property
    def is_conv(self) -> bool:
        """True for conv1d and conv2d."""
        return self.op != "dense"

    @property
    def n_in(self) -> int:
        """Input features, C * H * W."""
        c, h, w = self.in_shape
        return c * h * w

    @property
    def conv_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) after the convolution, before pooling."""
        if not self.is_conv:
            return (self.n_out, 1, 1)
        _, h, w = self.in_shape
        oh = (h + 2 * self.pad[0] - self.kernel[0]) // self.stride[0] + 1
        ow = (w + 2 * self.pad[1] - self.kernel[1]) // self.stride[1] + 1
        return (self.n_out, oh, ow)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the layer's output (after pooling)."""
        c, h, w = self.conv_shape
        if self.pool == 1:
            return (c, h, w)
        ph = 1 if self.op == "conv1d" else self.pool
        return (c, h // ph, w // self.pool)

    @property
    def pool_window(self) -> tuple[int, int]:
        """The max pool's (height, width) window: (1, P) for conv1d, (P, P) for conv2d."""
        return (1 if self.op == "conv1d" else self.pool, self.pool)

    @property
    def n_features(self) -> int:
        """Output features, the next layer's inputs."""
        c, h, w = self.out_shape
        return c * h * w

    def to_dict(self) -> dict:
        """Plain lists and ints (for a checkpoint)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(d: dict) -> Layer:
        """The inverse of to_dict."""
        return Layer(op=str(d["op"]), in_shape=tuple(int(v) for v in d["in_shape"]), n_out=int(d["n_out"]),
                     kernel=tuple(int(v) for v in d["kernel"]), stride=tuple(int(v) for v in d["stride"]),
                     pad=tuple(int(v) for v in d["pad"]), pool=int(d["pool"]))


def _int(text: str, what: str, item: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise ValueError(f"--arch item {item!r}: {what} {text!r} is not an integer") from None
    if v < 1:
        raise ValueError(f"--arch item {item!r}: {what} must be 1 or more, got {v}")
    return v


def _conv(item: str, parts: list[str], in_shape: tuple[int, int, int]) -> Layer:
    op = parts[0]
    if len(parts) < 3:
        raise ValueError(f"--arch item {item!r}: write {op}:C:K (channels, kernel size), e.g. {op}:32:3")
    channels = _int(parts[1], "channel count", item)
    k = _int(parts[2], "kernel size", item)
    stride, pad, same = 1, 0, False
    for opt in parts[3:]:
        if opt == "same":
            same = True
        elif opt == "valid":
            same, pad = False, 0
        elif opt[:1] == "s" and opt[1:].isdigit():
            stride = _int(opt[1:], "stride", item)
        elif opt[:1] == "p" and opt[1:].isdigit():
            pad = int(opt[1:])
        else:
            raise ValueError(f"--arch item {item!r}: unknown option {opt!r}; use sS (stride), same, valid or pP")
    if same:
        if stride != 1 or k % 2 == 0:
            raise ValueError(f"--arch item {item!r}: same padding needs stride 1 and an odd kernel; give pP instead")
        pad = (k - 1) // 2
    c, h, w = in_shape
    if op == "conv1d":
        if h != 1:
            raise ValueError(f"--arch item {item!r}: conv1d needs channels x length input, this one is {c}x{h}x{w}; "
                             "use conv2d")
        layer = Layer("conv1d", in_shape, channels, (1, k), (1, stride), (0, pad))
    else:
        layer = Layer("conv2d", in_shape, channels, (k, k), (stride, stride), (pad, pad))
    _, oh, ow = layer.conv_shape
    if oh < 1 or ow < 1:
        raise ValueError(f"--arch item {item!r}: kernel {k} does not fit the {c}x{h}x{w} input "
                         f"(output {oh}x{ow}); use a smaller kernel or padding")
    if pad >= k:
        raise ValueError(f"--arch item {item!r}: padding {pad} must be smaller than the kernel {k}")
    return layer


def parse_arch(text: str, in_shape: Sequence[int]) -> list[Layer]:
    """The layers of an `--arch` string (module docstring) for inputs of shape (C, H, W);
    ValueError with one line saying what is wrong."""
    shape = tuple(int(v) for v in in_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input shape must be (channels, height, width), got {in_shape}")
    items = [s.strip().lower() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise ValueError(f"--arch {text!r}: empty item; list items such as {', '.join(ITEMS)}")
    layers: list[Layer] = []
    for item in items:
        parts = item.split(":")
        kind = parts[0]
        if kind in ("conv1d", "conv2d"):
            if layers and not layers[-1].is_conv:
                raise ValueError(f"--arch item {item!r}: a convolution cannot follow a dense layer")
            layers.append(_conv(item, parts, shape))
            shape = layers[-1].out_shape
        elif kind == "maxpool":
            if len(parts) != 2:
                raise ValueError(f"--arch item {item!r}: write maxpool:P")
            p = _int(parts[1], "pool size", item)
            if not layers or not layers[-1].is_conv or layers[-1].pool != 1:
                raise ValueError(f"--arch item {item!r}: maxpool must follow a convolution (one per convolution)")
            last = layers[-1]
            pooled = Layer(last.op, last.in_shape, last.n_out, last.kernel, last.stride, last.pad, p)
            _, oh, ow = pooled.out_shape
            if oh < 1 or ow < 1:
                raise ValueError(f"--arch item {item!r}: pool {p} is larger than its "
                                 f"{'x'.join(map(str, last.conv_shape[1:]))} input")
            layers[-1] = pooled
            shape = pooled.out_shape
        elif kind == "dense":
            if len(parts) != 2:
                raise ValueError(f"--arch item {item!r}: write dense:N")
            n = _int(parts[1], "width", item)
            layers.append(Layer("dense", shape, n))
            shape = (n, 1, 1)
        else:
            raise ValueError(f"--arch item {item!r}: unknown; use {', '.join(ITEMS)}")
    if layers[-1].op != "dense":
        raise ValueError(f"--arch {text!r}: the last item must be dense:N, the output layer")
    return layers


def dense_layers(sizes: Sequence[int]) -> list[Layer]:
    """The layers of a dense network of widths `sizes` (inputs first)."""
    return [Layer("dense", (int(a), 1, 1), int(b)) for a, b in zip(sizes[:-1], sizes[1:])]


def describe_arch(layers: Sequence[Layer]) -> str:
    """The `--arch` string of layers (round trip of parse_arch)."""
    out = []
    for l in layers:
        if l.is_conv:
            k = l.kernel[1]
            opts = "".join([f":s{l.stride[1]}" if l.stride[1] != 1 else "", f":p{l.pad[1]}" if l.pad[1] else ""])
            out.append(f"{l.op}:{l.n_out}:{k}{opts}")
            if l.pool != 1:
                out.append(f"maxpool:{l.pool}")
        else:
            out.append(f"dense:{l.n_out}")
    return ",".join(out)
