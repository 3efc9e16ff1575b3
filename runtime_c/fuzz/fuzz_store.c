/* Any bytes as the flash image of a store (first byte picks the golden model,
 * the second the geometry). Invariants: mount (load) never breaks a NOR rule
 * and on error changes nothing; a save after it always works and loads back
 * as the newest record with the saved state. */
#include "fuzz_common.h"
#include "mbnn_flashsim.h"

#define REGION (16u * 1024u)

static uint32_t arena[MBNN_GOLDEN_MAX_ARENA / 4u + 1u];
static uint32_t arena_b[MBNN_GOLDEN_MAX_ARENA / 4u + 1u];
static uint8_t mem[REGION];
static uint8_t page[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t progs[4] = {1u, 4u, 16u, 256u};
    const mbnn_golden *g;
    mbnn_model m, b;
    mbnn_flashsim sim;
    mbnn_flash f;
    mbnn_store_info info, saved;
    mbnn_status st;
    uint32_t prog, block, before;

    if (size < 2u) {
        return 0;
    }
    g = fuzz_golden(data[0]);
    prog = progs[data[1] & 3u];
    block = prog * (1u << ((data[1] >> 2) & 3u)) * 64u;
    if (block > REGION / 2u || prog > sizeof(page)) {
        return 0;
    }
    data += 2;
    size -= 2;
    FUZZ_ASSERT(mbnn_flashsim_init(&sim, mem, NULL, prog, block, REGION / block * block) == 0);
    memcpy(mem, data, size < sim.region_size ? size : sim.region_size);
    mbnn_flashsim_flash(&sim, &f);
    FUZZ_ASSERT(mbnn_model_init(&m, g->blob, g->blob_len, arena, g->arena_learn) == MBNN_OK);
    before = fuzz_fingerprint(&m);
    st = mbnn_store_load(&m, &f, page, sizeof(page), &info);
    if (st == MBNN_ERR_FLASH_GEOMETRY) {
        return 0; /* the region is too small for two records of this model */
    }
    FUZZ_ASSERT(sim.violations == 0u);
    if (st != MBNN_OK) {
        FUZZ_ASSERT(st == MBNN_ERR_STORE_EMPTY || st == MBNN_ERR_STORE_TORN || st == MBNN_ERR_STATE_MODEL);
        FUZZ_ASSERT(fuzz_fingerprint(&m) == before && m.step == 0u);
    }
    FUZZ_ASSERT(mbnn_learn(&m, g->learn_inputs, g->learn_labels[0], NULL, NULL) == MBNN_OK);
    before = fuzz_fingerprint(&m);
    FUZZ_ASSERT(mbnn_store_save(&m, &f, page, sizeof(page), &saved) == MBNN_OK);
    FUZZ_ASSERT(mbnn_model_init(&b, g->blob, g->blob_len, arena_b, g->arena_learn) == MBNN_OK);
    FUZZ_ASSERT(mbnn_store_load(&b, &f, page, sizeof(page), &info) == MBNN_OK);
    FUZZ_ASSERT(info.seq == saved.seq && fuzz_fingerprint(&b) == before);
    FUZZ_ASSERT(sim.violations == 0u);
    return 0;
}
