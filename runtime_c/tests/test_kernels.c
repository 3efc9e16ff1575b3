/* The optimized forward kernels against the reference kernels
 * (mbnn_kernels.c) on random layers: every size from one input to several
 * carry-save blocks and a partial last word, random padding bits in the
 * weights and the input (they must not count), thresholds and windows around
 * the pre-activations, output scales that saturate. Runs on every target. */
#include <string.h>

#include "mbnn_internal.h"
#include "mbnn_test.h"

#define KT_MAX_OUT 6u
#define KT_MAX_IN_BITS 600u  /* 19 words: two blocks of 8 words and 3 more */
#if MBNN_INT8_BYTES
#define KT_MAX_IN_INT8 600u /* several chunks of MBNN_INT8_CHUNK inputs and a partial one */
#define KT_MAX_HIDDEN (KT_MAX_OUT * KT_MAX_IN_INT8)
#else
#define KT_MAX_IN_INT8 100u
#define KT_MAX_HIDDEN 0u /* the micro:bit's 16 KiB: no room; its hidden-sign kernel (16-entry tables)
                          * runs in the host and Cortex-M3 builds, and no layer that reads its signs
                          * from the hidden weights (>= 512 inputs) fits the board */
#endif
#define KT_MAX_WORDS ((KT_MAX_IN_BITS + 31u) / 32u)

static uint32_t kt_next(uint32_t *state)
{
    *state += 0x9E3779B9u;
    return mbnn_i_mix32(*state);
}

/* A random value in [lo, hi]. */
static int32_t kt_range(uint32_t *state, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(kt_next(state) % (uint32_t)(hi - lo + 1));
}

typedef struct {
    uint32_t bits[KT_MAX_OUT * KT_MAX_WORDS];
    int32_t params[3u * KT_MAX_OUT];
    uint32_t u[KT_MAX_WORDS];
    int8_t q[KT_MAX_IN_INT8];
    int8_t hidden[KT_MAX_HIDDEN + 3u]; /* rows of n_in bytes, padded to 4 as in an arena */
    /* the byte tables of one chunk and a sum per output, or 8 B per input */
#if MBNN_INT8_BYTES
    int16_t table[(64u * MBNN_INT8_CHUNK + 4u * KT_MAX_OUT) / 2u];
#else
    int16_t table[8u * KT_MAX_IN_INT8 / 2u];
#endif
} kt_buffers;

static kt_buffers kt;

/* A random layer (thresholds in [-n_in, n_in] around the possible
 * pre-activations; output scales up to 2^20 so that some logits saturate). */
#if defined(__x86_64__)
#define KT_MAX_CAP MBNN_HOST_AVX512
#else
#define KT_MAX_CAP 0u
#endif

static void kt_layer(mbnn_layer *L, uint32_t *state, uint32_t n_in, uint32_t n_out, int is_out)
{
    uint32_t i;
    memset(L, 0, sizeof(*L));
    L->n_in = (uint16_t)n_in;
    L->n_out = (uint16_t)n_out;
    L->words = (uint16_t)mbnn_words(n_in);
    for (i = 0; i < n_out * L->words; i++) {
        kt.bits[i] = kt_next(state); /* padding bits random too */
    }
    for (i = 0; i < n_out; i++) {
        int32_t wide = (int32_t)n_in * 255;
        if (is_out) {
            kt.params[i] = kt_range(state, -(1 << 20), 1 << 20);
            kt.params[n_out + i] = (int32_t)kt_next(state);
        } else {
            int32_t lo = kt_range(state, -wide, wide), hi = kt_range(state, lo, wide);
            kt.params[i] = kt_range(state, -(int32_t)n_in, (int32_t)n_in);
            kt.params[n_out + i] = lo;
            kt.params[2u * n_out + i] = hi;
        }
    }
    L->bits = kt.bits;
    L->p0 = kt.params;
    L->p1 = kt.params + n_out;
    L->p2 = is_out ? NULL : kt.params + 2u * n_out;
}

/* The int8 kernels that read the signs from the hidden weights (a learning
 * arena's first layer: bits NULL) against the reference kernel's outputs
 * out, win and z on the bits: hidden weights of random magnitudes whose
 * signs are the bits, the array padded with random bytes. */
