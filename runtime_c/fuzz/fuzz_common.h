/* Shared by the libFuzzer harnesses (runtime_c/fuzz/README.md): the golden
 * models compiled in, an abort that names the broken invariant. Host only. */
#ifndef MBNN_FUZZ_COMMON_H
#define MBNN_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "mbnn.h"

/* A finding: print what broke and abort, so libFuzzer saves the input. */
#define FUZZ_ASSERT(cond)                                                           \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* A golden model that learns, chosen by a byte. */
static inline const mbnn_golden *fuzz_golden(uint8_t pick)
{
    unsigned i, n = 0;
    for (i = 0; i < MBNN_GOLDEN_COUNT; i++) {
        n += mbnn_goldens[i].arena_learn != 0u;
    }
    pick = (uint8_t)(pick % n);
    for (i = 0; i < MBNN_GOLDEN_COUNT; i++) {
        if (mbnn_goldens[i].arena_learn != 0u && pick-- == 0u) {
            return &mbnn_goldens[i];
        }
    }
    return &mbnn_goldens[0];
}

/* The CRC field of a model's state (equal states, equal values). */
static inline uint32_t fuzz_fingerprint(const mbnn_model *m)
{
    mbnn_state_stream s;
    return mbnn_state_save_begin(m, &s) == MBNN_OK ? s.crc : 0u;
}

#endif
