"""`Model`: the C runtime (runtime_c/) on the host, through cffi.

The same code that runs on the microcontroller, compiled into the extension
module `pyruntime._mbnn` when the package is installed (`pip install -e .`).
Loops over samples run in C. Every error of the runtime becomes a
`pyruntime.MbnnError`; bad arguments are refused in Python with a ValueError
(or TypeError) before the C code sees them.
"""

from __future__ import annotations

import os

import numpy as np

from pyruntime import api
from pyruntime.api import BlobLike
from pyruntime.errors import MbnnError
from pyruntime.format import BLOB_HEADER, quantize

try:
    from pyruntime._mbnn import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the C runtime extension pyruntime._mbnn is not built; run `bash scripts/setup.sh` "
        "(or `pip install -e .` in the repository) to compile runtime_c/ for this machine"
    ) from exc

KERNEL_LEVELS = api.KERNEL_LEVELS
# The MBNN_HOST_* value of each level (KERNEL_LEVELS[i]: i + 1).
_LEVEL_VALUES = {"plain": lib.MBNN_HOST_PLAIN, "popcnt": lib.MBNN_HOST_POPCNT,
                 "avx2": lib.MBNN_HOST_AVX2, "avx512": lib.MBNN_HOST_AVX512}


def _kernel_cap(cap: str | None) -> int:
    """The MBNN_HOST_* value of a level name (None or "best": no cap); ValueError for others."""
    level = api.kernel_level(cap)
    return int(lib.MBNN_HOST_BEST) if level is None else int(_LEVEL_VALUES[level])


def cpu_kernels() -> str:
    """The highest level of `KERNEL_LEVELS` this CPU runs (with this build of the runtime)."""
    value = int(lib.mbnn_host_level(ffi.NULL))
    return next(name for name, v in _LEVEL_VALUES.items() if v == value)


# The cap every new Model starts with: the environment variable
# MBNN_HOST_KERNELS (a name of KERNEL_LEVELS, or "best"), read once here, so
# that a whole test run can be made to use lower kernels than the CPU has.
_DEFAULT_CAP = _kernel_cap(os.environ.get("MBNN_HOST_KERNELS") or None)

_INT8, _INT32 = np.dtype(np.int8), np.dtype(np.int32)

# Model.quantize in C: the function and the cffi buffer type of each float dtype.
_QUANTIZE_C = {np.dtype(np.float32): (lib.mbnnpy_quantize_f32_any, "float[]"),
               np.dtype(np.float64): (lib.mbnnpy_quantize_f64_any, "double[]")}


