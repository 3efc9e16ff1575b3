/* Any bytes as a blob: arena sizes, init, then inference, learning and a
 * state round trip on what init accepts. Invariants: a refused blob leaves
 * the model zeroed; an accepted one infers and learns without a sanitizer
 * finding, refuses a bad label changing nothing, and its state reloads. */
#include "fuzz_common.h"

#define MAX_BLOB (1u << 16)
#define MAX_ARENA (1u << 22)

static uint32_t blob[MAX_BLOB / 4u];
static uint32_t arena[MAX_ARENA / 4u];
static uint8_t state[MAX_ARENA];
static int8_t x[8192];
static int32_t logits[8192];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mbnn_model m;
    size_t infer = 0, learn = 0, arena_len, st = 0, i;
    uint16_t pred;
    uint32_t loss, before;

    if (size > MAX_BLOB) {
        return 0;
    }
    memcpy(blob, data, size);
    if (mbnn_arena_size(blob, size, MBNN_MODE_INFER, &infer) != MBNN_OK) {
        FUZZ_ASSERT(mbnn_model_init(&m, blob, size, arena, sizeof(arena)) != MBNN_OK);
        FUZZ_ASSERT(m.blob == NULL);
        return 0;
    }
    if (mbnn_arena_size(blob, size, MBNN_MODE_LEARN, &learn) != MBNN_OK) {
        learn = 0;
    }
    arena_len = learn != 0u && learn <= sizeof(arena) ? learn : infer;
    if (arena_len > sizeof(arena)) {
        return 0;
    }
    FUZZ_ASSERT(mbnn_model_init(&m, blob, size, arena, arena_len) == MBNN_OK);
    for (i = 0; i < m.n_inputs; i++) {
        x[i] = (int8_t)data[(i * 7u) % size];
    }
    FUZZ_ASSERT(mbnn_infer(&m, x, logits) == MBNN_OK);
    FUZZ_ASSERT(mbnn_predict(&m, x, &pred) == MBNN_OK && pred < m.n_classes);
    if (!m.can_learn) {
        FUZZ_ASSERT(mbnn_learn(&m, x, 0, NULL, NULL) == MBNN_ERR_NO_LEARN);
        return 0;
    }
    before = fuzz_fingerprint(&m);
    FUZZ_ASSERT(mbnn_learn(&m, x, m.n_classes, &pred, &loss) == MBNN_ERR_BAD_LABEL);
    FUZZ_ASSERT(fuzz_fingerprint(&m) == before && m.step == 0u);
    for (i = 0; i < 3u; i++) {
        x[i % m.n_inputs] = (int8_t)(x[i % m.n_inputs] ^ 0x55);
        FUZZ_ASSERT(mbnn_learn(&m, x, (uint16_t)(i % m.n_classes), &pred, &loss) == MBNN_OK);
        FUZZ_ASSERT(pred < m.n_classes && loss <= 32768u);
    }
    FUZZ_ASSERT(mbnn_state_size(&m, &st) == MBNN_OK);
    if (st <= sizeof(state)) {
        before = fuzz_fingerprint(&m);
        FUZZ_ASSERT(mbnn_state_save(&m, state, st) == MBNN_OK);
        FUZZ_ASSERT(mbnn_state_load(&m, state, st) == MBNN_OK);
        FUZZ_ASSERT(fuzz_fingerprint(&m) == before);
    }
    return 0;
}
