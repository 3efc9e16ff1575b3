"""cffi builder of `pyruntime._mbnn`: the C runtime (runtime_c/) on the host.

API mode, out of line: `pip install -e .` compiles runtime_c/src/*.c together
with the small batch loops below into one extension module (setup.py names
this file in `cffi_modules`). To build it by hand into the source tree:

    python pyruntime/_build.py

The list of C files comes from runtime_c/sources.mk when it exists (the
runtime's Makefile shares it), else from a glob of runtime_c/src/*.c.
"""

from __future__ import annotations

import glob
import os
import re

import cffi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME = os.path.join(ROOT, "runtime_c")
INCLUDE = os.path.join(RUNTIME, "include")
# The simulated NOR flash of the C tests, for the storage tests in Python.
SIM = os.path.join(RUNTIME, "sim")

# The public API (runtime_c/include/mbnn.h) as cffi needs it. `...` lets the
# compiler fill in the enum values and the struct layout, so only the fields
# Python reads are named here.
CDEF = """
typedef enum {
    MBNN_OK, MBNN_ERR_NULL, MBNN_ERR_TRUNCATED, MBNN_ERR_BAD_MAGIC,
    MBNN_ERR_VERSION, MBNN_ERR_CRC, MBNN_ERR_BAD_HEADER, MBNN_ERR_BAD_LAYER,
    MBNN_ERR_BAD_OFFSET, MBNN_ERR_BAD_WEIGHTS, MBNN_ERR_ARENA_TOO_SMALL,
    MBNN_ERR_ALIGN, MBNN_ERR_NO_LEARN, MBNN_ERR_BAD_LABEL,
    MBNN_ERR_BUFFER_TOO_SMALL, MBNN_ERR_STATE_CORRUPT, MBNN_ERR_STATE_MODEL,
    MBNN_ERR_STORE_EMPTY, MBNN_ERR_STORE_TORN, MBNN_ERR_FLASH_IO,
    MBNN_ERR_FLASH_GEOMETRY, MBNN_STATUS_COUNT, ...
} mbnn_status;

typedef enum { MBNN_MODE_INFER, MBNN_MODE_LEARN, ... } mbnn_mode;

#define MBNN_FORMAT_VERSION ...
#define MBNN_STATE_VERSION ...
#define MBNN_MAX_LAYERS ...
#define MBNN_MAX_WIDTH ...

typedef struct {
    uint32_t blob_crc;
    uint32_t seed;
    uint32_t step;
    int8_t zero_point;
    uint8_t out_frac_bits;
    uint8_t rms_shift;
    uint8_t n_layers;
    uint8_t can_learn;
    uint16_t n_inputs, n_classes;
    ...;
} mbnn_model;

const char *mbnn_strerror(mbnn_status status);
mbnn_status mbnn_arena_size(const void *blob, size_t blob_len, mbnn_mode mode,
                            size_t *arena_len);
mbnn_status mbnn_model_init(mbnn_model *model, const void *blob, size_t blob_len,
                            void *arena, size_t arena_len);
mbnn_status mbnn_infer(mbnn_model *model, const int8_t *x, int32_t *logits);
mbnn_status mbnn_predict(mbnn_model *model, const int8_t *x, uint16_t *prediction);
mbnn_status mbnn_learn(mbnn_model *model, const int8_t *x, uint16_t label,
                       uint16_t *prediction, uint32_t *loss);
mbnn_status mbnn_state_size(const mbnn_model *model, size_t *size);
mbnn_status mbnn_state_save(const mbnn_model *model, void *buf, size_t buf_len);
mbnn_status mbnn_state_load(mbnn_model *model, const void *buf, size_t buf_len);
mbnn_status mbnn_state_pick(const mbnn_model *model, const void *slot_a, size_t len_a,
                            const void *slot_b, size_t len_b, unsigned *slot);
uint32_t mbnn_crc32(uint32_t crc, const void *data, size_t len);

typedef struct { uint32_t size; uint32_t pos; uint32_t crc; ...; } mbnn_state_stream;
mbnn_status mbnn_state_save_begin(const mbnn_model *model, mbnn_state_stream *s);
mbnn_status mbnn_state_save_next(const mbnn_model *model, mbnn_state_stream *s,
                                 void *dst, size_t len, size_t *produced);
mbnn_status mbnn_state_load_begin(const mbnn_model *model, mbnn_state_stream *s, int apply);
mbnn_status mbnn_state_load_next(mbnn_model *model, mbnn_state_stream *s,
                                 const void *src, size_t len);
mbnn_status mbnn_state_load_end(mbnn_model *model, mbnn_state_stream *s);

typedef struct {
    void *ctx;
    uint32_t prog_size, block_size, region_size;
    ...;
} mbnn_flash;
typedef struct {
    uint32_t seq, step, erases, slots, blocks_per_slot;
} mbnn_store_info;
mbnn_status mbnn_store_page_size(const mbnn_model *model, const mbnn_flash *flash,
                                 size_t *page_len);
mbnn_status mbnn_store_save(const mbnn_model *model, const mbnn_flash *flash,
                            void *page, size_t page_len, mbnn_store_info *info);
mbnn_status mbnn_store_load(mbnn_model *model, const mbnn_flash *flash,
                            void *page, size_t page_len, mbnn_store_info *info);

/* The simulated NOR flash of the tests (runtime_c/sim/mbnn_flashsim.h). */
typedef struct {
    uint8_t *mem;
    uint32_t *erase_count;
    uint32_t prog_size, block_size, region_size;
    uint32_t ops;
    uint32_t reads, progs, erases;
    uint32_t cut_op, cut_at, scatter;
    uint32_t fail_read, fail_prog, fail_erase;
    uint32_t violations;
    uint32_t rng;
    uint8_t off;
} mbnn_flashsim;
int mbnn_flashsim_init(mbnn_flashsim *sim, uint8_t *mem, uint32_t *erase_count,
                       uint32_t prog_size, uint32_t block_size, uint32_t region_size);
void mbnn_flashsim_flash(mbnn_flashsim *sim, mbnn_flash *flash);
void mbnn_flashsim_power_on(mbnn_flashsim *sim);

mbnn_status mbnnpy_infer_batch(mbnn_model *model, const int8_t *x, size_t n,
                               int32_t *logits, size_t *failed);
mbnn_status mbnnpy_predict_batch(mbnn_model *model, const int8_t *x, size_t n,
                                 uint16_t *predictions, size_t *failed);
mbnn_status mbnnpy_learn_batch(mbnn_model *model, const int8_t *x,
                               const uint16_t *labels, size_t n,
                               uint16_t *predictions, uint32_t *losses,
                               size_t *failed);
"""

