/*
 * A tiny test runner, portable to bare-metal boards: printf is all it needs
 * (no files, no malloc). A CHECK counts a pass or prints the failure; main
 * prints "N passed, N failed" on its own line and returns nonzero on failure.
 */
#ifndef MBNN_TEST_H
#define MBNN_TEST_H

#include <stdio.h>

#include "mbnn.h"

extern unsigned long mbnn_test_passed, mbnn_test_failed;

/* Records one check; prints at most MBNN_TEST_MAX_REPORTS failures. */
void mbnn_test_record(int ok, const char *file, int line, const char *what);
/* Records a check of a status, printing both names on failure. */
void mbnn_test_status(mbnn_status got, mbnn_status want, const char *file, int line,
                      const char *what);
/* Records a check of two integers, printing both on failure. */
void mbnn_test_long(long got, long want, const char *file, int line, const char *what);

#define CHECK(cond) mbnn_test_record((cond) ? 1 : 0, __FILE__, __LINE__, #cond)
#define CHECK_STATUS(expr, want) mbnn_test_status((expr), (want), __FILE__, __LINE__, #expr)
#define CHECK_EQ(got, want) mbnn_test_long((long)(got), (long)(want), __FILE__, __LINE__, #got " == " #want)

/* Helpers for tests that edit blobs (test_main.c). */
#include "golden.h"
/* Copy golden g's blob into words (MBNN_GOLDEN_MAX_BLOB bytes); its bytes. */
uint8_t *mbnn_test_copy_blob(const mbnn_golden *g, uint32_t *words);
/* Recompute the CRC of an edited blob (total_size from its header). */
void mbnn_test_fix_crc(uint8_t *blob);
/* Layer table entry l of a blob. */
uint8_t *mbnn_test_entry(uint8_t *blob, unsigned l);
uint32_t mbnn_test_rd32(const uint8_t *p);
void mbnn_test_wr32(uint8_t *p, uint32_t v);
/* A blob's n_layers and flags of layer l. */
unsigned mbnn_test_n_layers(const uint8_t *blob);
/* Learning steps of n mbnn_learn calls: 2 each on a model with a rehearsal set. */
#define MBNN_TEST_STEPS(m, n) ((uint32_t)(n) * ((m)->rehearsal_count > 0u ? 2u : 1u))

/* Buffers shared by the test files (so that the tests fit a small board's
 * RAM): two learning arenas, one inference arena, a blob copy with room to
 * shift it by a byte, three state buffers. */
#define MBNN_TEST_ARENA_WORDS (MBNN_GOLDEN_MAX_ARENA / 4 + 1)
extern uint32_t mbnn_test_arena_a[MBNN_TEST_ARENA_WORDS];
extern uint32_t mbnn_test_arena_b[MBNN_TEST_ARENA_WORDS];
extern uint32_t mbnn_test_arena_c[MBNN_GOLDEN_MAX_INFER_ARENA / 4 + 1];
extern uint32_t mbnn_test_blob_buf[MBNN_GOLDEN_MAX_BLOB / 4 + 2];
extern uint8_t mbnn_test_state_buf[3][MBNN_GOLDEN_MAX_STATE];

/* The test groups (one per file). */
void mbnn_test_core(void);
void mbnn_test_kernels(void);
void mbnn_test_conv(void);
void mbnn_test_golden(void);
void mbnn_test_blob(void);
void mbnn_test_state(void);
void mbnn_test_store(void);

#endif
