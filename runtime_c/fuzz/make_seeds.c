/* Seed corpora for the harnesses, from the golden models: writes
 * <dir>/state/<name>, <dir>/store/<name>, <dir>/learn/<name> (the blob seeds
 * are the .mbnn files themselves). Host only. */
#include <stdio.h>

#include "fuzz_common.h"
#include "mbnn_flashsim.h"

static uint32_t arena[MBNN_GOLDEN_MAX_ARENA / 4u + 1u];
static uint8_t buf[2u + 16u * 1024u];
static uint8_t page[256];

static int put(const char *dir, const char *kind, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    FILE *fh;
    snprintf(path, sizeof(path), "%s/%s/%s", dir, kind, name);
    fh = fopen(path, "wb");
    if (fh == NULL || fwrite(p, 1, n, fh) != n) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        return 1;
    }
    return fclose(fh) != 0;
}

int main(int argc, char **argv)
{
    unsigned i, k, learning = 0;
    int bad = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR (with DIR/state, DIR/store, DIR/learn)\n");
        return 2;
    }
    for (i = 0; i < MBNN_GOLDEN_COUNT; i++) {
        const mbnn_golden *g = &mbnn_goldens[i];
        mbnn_model m;
        mbnn_flashsim sim;
        mbnn_flash f;
        size_t st = 0;
        if (g->arena_learn == 0u) {
            continue;
        }
        mbnn_model_init(&m, g->blob, g->blob_len, arena, g->arena_learn);
        /* 5 samples; a model with memory slots past filling them (rows replaced) */
        for (k = 0; k < (m.memory_slots > 0u ? m.memory_slots + 5u : 5u) && k < g->n_learn; k++) {
            mbnn_learn(&m, g->learn_inputs + (size_t)k * g->n_inputs, g->learn_labels[k], NULL, NULL);
        }
        /* state: [pick][chunk] state */
        mbnn_state_size(&m, &st);
        buf[0] = (uint8_t)learning;
        buf[1] = 31;
        mbnn_state_save(&m, buf + 2, st);
        bad |= put(argv[1], "state", g->name, buf, 2u + st);
        /* store: [pick][geometry] image with two records */
        buf[1] = 1; /* prog 4, block 256 */
        mbnn_flashsim_init(&sim, buf + 2, NULL, 4, 256, 16u * 1024u);
        mbnn_flashsim_flash(&sim, &f);
        if (mbnn_store_save(&m, &f, page, sizeof(page), NULL) == MBNN_OK &&
            mbnn_store_save(&m, &f, page, sizeof(page), NULL) == MBNN_OK) {
            bad |= put(argv[1], "store", g->name, buf, sizeof(buf));
        }
        /* learn: [pick] the golden samples with their labels */
        {
            size_t n = 1;
            for (k = 0; k < g->n_learn && n + g->n_inputs + 1u < sizeof(buf); k++) {
                memcpy(buf + n, g->learn_inputs + (size_t)k * g->n_inputs, g->n_inputs);
                n += g->n_inputs;
                buf[n++] = (uint8_t)g->learn_labels[k];
            }
            bad |= put(argv[1], "learn", g->name, buf, n);
        }
        learning++;
    }
    return bad;
}