# Loops over samples, in C so that a batch costs one call from Python. Each
# stops at the first error and stores the index of the failing sample in
# *failed; the samples before it have been processed.
SOURCE = r"""
#include "mbnn.h"
#include "mbnn_flashsim.h"

static mbnn_status mbnnpy_infer_batch(mbnn_model *model, const int8_t *x, size_t n,
                                      int32_t *logits, size_t *failed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        mbnn_status s = mbnn_infer(model, x + i * model->n_inputs,
                                   logits + i * model->n_classes);
        if (s != MBNN_OK) {
            *failed = i;
            return s;
        }
    }
    return MBNN_OK;
}

static mbnn_status mbnnpy_predict_batch(mbnn_model *model, const int8_t *x, size_t n,
                                        uint16_t *predictions, size_t *failed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        mbnn_status s = mbnn_predict(model, x + i * model->n_inputs, predictions + i);
        if (s != MBNN_OK) {
            *failed = i;
            return s;
        }
    }
    return MBNN_OK;
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
    """The runtime's C files, absolute paths, sorted."""
    mk = os.path.join(RUNTIME, "sources.mk")
    found: list[str] = []
    if os.path.exists(mk):
        with open(mk, encoding="utf-8") as fh:
            text = fh.read().replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            for token in re.findall(r"[\w./$(){}-]+\.c\b", line):
                token = re.sub(r"^\$[({]\w+[)}]/?", "", token)  # $(MBNN_DIR)/src/x.c
                for base in (RUNTIME, ROOT):
                    path = os.path.normpath(os.path.join(base, token))
                    if os.path.isfile(path):
                        found.append(path)
                        break
    if not found:
        found = glob.glob(os.path.join(RUNTIME, "src", "*.c"))
    return sorted(set(found))


def make_builder(relative: bool) -> cffi.FFI:
    """The builder; source paths relative to the repository root when
    `relative` (what setuptools wants, run from setup.py's folder), else
    absolute (what FFI.compile wants: it changes into its tmpdir)."""

    def fix(path: str) -> str:
        return os.path.relpath(path, ROOT) if relative else path

    builder = cffi.FFI()
    builder.cdef(CDEF)
    builder.set_source(
        "pyruntime._mbnn",
        SOURCE,
        sources=[fix(p) for p in c_sources() + [os.path.join(SIM, "mbnn_flashsim.c")]],
        include_dirs=[fix(INCLUDE), fix(SIM)],
        extra_compile_args=["-O2", "-std=c99"],
    )
    return builder


ffibuilder = make_builder(relative=os.path.abspath(os.getcwd()) == ROOT)

if __name__ == "__main__":
    import shutil
    import tempfile

    if not c_sources():
        raise SystemExit("no C sources in runtime_c/src: nothing to build")
    with tempfile.TemporaryDirectory() as tmp:
        built = make_builder(relative=False).compile(tmpdir=tmp, verbose=False)
        # One module only: a stale _mbnn.cpython-*.so would shadow _mbnn.abi3.so.
        for old in glob.glob(os.path.join(ROOT, "pyruntime", "_mbnn.*.so")):
            os.remove(old)
        dest = os.path.join(ROOT, "pyruntime", os.path.basename(built))
        shutil.copy2(built, dest)
        print(f"built {os.path.relpath(dest, ROOT)}")
