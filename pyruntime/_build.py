"""cffi builder of `pyruntime._mbnn`: the C runtime (runtime_c/) on the host.

API mode, out of line: `pip install -e .` compiles runtime_c/src/*.c together
with the small batch loops below into one extension module (setup.py names
this file in `cffi_modules`). To build it by hand into the source tree:

    python pyruntime/_build.py

The list of C files is runtime_c/sources.txt (the one list every build
reads); the declarations come from runtime_c/include/mbnn.h through the C
preprocessor.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sysconfig

import cffi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME = os.path.join(ROOT, "runtime_c")
INCLUDE = os.path.join(RUNTIME, "include")
# The simulated NOR flash of the C tests, for the storage tests in Python.
SIM = os.path.join(RUNTIME, "sim")

# The binding's own batch loops (SOURCE below); the runtime's API comes from
# mbnn.h itself (api_cdef), so nothing restates it.
# (Inference needs none: the runtime's mbnn_infer_batch is one call.)
BATCH_CDEF = """
mbnn_status mbnnpy_learn_batch(mbnn_model *model, const int8_t *x,
                               const uint16_t *labels, size_t n,
                               uint16_t *predictions, uint32_t *losses,
                               size_t *failed);
size_t mbnnpy_quantize_f32(const float *f, size_t n, double scale, int zp, int8_t *q);
size_t mbnnpy_quantize_f64(const double *f, size_t n, double scale, int zp, int8_t *q);
"""


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


def api_cdef() -> str:
    """The declarations of runtime_c/include/mbnn.h (and of the tests' simulated
    flash, runtime_c/sim/mbnn_flashsim.h) as cffi reads them: the headers
    run through the C preprocessor (its #include lines dropped: cffi knows the
    standard types), and its integer macros as cffi constants."""
    header = ""
    for path in (os.path.join(INCLUDE, "mbnn.h"), os.path.join(SIM, "mbnn_flashsim.h")):
        with open(path, encoding="utf-8") as fh:
            header += "".join(line for line in fh if not line.lstrip().startswith("#include"))

    def cpp(*flags: str) -> str:
        return subprocess.run([*_compiler(), "-E", "-P", *flags, "-x", "c", "-"], input=header,
                              capture_output=True, text=True, check=True).stdout

    macros = [m.group(1) for m in re.finditer(r"^#define (MBNN_\w+) (?!\")\S", cpp("-dM"), re.M)]
    return cpp() + "".join(f"#define {name} ...\n" for name in macros)


# The learning loop over samples, in C so that a batch costs one call from
# Python. It stops at the first error and stores the index of the failing
# sample in *failed; the samples before it have been processed.
SOURCE = r"""
#include <math.h>

#include "mbnn.h"
#include "mbnn_flashsim.h"

/* Features to int8 exactly as pyruntime.format.quantize (numpy, float64):
 * q = clamp(rint(f / scale) + zp, -128, 127), rint rounding ties to even
 * (nearbyint in the default rounding mode). Returns the number of NaN
 * features, whose q is meaningless (the caller then uses numpy). */
#define MBNNPY_QUANTIZE(T)                                                       \
    size_t mbnnpy_quantize_##T(const T *f, size_t n, double scale, int zp,       \
                               int8_t *q)                                        \
    {                                                                            \
        size_t i, nan = 0;                                                       \
        for (i = 0; i < n; i++) {                                                \
            double v = nearbyint((double)f[i] / scale) + zp;                     \
            nan += v != v;                                                       \
            q[i] = (int8_t)(v != v ? 0 : v < -128.0 ? -128 : v > 127.0 ? 127 : (int)v); \
        }                                                                        \
        return nan;                                                              \
    }
typedef float f32;
typedef double f64;
static MBNNPY_QUANTIZE(f32)
static MBNNPY_QUANTIZE(f64)

/* Every label is checked before the first update, so a bad label anywhere in
 * the batch changes nothing. */
static mbnn_status mbnnpy_learn_batch(mbnn_model *model, const int8_t *x,
                                      const uint16_t *labels, size_t n,
                                      uint16_t *predictions, uint32_t *losses,
                                      size_t *failed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (labels[i] >= model->n_classes) {
            *failed = i;
            return MBNN_ERR_BAD_LABEL;
        }
    }
    for (i = 0; i < n; i++) {
        mbnn_status s = mbnn_learn(model, x + i * model->n_inputs, labels[i],
                                   predictions + i, losses + i);
        if (s != MBNN_OK) {
            *failed = i;
            return s;
        }
    }
    return MBNN_OK;
}
"""


def c_sources() -> list[str]:
    """The runtime's C files (runtime_c/sources.txt, the one list), absolute paths."""
    with open(os.path.join(RUNTIME, "sources.txt"), encoding="utf-8") as fh:
        return [os.path.join(RUNTIME, line) for line in fh.read().split()]


def make_builder(relative: bool) -> cffi.FFI:
    """The builder; source paths relative to the repository root when
    `relative` (what setuptools wants, run from setup.py's folder), else
    absolute (what FFI.compile wants: it changes into its tmpdir)."""

    def fix(path: str) -> str:
        return os.path.relpath(path, ROOT) if relative else path

    builder = cffi.FFI()
    builder.cdef(api_cdef() + BATCH_CDEF)
    builder.set_source(
        "pyruntime._mbnn",
        SOURCE,
        sources=[fix(p) for p in c_sources() + [os.path.join(SIM, "mbnn_flashsim.c")]],
        include_dirs=[fix(INCLUDE), fix(SIM)],
        extra_compile_args=["-O2", "-std=c99"],
        libraries=["m"],
    )
    return builder


ffibuilder = make_builder(relative=os.path.abspath(os.getcwd()) == ROOT)

if __name__ == "__main__":
    import glob
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        built = make_builder(relative=False).compile(tmpdir=tmp, verbose=False)
        # One module only: a stale _mbnn.cpython-*.so would shadow _mbnn.abi3.so.
        for old in glob.glob(os.path.join(ROOT, "pyruntime", "_mbnn.*.so")):
            os.remove(old)
        dest = os.path.join(ROOT, "pyruntime", os.path.basename(built))
        shutil.copy2(built, dest)
        print(f"built {os.path.relpath(dest, ROOT)}")
