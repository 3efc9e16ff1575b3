/* Long learning runs with random inputs and labels on a golden model (first
 * byte picks it); the rest of the bytes are samples (n_inputs bytes, then a
 * label byte), replayed for 300 steps. Invariants: every valid label
 * learns, a label out of range changes nothing, predictions and losses stay
 * in range, a memory (a blob with memory slots) has seen every sample and
 * holds only labels below n_classes, and the state after the run saves and
 * reloads. */
#include "fuzz_common.h"

static uint32_t arena[MBNN_GOLDEN_MAX_ARENA / 4u + 1u];
static uint8_t state[MBNN_GOLDEN_MAX_STATE];
static int8_t x[MBNN_MAX_WIDTH];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const mbnn_golden *g;
    mbnn_model m;
    size_t pos = 1, i, st = 0;
    uint32_t step, loss, before;
    uint16_t pred, label;

    if (size < 2u) {
        return 0;
    }
    g = fuzz_golden(data[0]);
    FUZZ_ASSERT(mbnn_model_init(&m, g->blob, g->blob_len, arena, g->arena_learn) == MBNN_OK);
    for (step = 0; step < 300u; step++) {
        for (i = 0; i < m.n_inputs; i++, pos++) {
            x[i] = (int8_t)data[1u + (pos - 1u) % (size - 1u)];
        }
        label = data[1u + (pos++ - 1u) % (size - 1u)];
        if (label >= m.n_classes) {
            before = fuzz_fingerprint(&m);
            FUZZ_ASSERT(mbnn_learn(&m, x, label, &pred, &loss) == MBNN_ERR_BAD_LABEL);
            FUZZ_ASSERT(fuzz_fingerprint(&m) == before);
            label = (uint16_t)(label % m.n_classes);
        }
        FUZZ_ASSERT(mbnn_learn(&m, x, label, &pred, &loss) == MBNN_OK);
        FUZZ_ASSERT(pred < m.n_classes && loss <= 32768u);
    }
    FUZZ_ASSERT(m.step == (m.rehearsal_count > 0u ? 600u : 300u)); /* rehearsal: 2 steps per sample */
    FUZZ_ASSERT(m.memory_slots == 0u || m.memory_seen == 300u);
    for (i = 0; i < m.memory_slots; i++) {
        FUZZ_ASSERT(m.memory_labels[i] < m.n_classes);
    }
    FUZZ_ASSERT(mbnn_state_size(&m, &st) == MBNN_OK && st <= sizeof(state));
    before = fuzz_fingerprint(&m);
    FUZZ_ASSERT(mbnn_state_save(&m, state, st) == MBNN_OK);
    FUZZ_ASSERT(mbnn_state_load(&m, state, st) == MBNN_OK && fuzz_fingerprint(&m) == before);
    return 0;
}