static void kt_compare_hidden(const mbnn_layer *L, int32_t zp, uint32_t out, uint32_t win, const int32_t *z,
                              int with_win)
{
    mbnn_layer H = *L;
    uint32_t i, j, variant, state = 0x51u + L->n_in, n = (uint32_t)L->n_in * L->n_out;

    if (n > KT_MAX_HIDDEN) {
        return;
    }
    for (i = 0; i < L->n_out; i++) {
        for (j = 0; j < L->n_in; j++) {
            uint32_t bit = (L->bits[i * L->words + j / 32u] >> (j % 32u)) & 1u, r = kt_next(&state) % 128u;
            kt.hidden[i * L->n_in + j] = (int8_t)(bit ? -1 - (int32_t)r : (int32_t)r);
        }
    }
    for (i = n; i < ((n + 3u) & ~3u); i++) {
        kt.hidden[i] = (int8_t)kt_next(&state);
    }
    H.bits = NULL;
    H.hidden = kt.hidden;
    for (variant = 0; variant < 3u; variant++) {
        uint32_t out_h[1] = {0}, win_h[1] = {0}, bad = 0;
        int32_t z_h[KT_MAX_OUT];
        memset(z_h, 0, sizeof(z_h));
        if (variant == 0u) {
            mbnn_i_layer_int8_ref(&H, kt.q, zp, out_h, with_win ? win_h : NULL, z != NULL ? z_h : NULL);
        } else if (variant == 2u) { /* the byte-table version called directly (the layers are small) */
#if MBNN_INT8_BYTES
            if ((L->n_in & 3u) != 0u) {
                continue;
            }
            mbnn_i_layer_int8_hidden_bytes(&H, kt.q, zp, kt.table, out_h, with_win ? win_h : NULL,
                                           z != NULL ? z_h : NULL);
#else
            continue;
#endif
        } else {
            mbnn_i_layer_int8_opt(&H, kt.q, zp, kt.table, out_h, with_win ? win_h : NULL, z != NULL ? z_h : NULL);
        }
        for (i = 0; z != NULL && i < L->n_out; i++) {
            bad += z[i] != z_h[i];
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(out, out_h[0]);
        CHECK_EQ(win, win_h[0]);
    }
}

/* Both kernels of one layer; every output equal. */
static void kt_compare(const mbnn_layer *L, int int8, int32_t zp, int is_out, int with_win)
{
    uint32_t out_a[1], out_b[1], win_a[1], win_b[1];
    int32_t z_a[KT_MAX_OUT], z_b[KT_MAX_OUT];
    uint32_t *wa = with_win ? win_a : NULL, *wb = with_win ? win_b : NULL;
    int32_t *za = is_out ? z_a : NULL, *zb = is_out ? z_b : NULL;
    uint32_t i, bad = 0;

    out_a[0] = out_b[0] = win_a[0] = win_b[0] = 0;
    memset(z_a, 0, sizeof(z_a));
    memset(z_b, 0, sizeof(z_b));
    if (int8) {
        mbnn_i_layer_int8_ref(L, kt.q, zp, out_a, wa, za);
        /* the layers here are small: the byte-table kernel called directly */
#if MBNN_INT8_BYTES
        mbnn_i_layer_int8_bytes(L, kt.q, zp, kt.table, out_b, wb, zb);
        for (i = 0; i < L->n_out; i++) {
            bad += z_a[i] != z_b[i];
        }
        CHECK_EQ(out_a[0], out_b[0]);
        CHECK_EQ(win_a[0], win_b[0]);
        out_b[0] = win_b[0] = 0;
        memset(z_b, 0, sizeof(z_b));
#endif
        mbnn_i_layer_int8_opt(L, kt.q, zp, kt.table, out_b, wb, zb);
        kt_compare_hidden(L, zp, out_a[0], win_a[0], za, with_win);
    } else {
        mbnn_i_layer_bits_ref(L, kt.u, out_a, wa, za);
        mbnn_i_layer_bits_opt(L, kt.u, out_b, wb, zb);
    }
    for (i = 0; i < L->n_out; i++) {
        bad += z_a[i] != z_b[i];
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(out_a[0], out_b[0]);
    CHECK_EQ(win_a[0], win_b[0]);
}

/* 120 random layers of one kind: the first 40 with 1..40 inputs, then any
 * width up to the kind's maximum; every third an output layer, every other
 * one with windows. */
static void test_kernels_of_kind(int int8, uint32_t state)
{
    uint32_t trial, i, cap, max_in = int8 ? KT_MAX_IN_INT8 : KT_MAX_IN_BITS;
    for (trial = 0; trial < 120u; trial++) {
        mbnn_layer L;
        uint32_t n_in = trial < 40u ? trial + 1u : (uint32_t)kt_range(&state, 1, (int32_t)max_in);
        uint32_t n_out = (uint32_t)kt_range(&state, 1, (int32_t)KT_MAX_OUT);
        int is_out = (int)(trial % 3u == 0u);
        int32_t zp = trial % 4u == 0u ? (trial % 8u == 0u ? -128 : 127) : kt_range(&state, -128, 127);
        kt_layer(&L, &state, n_in, n_out, is_out);
        for (i = 0; i < KT_MAX_WORDS; i++) {
            /* Some inputs equal to a row, so that a count is 0 (or n_in). */
            kt.u[i] = trial % 7u == 1u && i < L.words ? kt.bits[i] : kt_next(&state);
        }
        for (i = 0; i < KT_MAX_IN_INT8; i++) {
            uint32_t r = kt_next(&state) % 8u;
            /* extremes, the zero point, and any value */
            kt.q[i] = (int8_t)(r == 0u ? -128 : r == 1u ? 127 : r == 2u ? zp : kt_range(&state, -128, 127));
        }
        /* x86-64 hosts: every level of the run-time chosen kernels the CPU
         * has (mbnn_host_kernels; a level above the CPU's runs its best) */
        for (cap = 0; cap <= KT_MAX_CAP; cap++) {
            L.host_cap = (uint8_t)cap;
            kt_compare(&L, int8, zp, is_out, (int)(trial % 2u));
        }
    }
}

void mbnn_test_kernels(void)
{
    test_kernels_of_kind(0, 1u);
    test_kernels_of_kind(1, 2u);
}
