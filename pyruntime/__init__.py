"""metabnn on the host.

- `pyruntime.Model`: the C runtime (runtime_c/) through cffi, the very code
  that runs on the microcontroller.
- `pyruntime.reference.Model`: the integer arithmetic of docs/ARITHMETIC.md in
  numpy, readable, the specification the C code must match bit for bit.
- `pyruntime.MbnnError`: what both raise for an error status of the runtime
  (a ValueError whose message starts with the status's name).
- `pyruntime.format`: the .mbnn blob and the learned state, defined once
  (layout tables, reader, writer, validator, input quantization);
  `pyruntime.errors` the statuses; `python -m pyruntime.codegen` writes the C
  header and the doc tables from them. This package imports nothing from
  export/ or targets/.

Both models share one interface (tests/test_model_interface.py drives both
with the same calls)::

    m = Model.load("model.mbnn", learn=True)   # or the blob's bytes
    m.n_inputs, m.n_classes, m.step
    m.infer(X)          # int32 logits (N, n_classes); X int8 (N, n_inputs)
    m.predict(X)        # int64 classes (N,)
    m.learn(X, y)       # predictions made before each update, one sample after another
    m.learn(X, y, return_loss=True); m.last_losses
    m.quantize(F)       # float features -> int8 with the blob's input scale
    m.out_frac_bits, m.arena_size, m.can_learn, m.blob
    m.state(); m.load_state(b); m.pick_state(a, b)

`Model` and `reference` are imported on first use, so `import pyruntime` works
before the extension is built.
"""

from typing import Any

from pyruntime.errors import MbnnError

__all__ = ["Model", "MbnnError", "reference"]


def __getattr__(name: str) -> Any:
    if name == "Model":
        from pyruntime.model import Model

        return Model
    if name == "reference":
        import importlib

        return importlib.import_module("pyruntime.reference")
    raise AttributeError(f"module 'pyruntime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + ["Model", "reference"])
