"""Small random models and streams for parity runs and footprint figures.

Every emulated board runs the same models, so they must fit the smallest one
(the micro:bit's Cortex-M0: 16 KiB of RAM for the arena, the saved state,
the stack and the rest). Two shapes, each with a layer width that is not a
multiple of 32 (padding) and, in the int8 one, a frozen layer between two that
learn (errors flow through a layer that does not learn):

- "int8": 50 int8 features -> 33 -> 24 (frozen) -> 10 classes
- "bits": 70 features binarized by sign -> 40 -> 10 classes
- "conv": a 1-D sensor-sized conv net (format version 2), int8 windows of
  3 channels x 24 samples -> conv1d 8 k5 pad 2 pool 2 -> conv1d 12 k3 pad 1
  pool 2 -> flatten 72 -> 6 classes, every layer learning
- "rehearsal": the "int8" network with a rehearsal set of 20 samples and 16
  memory slots (format version 3): every learning call is two steps, the second
  on a sample of the set or, half the time once the memory has rows, of the
  memory, which keeps samples of the stream by reservoir sampling (it fills
  after 16 labelled samples and has rows replaced all through a parity stream);
  its learned state (version 2) carries the memory
"""

from __future__ import annotations

import math

import numpy as np

from pyruntime.format import KIND_BITS, KIND_INT8, BlobSpec, LayerSpec, meta_table, write_blob

from targets.stream import Stream

SHAPES = {
    "int8": (KIND_INT8, [50, 33, 24, 10], [True, False, True]),
    "bits": (KIND_BITS, [70, 40, 10], [True, True]),
    "conv": (KIND_INT8, [72, 6], [True, True, True]),
    "rehearsal": (KIND_INT8, [50, 33, 24, 10], [True, False, True]),
}
# Samples of the rehearsal set, per shape that has one.
REHEARSAL = {"rehearsal": 20}
# Memory slots (samples of the stream kept in the arena), per shape with a rehearsal set that has them.
MEMORY = {"rehearsal": 16}
# The conv layers in front of the dense ones, per shape: (input map, [(op, channels, kernel, pad, pool)]).
CONVS = {
    "conv": ((3, 1, 24), [("conv1d", 8, (1, 5), (0, 2), 2), ("conv1d", 12, (1, 3), (0, 1), 2)]),
}


def shape_name(kind: str) -> str:
    """The layers of a shape in a few characters: "50-33-24-10", or for a conv
    shape "3x1x24 c8k5p2 c12k3p2 72-6" (channels, kernel width, pool); with a
    rehearsal set "50-33-24-10 +20 rehearsal +16 memory"."""
    if kind in REHEARSAL:
        memory = f" +{MEMORY[kind]} memory" if MEMORY.get(kind) else ""
        return "-".join(map(str, SHAPES[kind][1])) + f" +{REHEARSAL[kind]} rehearsal" + memory
    if kind not in CONVS:
        return "-".join(map(str, SHAPES[kind][1]))
    (c, h, w), convs = CONVS[kind]
    parts = [f"c{ch}k{k[1]}p{pool}" for _, ch, k, _, pool in convs]
    return f"{c}x{h}x{w} " + " ".join(parts) + " " + "-".join(map(str, SHAPES[kind][1]))


def random_blob(kind: str = "int8", seed: int = 0, sizes: list[int] | None = None,
                learns: list[bool] | None = None) -> bytes:
    """A .mbnn blob with random weights and constants that make learning active:
    thresholds near the middle of each neuron's range, STE windows that open for
    a fair share of samples, learning rates that flip bits now and then."""
    input_kind, default_sizes, default_learns = SHAPES[kind]
    sizes = sizes or default_sizes
    learns = learns or default_learns
    rng = np.random.default_rng(seed)
    frac = 12
    layers = []
    shape, convs = CONVS.get(kind, (None, []))
    n_layers = len(convs) + len(sizes) - 1
    for idx in range(n_layers):
        lkind = input_kind if idx == 0 else KIND_BITS
        geometry: dict = {}
        if idx < len(convs):  # conv layers: lr per position, their step sums over the positions
            op, channels, kernel, pad, pool = convs[idx]
            geometry = {"op": op, "in_shape": shape, "kernel": kernel, "pad": pad, "pool": pool}
            wshape: tuple[int, ...] = (channels, shape[0], *kernel)
        else:
            wshape = (sizes[idx - len(convs) + 1], sizes[idx - len(convs)])
        n_out, n_in = wshape[0], int(np.prod(wshape[1:]))
        hidden = np.clip(rng.normal(0, 12, wshape).round(), -128, 127).astype(np.int8)
        spread = math.sqrt(n_in) * (70 if lkind == KIND_INT8 else 1)
        if idx < n_layers - 1:
            threshold = rng.normal(0, spread * 0.3, n_out).round()
            width = np.abs(rng.normal(spread, spread * 0.3, n_out)).round()
            params = (threshold, threshold - width, threshold + width)
            gscale = rng.integers(8192, 32768, n_out)
        else:
            one = 2.0 ** frac
            params = ((one * 2 / spread * rng.uniform(0.5, 1, n_out)).round(),
                      (one * rng.uniform(-0.5, 0.5, n_out)).round())
            gscale = rng.integers(16384, 32768, n_out)
        layer = LayerSpec(
            bits=(hidden < 0).astype(np.uint8),
            params=tuple(np.asarray(p, dtype=np.int64) for p in params),
            gscale=gscale,
            input_kind=lkind,
            hidden=hidden if learns[idx] else None,
            meta=meta_table(1.35, 4) if learns[idx] else None,
            lr_q16=((3 << 16) // (8 if geometry else 1)) if learns[idx] else 0,
            hscale_log2=4,
            bwd_shift=2,
            **geometry,
        )
        layers.append(layer)
        shape = layer.out_shape() if geometry else None
    spec = BlobSpec(layers, input_zero_point=0, out_frac_bits=frac, rms_shift=6, seed=int(rng.integers(0, 2**32)))
    if kind in REHEARSAL:  # labelled samples of the class prototypes of random_stream's default seed
        held = random_stream(spec.n_inputs, spec.n_classes, REHEARSAL[kind], unlabelled_every=0)
        spec.rehearsal = (held.x, held.y)
        spec.memory = MEMORY.get(kind, 0)
    return write_blob(spec)


def random_stream(n_inputs: int, n_classes: int, n: int = 1100, unlabelled_every: int = 11,
                  seed: int = 1) -> Stream:
    """n int8 samples of noisy class prototypes (each class a random sign
    pattern over the features, scaled by random magnitudes, plus Gaussian
    noise), so that there is something to learn: the prequential accuracy of
    the parity models rises to about 60% (int8) and 97% (bits) within the stream. Every
    `unlabelled_every`-th sample has no label (predict only). The default
    gives 1000 learning steps."""
    rng = np.random.default_rng(seed)
    protos = rng.choice([-1, 1], (n_classes, n_inputs))
    y = rng.integers(0, n_classes, n).astype(np.int64)
    x = protos[y] * rng.integers(20, 128, (n, n_inputs)) + rng.normal(0, 60, (n, n_inputs))
    x = np.clip(np.round(x), -128, 127).astype(np.int8)
    if unlabelled_every:
        y[unlabelled_every - 1::unlabelled_every] = -1
    return Stream(x, y)