def _aligned_copy(data: bytes) -> np.ndarray:
    """A 4-byte aligned private copy of data (uint32 words, zero padded)."""
    buf = np.zeros((len(data) + 3) // 4, dtype=np.uint32)
    buf.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return buf


def _raise(status: int, *, sample: int | None = None, detail: str | None = None) -> None:
    text = ffi.string(lib.mbnn_strerror(status)).decode("utf-8", "replace")
    raise MbnnError(status, text, sample=sample, detail=detail)


def _check(status: int, *, sample: int | None = None, detail: str | None = None) -> None:
    if status != lib.MBNN_OK:
        _raise(status, sample=sample, detail=detail)


class Model:
    """One network bound to its own copy of the blob and its own arena.

    Build it with ``Model.load(path_or_bytes, learn=True)``. With
    ``learn=False`` the arena is sized for inference only (as on a device that
    only infers) and `learn` raises MbnnError ``model cannot learn``.

    Features are int8: ``X`` is a numpy int8 array of shape (N, n_inputs);
    `quantize` turns float features into them with the blob's input scale.
    Models are independent: several can live side by side.
    """

    def __init__(self, blob: BlobLike, learn: bool = True) -> None:
        data = api.blob_bytes(blob)
        self._learn_requested = bool(learn)
        self._blob_len = len(data)
        self._blob = _aligned_copy(data)
        blob_ptr = ffi.from_buffer("uint8_t[]", self._blob)
        size = ffi.new("size_t *")
        mode, status = lib.MBNN_MODE_INFER, lib.MBNN_ERR_NO_LEARN
        if learn:
            mode, status = lib.MBNN_MODE_LEARN, lib.mbnn_arena_size(blob_ptr, self._blob_len, lib.MBNN_MODE_LEARN, size)
        if status == lib.MBNN_ERR_NO_LEARN:  # nothing learns: an inference arena
            mode, status = lib.MBNN_MODE_INFER, lib.mbnn_arena_size(blob_ptr, self._blob_len, lib.MBNN_MODE_INFER, size)
        _check(status)
        self._arena = np.zeros(max(1, (size[0] + 3) // 4), dtype=np.uint32)
        self._m = ffi.new("mbnn_model *")
        _check(lib.mbnn_model_init_mode(self._m, blob_ptr, self._blob_len,
                                        ffi.from_buffer("uint8_t[]", self._arena), size[0], mode))
        self._blob_ptr = blob_ptr  # keeps the cdata views (and so the buffers) alive
        self._arena_len = int(size[0])
        self._set_cap(_DEFAULT_CAP)
        self.n_inputs = int(self._m.n_inputs)
        self.n_classes = int(self._m.n_classes)
        # Host metadata of the header (docs/FORMAT.md): input quantization.
        self.input_scale = float(BLOB_HEADER["input_scale"].read(data))
        self.input_zero_point = int(BLOB_HEADER["input_zero_point"].read(data))
        #: per-sample losses of the last `learn` call, int64 (N,): 32768 - p(label) in Q15
        self.last_losses = np.zeros(0, dtype=np.int64)

    def _set_cap(self, cap: int) -> None:
        _check(lib.mbnn_host_kernels(self._m, cap))
        self._cap = cap  # carried by pickle and copy (__reduce__)
        # The work buffer of mbnn_infer_batch (none where samples go one by one),
        # which depends on the kernels.
        size = ffi.new("size_t *")
        _check(lib.mbnn_batch_work_size(self._m, size))
        self._work = np.zeros(max(1, (size[0] + 3) // 4), dtype=np.uint32)
        self._work_ptr, self._work_len = ffi.from_buffer("uint8_t[]", self._work), int(size[0])

    def set_kernels(self, cap: str | None = None) -> None:
        """Use at most the kernels of level `cap` (a name of `KERNEL_LEVELS`;
        None or "best": the highest the CPU supports, the default). For tests
        and benchmarks: every level gives the same numbers bit for bit. The
        environment variable MBNN_HOST_KERNELS sets the cap new models start with."""
        self._set_cap(_kernel_cap(cap))

    @property
    def kernels(self) -> str:
        """The level of the kernels this model runs on this CPU (a name of `KERNEL_LEVELS`)."""
        value = int(lib.mbnn_host_level(self._m))
        return next(name for name, v in _LEVEL_VALUES.items() if v == value)

    @classmethod
    def load(cls, blob: BlobLike, learn: bool = True) -> "Model":
        """A model from a .mbnn file path or its bytes; raises MbnnError for a bad blob."""
        return cls(blob, learn=learn)

    # ----------------------------------------------------------------- info

    @property
    def step(self) -> int:
        """Learning steps taken (the state of the random generator)."""
        return int(self._m.step)

    @property
    def can_learn(self) -> bool:
        """Whether `learn` works: loaded with learn=True and some layer learns."""
        return bool(self._m.can_learn)

    @property
    def out_frac_bits(self) -> int:
        """Fraction bits of the fixed-point logits."""
        return int(self._m.out_frac_bits)

    @property
    def arena_size(self) -> int:
        """Bytes of RAM the runtime needs for this model in its mode."""
        return self._arena_len

    @property
    def blob(self) -> bytes:
        """The blob this model was loaded from."""
        return self._blob.view(np.uint8)[: self._blob_len].tobytes()

    def __reduce__(self):
        """Pickle and copy.deepcopy: the blob, the mode, the learned state and the kernel cap."""
        state = self.state() if self.can_learn else None
        return (_restore, (self.blob, self._learn_requested, state, self._cap))

    def __repr__(self) -> str:
        mode = "learn" if self.can_learn else "infer"
        return f"<pyruntime.Model {self.n_inputs}->{self.n_classes} {mode} step={self.step}>"

    # ---------------------------------------------------------------- input

    def quantize(self, features) -> np.ndarray:
        """Float features -> int8 as the blob says:
        ``clamp(round(f / input_scale) + input_zero_point, -128, 127)`` (ties to even;
        pyruntime.format.quantize, in one pass of C for float32/float64 arrays)."""
        fast = _QUANTIZE_C.get(features.dtype) if isinstance(features, np.ndarray) else None
        if fast is None:
            return quantize(features, self.input_scale, self.input_zero_point)
        fn, ctype = fast
        f = features if features.flags.c_contiguous else np.ascontiguousarray(features)
        q = np.empty(f.shape, _INT8)
        nan = fn(ffi.from_buffer(ctype, f), f.size, self.input_scale, self.input_zero_point,
                 ffi.from_buffer("int8_t[]", q))
        return q if nan == 0 else quantize(f, self.input_scale, self.input_zero_point)

    def _x(self, X) -> np.ndarray:
        return api.features(X, self.n_inputs)

    # ------------------------------------------------------------ inference

    def infer(self, X: np.ndarray) -> np.ndarray:
        """Logits, int32 (N, n_classes), fixed point with `out_frac_bits` fraction bits."""
        # What api.features accepts as it is, checked in fewer steps (one
        # sample costs about a microsecond of Python less); the rest goes there.
        if not (type(X) is np.ndarray and X.dtype is _INT8 and X.ndim == 2 and X.shape[1] == self.n_inputs
                and X.flags.c_contiguous):
            X = self._x(X)
        n = X.shape[0]
        out = np.empty((n, self.n_classes), _INT32)
        status = lib.mbnn_infer_batch(self._m, ffi.from_buffer("int8_t[]", X), n,
                                      ffi.from_buffer("int32_t[]", out), self._work_ptr, self._work_len)
        if status != lib.MBNN_OK:
            _raise(status)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted classes, int64 (N,): the argmax of the logits (ties: lowest index)."""
        return np.argmax(self.infer(X), axis=1)

    # ------------------------------------------------------------- learning

    def learn(self, X: np.ndarray, y, return_loss: bool = False):
        """Learn from the samples one after another, in order.

        Returns the predictions made before each sample's update, int64 (N,);
        with ``return_loss=True`` a pair (predictions, losses), the losses int64
        (N,) in Q15: ``32768 - p(label)`` (0: certain and right). The losses of
        the last call are also kept in `last_losses`.

        All labels are checked first: one out of 0..n_classes-1 raises
        MbnnError ``label out of range`` and nothing is learned. Another error
        in the middle of a batch stops there (MbnnError.sample tells which
        sample); the samples before it stay learned.
        """
        X = self._x(X)
        labels = api.labels(y, X.shape[0], self.n_classes)
        if not self.can_learn:
            _raise(lib.MBNN_ERR_NO_LEARN)
        pred = np.zeros(X.shape[0], dtype=np.uint16)
        loss = np.zeros(X.shape[0], dtype=np.uint32)
        failed = ffi.new("size_t *")
        status = lib.mbnnpy_learn_batch(
            self._m, ffi.from_buffer("int8_t[]", X), ffi.from_buffer("uint16_t[]", labels),
            X.shape[0], ffi.from_buffer("uint16_t[]", pred), ffi.from_buffer("uint32_t[]", loss), failed)
        if status != lib.MBNN_OK:
            self.last_losses = loss[: int(failed[0])].astype(np.int64)
            _raise(status, sample=int(failed[0]))
        self.last_losses = loss.astype(np.int64)
        pred = pred.astype(np.int64)
        return (pred, self.last_losses.copy()) if return_loss else pred

    # ---------------------------------------------------------------- state

    def state(self) -> bytes:
        """What the model learned (docs/FORMAT.md "Learned state"), as bytes."""
        size = ffi.new("size_t *")
        _check(lib.mbnn_state_size(self._m, size))
        buf = np.zeros(max(1, (size[0] + 3) // 4), dtype=np.uint32)
        _check(lib.mbnn_state_save(self._m, ffi.from_buffer("uint8_t[]", buf), size[0]))
        return buf.view(np.uint8)[: size[0]].tobytes()

    def load_state(self, state: bytes | bytearray | memoryview) -> None:
        """Replace the learned state with one from `state()` of a model of the same blob.

        Everything is checked first: bad bytes raise MbnnError and the model
        keeps the state it had."""
        if not isinstance(state, (bytes, bytearray, memoryview)):
            raise TypeError(f"state must be the bytes returned by Model.state(), got {type(state).__name__}")
        data = bytes(state)
        buf = _aligned_copy(data)
        _check(lib.mbnn_state_load(self._m, ffi.from_buffer("uint8_t[]", buf), len(data)))

    def pick_state(self, slot_a: bytes | None, slot_b: bytes | None) -> int:
        """Which of two saved states to load (0 or 1), as a device with two flash
        slots does at start: the valid state of this model with the larger step.
        Raises MbnnError when neither slot holds one; save the next state over the
        other slot."""
        slots = [b"" if s is None else bytes(s) for s in (slot_a, slot_b)]
        bufs = [_aligned_copy(s) for s in slots]
        ptrs = [ffi.from_buffer("uint8_t[]", b) if len(s) else ffi.NULL for s, b in zip(slots, bufs)]
        slot = ffi.new("unsigned *")
        _check(lib.mbnn_state_pick(self._m, ptrs[0], len(slots[0]), ptrs[1], len(slots[1]), slot))
        return int(slot[0])


def _restore(blob: bytes, learn: bool, state: bytes | None, cap: int | None = None) -> Model:
    model = Model(blob, learn=learn)
    if cap is not None:
        model._set_cap(cap)
    if state is not None:
        model.load_state(state)
    return model
