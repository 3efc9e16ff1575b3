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
size_t mbnnpy_quantize_f32_any(const float *f, size_t n, double scale, int zp, int8_t *q);
size_t mbnnpy_quantize_f64_any(const double *f, size_t n, double scale, int zp, int8_t *q);
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
#include <string.h>

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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/* The same 4 features at a time on x86-64 CPUs with AVX2 (chosen at run
 * time): the division in double precision, VROUNDPD to nearest with ties to
 * even (nearbyint in the default rounding mode), the zero point added, the
 * clamp, then the exact integers narrowed to int8; the last n mod 4 as above.
 * The same numbers bit for bit. */
#define MBNNPY_QUANTIZE4(T, LOAD)                                                \
    __attribute__((target("avx2"))) static size_t mbnnpy_quantize4_##T(         \
        const T *f, size_t n, double scale, int zp, int8_t *q)                   \
    {                                                                            \
        const __m256d sc = _mm256_set1_pd(scale), z = _mm256_set1_pd((double)zp); \
        const __m256d lo = _mm256_set1_pd(-128.0), hi = _mm256_set1_pd(127.0);   \
        size_t i, nan = 0;                                                       \
        for (i = 0; i + 4u <= n; i += 4u) {                                      \
            __m256d v = _mm256_div_pd(LOAD(f + i), sc);                          \
            __m128i w;                                                           \
            int32_t b;                                                           \
            v = _mm256_add_pd(_mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z); \
            nan += (size_t)__builtin_popcount((unsigned)_mm256_movemask_pd(_mm256_cmp_pd(v, v, _CMP_UNORD_Q))); \
            w = _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_max_pd(v, lo), hi));    \
            w = _mm_packs_epi16(_mm_packs_epi32(w, w), w);                       \
            b = _mm_cvtsi128_si32(w);                                            \
            memcpy(q + i, &b, 4u);                                               \
        }                                                                        \
        return nan + mbnnpy_quantize_##T(f + i, n - i, scale, zp, q + i);        \
    }
#define MBNNPY_LOAD_F32(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define MBNNPY_LOAD_F64(p) _mm256_loadu_pd(p)
MBNNPY_QUANTIZE4(f32, MBNNPY_LOAD_F32)
MBNNPY_QUANTIZE4(f64, MBNNPY_LOAD_F64)
#define MBNNPY_HAVE_AVX2() (__builtin_cpu_init(), __builtin_cpu_supports("avx2"))
#else
#define MBNNPY_HAVE_AVX2() 0
#define mbnnpy_quantize4_f32 mbnnpy_quantize_f32
#define mbnnpy_quantize4_f64 mbnnpy_quantize_f64
#endif

/* What Python calls: the AVX2 version where the CPU has it. */
static size_t mbnnpy_quantize_f32_any(const float *f, size_t n, double scale, int zp, int8_t *q)
{
    return MBNNPY_HAVE_AVX2() ? mbnnpy_quantize4_f32(f, n, scale, zp, q) : mbnnpy_quantize_f32(f, n, scale, zp, q);
}

static size_t mbnnpy_quantize_f64_any(const double *f, size_t n, double scale, int zp, int8_t *q)
{
    return MBNNPY_HAVE_AVX2() ? mbnnpy_quantize4_f64(f, n, scale, zp, q) : mbnnpy_quantize_f64(f, n, scale, zp, q);
}

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
