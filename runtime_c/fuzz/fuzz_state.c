/* Any bytes as a learned state for a golden model (first byte picks it, the
 * second the chunk size of a streaming load). Invariants: a refused state
 * changes nothing; the streaming check pass gives the verdict of the
 * whole-buffer load; an accepted state saves back to a state that loads,
 * with every memory label (a blob with memory slots) below n_classes and the
 * memory's seen as the state has it. */
#include "fuzz_common.h"

static uint32_t arena[MBNN_GOLDEN_MAX_ARENA / 4u + 1u];
static uint8_t saved[MBNN_GOLDEN_MAX_STATE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const mbnn_golden *g;
    mbnn_model m;
    mbnn_state_stream s;
    mbnn_status whole, streamed = MBNN_OK;
    int ran = 0;
    size_t chunk, done, st = 0;
    uint32_t before, i;

    if (size < 2u) {
        return 0;
    }
    g = fuzz_golden(data[0]);
    chunk = 1u + data[1];
    data += 2;
    size -= 2;
    FUZZ_ASSERT(mbnn_model_init(&m, g->blob, g->blob_len, arena, g->arena_learn) == MBNN_OK);
    FUZZ_ASSERT(mbnn_learn(&m, g->learn_inputs, g->learn_labels[0], NULL, NULL) == MBNN_OK);
    before = fuzz_fingerprint(&m);
    /* Streaming check pass over exactly the bytes the header claims. */
    if (size >= 32u) {
        size_t total = (size_t)data[8] | ((size_t)data[9] << 8) | ((size_t)data[10] << 16) |
                       ((size_t)data[11] << 24);
        if (total <= size) {
            ran = 1;
            FUZZ_ASSERT(mbnn_state_load_begin(&m, &s, 0) == MBNN_OK);
            for (done = 0; streamed == MBNN_OK && done < total; done += chunk) {
                streamed = mbnn_state_load_next(&m, &s, data + done, total - done < chunk ? total - done : chunk);
            }
            if (streamed == MBNN_OK) {
                streamed = mbnn_state_load_end(&m, &s);
            }
            FUZZ_ASSERT(fuzz_fingerprint(&m) == before);
        }
    }
    whole = mbnn_state_load(&m, data, size);
    if (ran) {
        FUZZ_ASSERT(whole == streamed); /* chunks of any size, the same verdict */
    }
    if (whole != MBNN_OK) {
        FUZZ_ASSERT(whole == MBNN_ERR_STATE_CORRUPT || whole == MBNN_ERR_STATE_MODEL);
        FUZZ_ASSERT(fuzz_fingerprint(&m) == before);
        return 0;
    }
    FUZZ_ASSERT(mbnn_state_size(&m, &st) == MBNN_OK && st <= sizeof(saved));
    for (i = 0; i < m.memory_slots; i++) {
        FUZZ_ASSERT(m.memory_labels[i] < m.n_classes);
    }
    if (m.memory_slots > 0u) { /* seen: the first word of the memory section */
        size_t at = st - 4u - (((size_t)m.memory_slots * m.n_inputs + 3u) & ~(size_t)3u) -
                    ((2u * (size_t)m.memory_slots + 3u) & ~(size_t)3u);
        FUZZ_ASSERT(m.memory_seen == ((uint32_t)data[at] | ((uint32_t)data[at + 1u] << 8) |
                                      ((uint32_t)data[at + 2u] << 16) | ((uint32_t)data[at + 3u] << 24)));
    }
    before = fuzz_fingerprint(&m);
    FUZZ_ASSERT(mbnn_state_save(&m, saved, st) == MBNN_OK);
    FUZZ_ASSERT(mbnn_state_load(&m, saved, st) == MBNN_OK);
    FUZZ_ASSERT(fuzz_fingerprint(&m) == before);
    FUZZ_ASSERT(mbnn_learn(&m, g->learn_inputs, g->learn_labels[0], NULL, NULL) == MBNN_OK);
    return 0;
}
