/* The C tests of the runtime: main runs every group and prints the tally. */
#include "mbnn_test.h"
#include "mbnn_format.h" /* layer-entry offsets (generated) */

#ifndef MBNN_TEST_MAX_REPORTS
#define MBNN_TEST_MAX_REPORTS 40
#endif

unsigned long mbnn_test_passed, mbnn_test_failed;
uint32_t mbnn_test_arena_a[MBNN_TEST_ARENA_WORDS];
uint32_t mbnn_test_arena_b[MBNN_TEST_ARENA_WORDS];
uint32_t mbnn_test_arena_c[MBNN_GOLDEN_MAX_INFER_ARENA / 4 + 1];
uint32_t mbnn_test_blob_buf[MBNN_GOLDEN_MAX_BLOB / 4 + 2];
uint8_t mbnn_test_state_buf[3][MBNN_GOLDEN_MAX_STATE];

void mbnn_test_record(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        mbnn_test_passed++;
        return;
    }
    mbnn_test_failed++;
    if (mbnn_test_failed <= MBNN_TEST_MAX_REPORTS) {
        printf("FAIL %s:%d: %s\n", file, line, what);
    }
}

void mbnn_test_status(mbnn_status got, mbnn_status want, const char *file, int line,
                      const char *what)
{
    mbnn_test_record(got == want, file, line, what);
    if (got != want && mbnn_test_failed <= MBNN_TEST_MAX_REPORTS) {
        printf("     got %d (%s), want %d (%s)\n", (int)got, mbnn_strerror(got), (int)want,
               mbnn_strerror(want));
    }
}

void mbnn_test_long(long got, long want, const char *file, int line, const char *what)
{
    mbnn_test_record(got == want, file, line, what);
    if (got != want && mbnn_test_failed <= MBNN_TEST_MAX_REPORTS) {
        printf("     got %ld, want %ld\n", got, want);
    }
}

uint32_t mbnn_test_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void mbnn_test_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint8_t *mbnn_test_copy_blob(const mbnn_golden *g, uint32_t *words)
{
    uint32_t i;
    for (i = 0; i < (g->blob_len + 3u) / 4u; i++) {
        words[i] = g->blob[i];
    }
    return (uint8_t *)words;
}

void mbnn_test_fix_crc(uint8_t *blob)
{
    uint32_t total = mbnn_test_rd32(blob + 8);
    mbnn_test_wr32(blob + 12, mbnn_crc32(0, blob + 16, total - 16u));
}

uint8_t *mbnn_test_entry(uint8_t *blob, unsigned l)
{
    unsigned size = mbnn_test_rd32(blob + 4) == 1u ? MBNN_LAYER_ENTRY_SIZE_V1 : MBNN_LAYER_ENTRY_SIZE_V2;
    return blob + 32u + size * l;
}

unsigned mbnn_test_n_layers(const uint8_t *blob)
{
    return (unsigned)blob[16] | ((unsigned)blob[17] << 8);
}

int main(void)
{
    mbnn_test_core();
    mbnn_test_kernels();
    mbnn_test_conv();
    mbnn_test_golden();
    mbnn_test_blob();
    mbnn_test_state();
    mbnn_test_store();
    if (mbnn_test_failed > MBNN_TEST_MAX_REPORTS) {
        printf("(%lu more failures not shown)\n", mbnn_test_failed - MBNN_TEST_MAX_REPORTS);
    }
    printf("%lu passed, %lu failed\n", mbnn_test_passed, mbnn_test_failed);
    return mbnn_test_failed == 0 ? 0 : 1;
}
