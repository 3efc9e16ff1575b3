/*
 * Conv layers (format version 2; docs/FORMAT.md "Layer geometry", docs/ARITHMETIC.md
 * "Conv layers"): the forward pass of a hidden Conv1d/Conv2d layer with bit
 * or int8 input, sign, max pooling on the packed bits; the error through a
 * conv layer (the transposed conv) and the metaplastic update of its kernel
 * weights summed over positions.
 *
 * Maps: the input map of a conv layer is packed per pixel in whole words
 * (pixel (y, x) is wc = ceil(in_c / 32) words at (y * W + x) * wc, channel c at bit c % 32 of
 * word c / 32), a row of kernel weights the same way per tap, so a tap is wc
 * whole-word XOR-popcounts; the padding bits of a pixel are 0 in the map and
 * masked in the weights. The output map is written with out_stride bits per
 * pixel (the next layer's packing, mbnn_i_out_stride). No im2col and no buffer beyond the maps:
 * each output is computed from the input map in place. Errors, window bits
 * and pooling positions of a conv layer's outputs are indexed compactly,
 * e = (py * out_w + px) * n_out + o.
 */
#include <string.h>

#include "mbnn_internal.h"

/* Kernel taps of output position (oy, ox) that fall inside the input map:
 * ky in [*ky0, *ky1), kx in [*kx0, *kx1); (y0, x0) is the map position of tap (0, 0). */
static void mbnn_conv_taps(const mbnn_layer *L, uint32_t oy, uint32_t ox, int32_t *y0, int32_t *x0,
                           uint32_t *ky0, uint32_t *ky1, uint32_t *kx0, uint32_t *kx1)
{
    int32_t y = (int32_t)(oy * L->sh) - (int32_t)L->ph, x = (int32_t)(ox * L->sw) - (int32_t)L->pw;
    int32_t ye = (int32_t)L->in_h - y, xe = (int32_t)L->in_w - x;
    *y0 = y;
    *x0 = x;
    *ky0 = y < 0 ? (uint32_t)-y : 0u;
    *kx0 = x < 0 ? (uint32_t)-x : 0u;
    *ky1 = ye < (int32_t)L->kh ? (uint32_t)ye : L->kh;
    *kx1 = xe < (int32_t)L->kw ? (uint32_t)xe : L->kw;
}

/* Pre-activation of row `row` at output position (oy, ox): bit input u
 * (a = T * in_c - 2 * popcount over the T taps inside the map), or int8
 * input q (C, H, W order) with zero point zp when q is not NULL. A padded
 * position contributes 0. */
static int32_t mbnn_conv_at(const mbnn_layer *L, const uint32_t *row, const uint32_t *u, const int8_t *q,
                            int32_t zp, uint32_t oy, uint32_t ox)
{
    uint32_t ky, kx, ky0, ky1, kx0, kx1, k, c, wc = mbnn_i_wc(L), pop = 0, taps = 0;
    uint32_t mask = mbnn_last_mask(L->in_c);
    int32_t y0, x0, a = 0;

    mbnn_conv_taps(L, oy, ox, &y0, &x0, &ky0, &ky1, &kx0, &kx1);
    for (ky = ky0; ky < ky1; ky++) {
        uint32_t y = (uint32_t)(y0 + (int32_t)ky);
        for (kx = kx0; kx < kx1; kx++) {
            uint32_t x = (uint32_t)(x0 + (int32_t)kx);
            const uint32_t *w = row + (ky * L->kw + kx) * wc;
            if (q != NULL) {
                const int8_t *qc = q + (size_t)y * L->in_w + x;
                size_t plane = (size_t)L->in_h * L->in_w;
                for (c = 0; c < L->in_c; c++) {
                    int32_t v = (int32_t)qc[c * plane] - zp;
                    a += ((w[c / 32u] >> (c % 32u)) & 1u) ? -v : v;
                }
                continue;
            }
            {
                const uint32_t *m = u + ((size_t)y * L->in_w + x) * wc;
                for (k = 0; k + 1u < wc; k++) {
                    pop += mbnn_popcount32(w[k] ^ m[k]);
                }
                pop += mbnn_popcount32((w[k] ^ m[k]) & mask);
                taps++;
            }
        }
    }
    return q != NULL ? a : (int32_t)(taps * L->in_c) - 2 * (int32_t)pop;
}

void mbnn_i_conv_pack_input(const mbnn_layer *L, const int8_t *q, uint32_t *u)
{
    uint32_t c, p, n_pix = (uint32_t)L->in_h * L->in_w, wc = mbnn_i_wc(L);

    memset(u, 0, 4u * (size_t)mbnn_i_in_words(L));
    for (c = 0; c < L->in_c; c++) {
        for (p = 0; p < n_pix; p++) {
            if (q[(size_t)c * n_pix + p] < 0) {
                u[(size_t)p * wc + c / 32u] |= 1u << (c % 32u);
            }
        }
    }
}

/* ---- optimized forward kernels (docs/CONV.md "Kernel speed") ----
 *
 * Both go position by position through each pooling window and compute every
 * output channel there from data prepared once per position:
 *   int8 layer 0: 16-entry tables per group of 4 inputs of the patch (all
 *     signed sums +-x0 +-x1 +-x2 +-x3), read with 4 weight bits at a time
 *     from the rows repacked once per call into the dense order j = tap *
 *     in_c + c (a conv row has wc words per tap, so a 1-channel tap holds one
 *     bit per word);
 *   bits: the kh * kw * wc input words of the patch gathered into one run, so
 *     that a row is one carry-save XOR-popcount, with a mask only at positions
 *     with taps outside the map (or rows whose padding bits are set).
 * A channel whose pooled output is already +1 is not computed at the later
 * positions of the window, as in the reference. */

/* Bits set in each byte of x (SWAR sums of 2, 4 and 8 bits; Hacker's Delight 5-1). */
static inline uint32_t mbnn_conv_bytes(uint32_t x)
{
    x -= (x >> 1) & 0x55555555u;
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return (x + (x >> 4)) & 0x0F0F0F0Fu;
}

/* The sum of the four bytes of v, when that sum is below 256. */
static inline uint32_t mbnn_conv_hsum(uint32_t v)
{
    return (v * 0x01010101u) >> 24;
}

/* Per bit position, a + b + c = 2 * hi + lo (a full adder on 32 bits at once). */
#define MBNN_CONV_ADD3(hi, lo, a, b, c)      \
    do {                                     \
        uint32_t add3_s = (a) ^ (b);         \
        (hi) = ((a) & (b)) | (add3_s & (c)); \
        (lo) = add3_s ^ (c);                 \
    } while (0)

/* popcount((r XOR p) AND m) over n words (m: all ones when masked is 0).
 * Blocks of 8 words go through carry-save counters of weight 1, 2 and 4
 * (Harley-Seal; Mula, Kurz, Lemire, "Faster population counts using AVX2
 * instructions", 2018), the carry of weight 8 popcounted once per block; the
 * at most 7 other words are summed per byte (at most 56 per byte). */
static MBNN_ALWAYS_INLINE uint32_t mbnn_conv_pop(const uint32_t *r, const uint32_t *p, const uint32_t *m,
                                                 uint32_t n, int masked)
{
    uint32_t k = 0, total = 0, rest = 0;

#define MBNN_CONV_X(i) (masked ? (r[k + (i)] ^ p[k + (i)]) & m[k + (i)] : r[k + (i)] ^ p[k + (i)])
    if (n >= 8u) {
        uint32_t ones = 0, twos = 0, fours = 0;
        for (; k + 8u <= n; k += 8u) {
            uint32_t two_a, two_b, four_a, four_b, eight;
            MBNN_CONV_ADD3(two_a, ones, ones, MBNN_CONV_X(0), MBNN_CONV_X(1));
            MBNN_CONV_ADD3(two_b, ones, ones, MBNN_CONV_X(2), MBNN_CONV_X(3));
            MBNN_CONV_ADD3(four_a, twos, twos, two_a, two_b);
            MBNN_CONV_ADD3(two_a, ones, ones, MBNN_CONV_X(4), MBNN_CONV_X(5));
            MBNN_CONV_ADD3(two_b, ones, ones, MBNN_CONV_X(6), MBNN_CONV_X(7));
            MBNN_CONV_ADD3(four_b, twos, twos, two_a, two_b);
            MBNN_CONV_ADD3(eight, fours, fours, four_a, four_b);
            total += mbnn_conv_hsum(mbnn_conv_bytes(eight));
        }
        /* per byte at most 4 * 8 + 2 * 8 + 8 = 56: the four bytes sum below 256 */
        total = 8u * total + mbnn_conv_hsum((mbnn_conv_bytes(fours) << 2) + (mbnn_conv_bytes(twos) << 1) +
                                            mbnn_conv_bytes(ones));
    }
    for (; k < n; k++) {
        rest += mbnn_conv_bytes(MBNN_CONV_X(0));
    }
#undef MBNN_CONV_X
    return total + mbnn_conv_hsum(rest);
}

/* The sum of the table entries t[16 g + nibble g of w] over the first n
 * (1 .. 8) groups: one read per 4 weights. */
static MBNN_ALWAYS_INLINE int32_t mbnn_conv_nibbles(const int16_t *t, uint32_t w, uint32_t n)
{
    int32_t a = 0;
    switch (n) {
    case 8u:
        a += t[112u + (w >> 28)];
        /* fall through */
    case 7u:
        a += t[96u + ((w >> 24) & 15u)];
        /* fall through */
    case 6u:
        a += t[80u + ((w >> 20) & 15u)];
        /* fall through */
    case 5u:
        a += t[64u + ((w >> 16) & 15u)];
        /* fall through */
    case 4u:
        a += t[48u + ((w >> 12) & 15u)];
        /* fall through */
    case 3u:
        a += t[32u + ((w >> 8) & 15u)];
        /* fall through */
    case 2u:
        a += t[16u + ((w >> 4) & 15u)];
        /* fall through */
    default:
        a += t[w & 15u];
    }
    return a;
}

/* Max pooling as the reference keeps it, met position by position: window
 * position d of a pooled pixel whose compact outputs start at e0. */
typedef struct {
    const mbnn_layer *L;
    uint32_t d, e0;
    uint32_t *win;
    uint8_t *arg;
} mbnn_conv_pool;

/* Channel o, still without a +1 in its window, has pre-activation a at the
 * window position: when a reaches its threshold it is +1 and keeps this
 * position (position and window bit); else it stays in the list (list[*left],
 * *left <= its old index) and at d = 0 keeps the position for now (position
 * 0 when no +1 follows). */
static MBNN_ALWAYS_INLINE void mbnn_conv_meet(const mbnn_conv_pool *P, uint16_t *list, uint32_t *left, uint32_t o,
                                              int32_t a)
{
    const mbnn_layer *L = P->L;
    uint32_t e = P->e0 + o;

    if (a < L->p0[o]) {
        list[(*left)++] = (uint16_t)o;
        if (P->d != 0u) {
            return;
        }
    }
    if (P->win != NULL) {
        uint32_t m = 1u << (e % 32u);
        P->win[e / 32u] = (L->p1[o] <= a && a <= L->p2[o]) ? P->win[e / 32u] | m : P->win[e / 32u] & ~m;
    }
    if (P->arg != NULL) {
        P->arg[e] = (uint8_t)P->d;
    }
}

/* int8: the channels list[0 .. n) at the position whose tables are t, rows
 * of one word with g groups of 4 inputs (g a constant once inlined); returns
 * the number still -1 (kept first in list). */
static MBNN_ALWAYS_INLINE uint32_t mbnn_conv_int8_acts1(const mbnn_conv_pool *P, const int16_t *t,
                                                        const uint32_t *rows, uint16_t *list, uint32_t n, uint32_t g)
{
    uint32_t i, left = 0;
    for (i = 0; i < n; i++) {
        uint32_t o = list[i];
        mbnn_conv_meet(P, list, &left, o, mbnn_conv_nibbles(t, rows[o], g));
    }
    return left;
}

/* int8: the same for rows of nw words, the last with `last` groups. */
static uint32_t mbnn_conv_int8_acts(const mbnn_conv_pool *P, const int16_t *t, const uint32_t *rows, uint32_t nw,
                                    uint32_t last, uint16_t *list, uint32_t n)
{
    uint32_t i, k, left = 0;

    if (nw == 1u) { /* n_in <= 32, the usual first layer: one loop per group count */
        switch (last) {
        case 1u: return mbnn_conv_int8_acts1(P, t, rows, list, n, 1u);
        case 2u: return mbnn_conv_int8_acts1(P, t, rows, list, n, 2u);
        case 3u: return mbnn_conv_int8_acts1(P, t, rows, list, n, 3u);
        case 4u: return mbnn_conv_int8_acts1(P, t, rows, list, n, 4u);
        case 5u: return mbnn_conv_int8_acts1(P, t, rows, list, n, 5u);
        case 6u: return mbnn_conv_int8_acts1(P, t, rows, list, n, 6u);
        case 7u: return mbnn_conv_int8_acts1(P, t, rows, list, n, 7u);
        default: return mbnn_conv_int8_acts1(P, t, rows, list, n, 8u);
        }
    }
    for (i = 0; i < n; i++) {
        uint32_t o = list[i];
        const uint32_t *r = rows + (size_t)o * nw;
        const int16_t *tk = t;
        int32_t a = 0;
        for (k = 0; k + 1u < nw; k++, tk += 8u * MBNN_TABLE_ENTRIES) {
            a += mbnn_conv_nibbles(tk, r[k], 8u);
        }
        mbnn_conv_meet(P, list, &left, o, a + mbnn_conv_nibbles(tk, r[k], last));
    }
    return left;
}

/* bits: the same with pre-activations nv - 2 popcount over the patch
 * (masked: a constant once inlined). */
static MBNN_ALWAYS_INLINE uint32_t mbnn_conv_bits_acts(const mbnn_conv_pool *P, const uint32_t *patch,
                                                       const uint32_t *mask, int masked, int32_t nv, uint16_t *list,
                                                       uint32_t n)
{
    uint32_t i, left = 0, words = P->L->words;
    for (i = 0; i < n; i++) {
        uint32_t o = list[i];
        uint32_t ones = mbnn_conv_pop(P->L->bits + (size_t)o * words, patch, mask, words, masked);
        mbnn_conv_meet(P, list, &left, o, nv - 2 * (int32_t)ones);
    }
    return left;
}

/* int8 layer 0, once per call: the rows repacked into the dense order
 * (words(n_in) u32 per output channel, padding bits 0), the offset of each
 * input j in q from the position of tap (0, 0), the inputs past n_in 0. */
static void mbnn_conv_int8_setup(const mbnn_layer *L, uint32_t *rows, uint32_t *off, int16_t *xs)
{
    uint32_t o, tap, c, j, taps = (uint32_t)L->kh * L->kw, wc = mbnn_i_wc(L), nw = mbnn_words(L->n_in);
    uint32_t plane = (uint32_t)L->in_h * L->in_w;

    memset(rows, 0, 4u * (size_t)L->n_out * nw);
    for (o = 0; o < L->n_out; o++) {
        const uint32_t *row = L->bits + (size_t)o * L->words;
        uint32_t *r = rows + (size_t)o * nw;
        for (tap = 0, j = 0; tap < taps; tap++) {
            for (c = 0; c < L->in_c; c++, j++) {
                r[j / 32u] |= ((row[tap * wc + c / 32u] >> (c % 32u)) & 1u) << (j % 32u);
            }
        }
    }
    for (tap = 0, j = 0; tap < taps; tap++) {
        for (c = 0; c < L->in_c; c++, j++) {
            off[j] = c * plane + (tap / L->kw) * L->in_w + tap % L->kw;
        }
    }
    for (j = L->n_in; j % 4u != 0u; j++) {
        xs[j] = 0;
    }
}

/* int8 layer 0 at position (oy, ox): the input values x_j = q - zp (0 where
 * padded), then per group of 4 the 16 signed sums t[m] = sum_b (bit b of m ?
 * -x_b : x_b) (|t| <= 1020). */
static void mbnn_conv_int8_tables(const mbnn_layer *L, const int8_t *q, int32_t zp, uint32_t oy, uint32_t ox,
                                  const uint32_t *off, int16_t *xs, int16_t *t)
{
    uint32_t ky0, ky1, kx0, kx1, j, g, groups = (L->n_in + 3u) / 4u;
    int32_t y0, x0;

    mbnn_conv_taps(L, oy, ox, &y0, &x0, &ky0, &ky1, &kx0, &kx1);
    if (ky0 == 0u && kx0 == 0u && ky1 == L->kh && kx1 == L->kw) {
        const int8_t *q0 = q + (size_t)y0 * L->in_w + (uint32_t)x0;
        for (j = 0; j < L->n_in; j++) {
            xs[j] = (int16_t)((int32_t)q0[off[j]] - zp);
        }
    } else {
        uint32_t ky, kx, c;
        int32_t at = y0 * (int32_t)L->in_w + x0; /* may be negative: only taps inside are read */
        for (ky = 0, j = 0; ky < L->kh; ky++) {
            for (kx = 0; kx < L->kw; kx++) {
                int inside = ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1;
                for (c = 0; c < L->in_c; c++, j++) {
                    xs[j] = inside ? (int16_t)((int32_t)q[at + (int32_t)off[j]] - zp) : (int16_t)0;
                }
            }
        }
    }
    for (g = 0; g < groups; g++, t += MBNN_TABLE_ENTRIES, xs += 4) {
        int32_t d0 = 2 * xs[0], d1 = 2 * xs[1], d2 = 2 * xs[2], d3 = 2 * xs[3];
        int32_t a0 = xs[0] + xs[1] + xs[2] + xs[3], a1 = a0 - d0, a2 = a0 - d1, a3 = a1 - d1;
        int32_t b0 = a0 - d2, b1 = a1 - d2, b2 = a2 - d2, b3 = a3 - d2;
        t[0] = (int16_t)a0;
        t[1] = (int16_t)a1;
        t[2] = (int16_t)a2;
        t[3] = (int16_t)a3;
        t[4] = (int16_t)b0;
        t[5] = (int16_t)b1;
        t[6] = (int16_t)b2;
        t[7] = (int16_t)b3;
        t[8] = (int16_t)(a0 - d3);
        t[9] = (int16_t)(a1 - d3);
        t[10] = (int16_t)(a2 - d3);
        t[11] = (int16_t)(a3 - d3);
        t[12] = (int16_t)(b0 - d3);
        t[13] = (int16_t)(b1 - d3);
        t[14] = (int16_t)(b2 - d3);
        t[15] = (int16_t)(b3 - d3);
    }
}

/* Bit input: are the padding bits (channels in_c .. 32 wc - 1) of every row 0? */
static int mbnn_conv_rows_clean(const mbnn_layer *L)
{
    uint32_t i, wc = mbnn_i_wc(L), pad = ~mbnn_last_mask(L->in_c), n = (uint32_t)L->n_out * L->words;

    for (i = wc - 1u; pad != 0u && i < n; i += wc) { /* the last word of every tap */
        if ((L->bits[i] & pad) != 0u) {
            return 0;
        }
    }
    return 1;
}

/* Bit input at position (oy, ox): the words its taps meet, in row order
 * (patch[words]); *nv = the inputs inside the map. Returns 1 when the count
 * needs the mask (mask[words]: 0 for a tap outside, the channels' bits for
 * one inside), 0 when every tap is inside and the rows are clean. */
static int mbnn_conv_gather(const mbnn_layer *L, const uint32_t *u, uint32_t oy, uint32_t ox, int clean,
                            uint32_t *patch, uint32_t *mask, int32_t *nv)
{
    uint32_t ky0, ky1, kx0, kx1, ky, kx, k, wc = mbnn_i_wc(L), run = L->kw * wc;
    int32_t y0, x0;

    mbnn_conv_taps(L, oy, ox, &y0, &x0, &ky0, &ky1, &kx0, &kx1);
    *nv = (int32_t)((ky1 - ky0) * (kx1 - kx0) * L->in_c);
    if (clean && ky0 == 0u && kx0 == 0u && ky1 == L->kh && kx1 == L->kw) {
        for (ky = 0; ky < L->kh; ky++, patch += run) { /* a kernel row: kw * wc words in a row of the map */
            const uint32_t *m = u + ((size_t)(uint32_t)(y0 + (int32_t)ky) * L->in_w + (uint32_t)x0) * wc;
            for (k = 0; k < run; k++) {
                patch[k] = m[k];
            }
        }
        return 0;
    }
    for (ky = 0; ky < L->kh; ky++) {
        for (kx = 0; kx < L->kw; kx++, patch += wc, mask += wc) {
            int inside = ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1;
            const uint32_t *m = inside ? u + ((size_t)(uint32_t)(y0 + (int32_t)ky) * L->in_w +
                                              (uint32_t)(x0 + (int32_t)kx)) * wc
                                       : NULL;
            for (k = 0; k < wc; k++) {
                patch[k] = m != NULL ? m[k] : 0u;
                mask[k] = m == NULL ? 0u : (k + 1u == wc ? mbnn_last_mask(L->in_c) : 0xFFFFFFFFu);
            }
        }
    }
    return 1;
}

/* The optimized forward pass of a conv layer (int8: layer 0 with int8 input
 * q), with its room (mbnn_i_conv_scratch_size): int8: the repacked rows, the
 * input offsets, the list of the channels still -1, the tables and input
 * values; bits: the patch and its mask, then the list. */
static void mbnn_conv_fast(const mbnn_layer *L, const int8_t *q, int32_t zp, const uint32_t *u, uint32_t *out,
                           uint32_t out_stride, uint32_t *win, uint8_t *arg, uint32_t *scratch)
{
    uint32_t py, px, dy, dx, o, pool_h = mbnn_i_pool_h(L), pool_w = L->pool, n_out = L->n_out;
    uint32_t out_h = mbnn_i_out_h(L), out_w = mbnn_i_out_w(L), n_words = L->words;
    uint32_t nw = mbnn_words(L->n_in), groups = (L->n_in + 3u) / 4u, last = groups - 8u * (nw - 1u);
    uint32_t *rows = scratch, *off = rows + (size_t)n_out * nw, *patch = scratch, *mask = scratch + n_words;
    uint16_t *list = (uint16_t *)(void *)(q != NULL ? off + L->n_in : mask + n_words);
    int16_t *t = NULL, *xs = NULL;
    int clean = 1;
    mbnn_conv_pool P;

    P.L = L;
    P.win = win;
    P.arg = arg;
    if (q != NULL) {
        t = (int16_t *)(void *)(list + ((n_out + 1u) & ~1u));
        xs = t + MBNN_TABLE_ENTRIES * groups;
        mbnn_conv_int8_setup(L, rows, off, xs);
    } else {
        clean = mbnn_conv_rows_clean(L);
    }
    for (py = 0; py < out_h; py++) {
        for (px = 0; px < out_w; px++) {
            uint32_t pix = py * out_w + px, base = pix * out_stride, n = n_out;
            for (o = 0; o < n_out; o++) {
                list[o] = (uint16_t)o;
            }
            P.e0 = pix * n_out;
            for (dy = 0; dy < pool_h && n != 0u; dy++) {
                for (dx = 0; dx < pool_w && n != 0u; dx++) {
                    uint32_t oy = py * pool_h + dy, ox = px * pool_w + dx;
                    P.d = dy * pool_w + dx;
                    if (q != NULL) {
                        mbnn_conv_int8_tables(L, q, zp, oy, ox, off, xs, t);
                        n = mbnn_conv_int8_acts(&P, t, rows, nw, last, list, n);
                    } else {
                        int32_t nv;
                        if (mbnn_conv_gather(L, u, oy, ox, clean, patch, mask, &nv)) {
                            n = mbnn_conv_bits_acts(&P, patch, mask, 1, nv, list, n);
                        } else {
                            n = mbnn_conv_bits_acts(&P, patch, mask, 0, nv, list, n);
                        }
                    }
                }
            }
            for (o = 0; o < n; o++) { /* no +1 in the window: -1 (bit 1) */
                uint32_t bit = base + list[o];
                out[bit / 32u] |= 1u << (bit % 32u);
            }
        }
    }
}

size_t mbnn_i_conv_scratch_size(const mbnn_layer *L, int int8)
{
    /* the list of the output channels still -1 (u16 each, whole words) */
    size_t common = 4u * (size_t)((L->n_out + 1u) / 2u);
    if (int8) {
        /* the rows repacked, an offset per input, 16 table entries and 4 values per group of 4 */
        uint32_t groups = (L->n_in + 3u) / 4u;
        return common + 4u * (size_t)L->n_out * mbnn_words(L->n_in) + 4u * (size_t)L->n_in + 40u * (size_t)groups;
    }
    return common + 8u * (size_t)L->words; /* the patch and its mask */
}

void mbnn_i_conv_forward(const mbnn_layer *L, const int8_t *q, int32_t zp, const uint32_t *u, uint32_t *out,
                         uint32_t out_stride, uint32_t *win, uint8_t *arg, void *scratch)
{
    uint32_t py, px, o, dy, dx, pool_h = mbnn_i_pool_h(L), pool_w = L->pool;
    uint32_t out_h = mbnn_i_out_h(L), out_w = mbnn_i_out_w(L);

    if (scratch != NULL) {
        mbnn_conv_fast(L, q, zp, u, out, out_stride, win, arg, (uint32_t *)scratch);
        return;
    }
    /* The reference kernel: channel by channel, position by position. */
    for (py = 0; py < out_h; py++) {
        for (px = 0; px < out_w; px++) {
            uint32_t pix = py * out_w + px;
            for (o = 0; o < L->n_out; o++) {
                const uint32_t *row = L->bits + (size_t)o * L->words;
                uint32_t e = pix * L->n_out + o, best = 0, found = 0, bit;
                int32_t a_best = 0;
                /* The pooled output is +1 (bit 0) when any position of the
                 * window is; the first such position (row-major) is kept
                 * for learning, position 0 when there is none. */
                for (dy = 0; dy < pool_h && !found; dy++) {
                    for (dx = 0; dx < pool_w && !found; dx++) {
                        int32_t a = mbnn_conv_at(L, row, u, q, zp, py * pool_h + dy, px * pool_w + dx);
                        if (a >= L->p0[o]) {
                            found = 1u;
                            best = dy * pool_w + dx;
                            a_best = a;
                        } else if (dy == 0u && dx == 0u) {
                            a_best = a;
                        }
                    }
                }
                if (!found) {
                    bit = pix * out_stride + o;
                    out[bit / 32u] |= 1u << (bit % 32u);
                }
                if (win != NULL && L->p1[o] <= a_best && a_best <= L->p2[o]) {
                    win[e / 32u] |= 1u << (e % 32u);
                }
                if (arg != NULL) {
                    arg[e] = (uint8_t)best;
                }
            }
        }
    }
}

/* The pre-pooling position (oy, ox) of compact output e at pooled pixel (py, px). */
static void mbnn_conv_pos(const mbnn_layer *L, const uint8_t *arg, uint32_t e, uint32_t py, uint32_t px,
                          uint32_t *oy, uint32_t *ox)
{
    uint32_t a = arg != NULL ? arg[e] : 0u;
    *oy = py * mbnn_i_pool_h(L) + a / L->pool;
    *ox = px * L->pool + a % L->pool;
}

/* Bit sums over 16 channels by buckets: bucket[k][m] holds the sum of the
 * values added with the 4 bits m at channels 4k .. 4k + 3; the sum for
 * channel c is over the 8 patterns m with bit c % 4 set. */
static int32_t mbnn_conv_bucket_sum(int32_t (*bucket)[16], uint32_t c)
{
    uint32_t b = 1u << (c % 4u), m;
    int32_t n = 0;
    for (m = b; m < 16u; m = (m + 1u) | b) {
        n += bucket[c / 4u][m];
    }
    return n;
}

/* The transposed conv, window position by window position of each pooled
 * pixel: for each tap inside the map and 16 input channels at a time, the
 * errors of the output channels that kept this position are added into
 * buckets by the 4 weight bits of those channels (one add per 4 weights),
 * then g[c] += total - 2 * (sum of the errors whose weight bit c is 1).
 * |g| < 2^28 (ARITHMETIC.md), so the 32-bit sums are exact. */
void mbnn_i_conv_input_sum(const mbnn_layer *L, const int32_t *delta, const uint8_t *arg, int32_t *g,
                           int32_t *work)
{
    int32_t(*bucket)[16] = (int32_t(*)[16])work; /* [4][16] */
    uint32_t py, px, dy, dx, o, ky, kx, c, c0, k, wc = mbnn_i_wc(L), out_h = mbnn_i_out_h(L);
    uint32_t out_w = mbnn_i_out_w(L), pool_h = mbnn_i_pool_h(L), pool_w = L->pool;

    memset(g, 0, 4u * (size_t)L->in_c * L->in_h * L->in_w);
    for (py = 0; py < out_h; py++) {
        for (px = 0; px < out_w; px++) {
            const int32_t *d = delta + (py * out_w + px) * L->n_out;
            const uint8_t *at = arg != NULL ? arg + (py * out_w + px) * L->n_out : NULL;
            for (dy = 0; dy < pool_h; dy++) {
                for (dx = 0; dx < pool_w; dx++) {
                    uint32_t a = dy * pool_w + dx, ky0, ky1, kx0, kx1, any = 0;
                    int32_t y0, x0;
                    for (o = 0; o < L->n_out && !any; o++) {
                        any = d[o] != 0 && (at != NULL ? at[o] : 0u) == a;
                    }
                    if (!any) {
                        continue;
                    }
                    mbnn_conv_taps(L, py * pool_h + dy, px * pool_w + dx, &y0, &x0, &ky0, &ky1, &kx0, &kx1);
                    for (ky = ky0; ky < ky1; ky++) {
                        for (kx = kx0; kx < kx1; kx++) {
                            int32_t *acc = g + ((size_t)(y0 + (int32_t)ky) * L->in_w + (uint32_t)(x0 + (int32_t)kx)) *
                                                   L->in_c;
                            const uint32_t *w = L->bits + (ky * L->kw + kx) * wc;
                            for (c0 = 0; c0 < L->in_c; c0 += 16u) {
                                uint32_t nc = L->in_c - c0 < 16u ? L->in_c - c0 : 16u, ng = (nc + 3u) / 4u;
                                int32_t total = 0;
                                memset(bucket, 0, 4u * 64u);
                                for (o = 0; o < L->n_out; o++) {
                                    uint32_t word;
                                    if (d[o] == 0 || (at != NULL ? at[o] : 0u) != a) {
                                        continue;
                                    }
                                    word = w[(size_t)o * L->words + c0 / 32u] >> (c0 % 32u);
                                    total += d[o];
                                    for (k = 0; k < ng; k++, word >>= 4) {
                                        bucket[k][word & 15u] += d[o];
                                    }
                                }
                                for (c = 0; c < nc; c++) {
                                    acc[c0 + c] += total - 2 * mbnn_conv_bucket_sum(bucket, c);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#define MBNN_CONV_NORM_MAX 4096
#define MBNN_CONV_STEP_MAX (1L << 23)
#define MBNN_CONV_D_MAX (1L << 24)

/* Stochastic rounding of kernel weight j of channel o (hidden h, bits row)
 * under its summed change D != 0 (ARITHMETIC.md "Conv layers", steps 3-4):
 * the clamp, the damping and rounding with the random number of weight
 * idx = g0 + j (one draw per pair of weights: *draw caches the draw of pair
 * *pair), and the bit flipped with the sign. */
static MBNN_ALWAYS_INLINE void mbnn_conv_apply(const mbnn_layer *L, int8_t *h, uint32_t *row, uint32_t j, int64_t D,
                                               uint32_t g0, uint32_t key, uint32_t *pair, uint32_t *draw)
{
    uint32_t idx = g0 + j, pos;
    int32_t old = h[j], nh;

    if ((idx >> 1) != *pair) {
        *pair = idx >> 1;
        *draw = mbnn_i_mix32(key + *pair);
    }
    D = mbnn_clamp64(D, -MBNN_CONV_D_MAX, MBNN_CONV_D_MAX);
    nh = mbnn_i_damp_round(old, (int32_t)D, L->meta, (idx & 1u) ? *draw >> 16 : *draw & 0xFFFFu);
    h[j] = (int8_t)nh;
    if ((nh < 0) != (old < 0)) {
        pos = mbnn_i_weight_bit(L, j);
        row[pos / 32u] ^= 1u << (pos % 32u);
    }
}

/* Channel o's kernel weights, one at a time over every position (the plain
 * form, for steps too large for the 32-bit sums of mbnn_conv_weights). */
static void mbnn_conv_weights_plain(const mbnn_layer *L, uint32_t o, const int32_t *delta, const uint8_t *arg,
                                    const int8_t *q, int32_t zp, const uint32_t *u, uint32_t key)
{
    uint32_t out_w = mbnn_i_out_w(L), n_pos = mbnn_i_out_h(L) * out_w, wc = mbnn_i_wc(L), p, j;
    uint32_t g0 = L->base + o * (uint32_t)L->n_in, pair = 0xFFFFFFFFu, draw = 0;

    for (j = 0; j < L->n_in; j++) {
        uint32_t c = j % L->in_c, tap = j / L->in_c, ky = tap / L->kw, kx = tap % L->kw;
        int64_t D = 0;
        for (p = 0; p < n_pos; p++) {
            uint32_t e = p * L->n_out + o, oy, ox;
            int32_t step = delta[e], y, x;
            if (step == 0) {
                continue;
            }
            mbnn_conv_pos(L, arg, e, p / out_w, p % out_w, &oy, &ox);
            y = (int32_t)(oy * L->sh + ky) - (int32_t)L->ph;
            x = (int32_t)(ox * L->sw + kx) - (int32_t)L->pw;
            if (y < 0 || x < 0 || y >= (int32_t)L->in_h || x >= (int32_t)L->in_w) {
                continue; /* a padded position: 0 */
            }
            if (q != NULL) {
                D += (int64_t)step * ((int32_t)q[((size_t)c * L->in_h + (uint32_t)y) * L->in_w + (uint32_t)x] - zp);
            } else {
                uint32_t word = u[((size_t)y * L->in_w + (uint32_t)x) * wc + c / 32u];
                D += ((word >> (c % 32u)) & 1u) ? -step : step;
            }
        }
        if (D != 0) {
            mbnn_conv_apply(L, L->hidden + (size_t)o * L->n_in, L->bits_rw + (size_t)o * L->words, j, D, g0, key,
                            &pair, &draw);
        }
    }
}

/* Channel o's kernel weights, kernel tap by tap and 16 input channels at a
 * time: one pass over the positions with a non-zero step sums, in 32 bits
 * (the caller checked that no sum can overflow), the change of those 16
 * weights. Bits: per group of 4 channels, the steps are added into 16
 * buckets by the 4 input bits (one add per 4 weights and position); a
 * weight's sum over the positions inside the map, S - 2 N, takes N from the
 * 8 buckets whose pattern has its bit set. int8: sum of step * (q - zp). */
static void mbnn_conv_weights(const mbnn_layer *L, uint32_t o, const int32_t *delta, const uint8_t *arg,
                              const int8_t *q, int32_t zp, const uint32_t *u, uint32_t key, int32_t *work)
{
    int32_t *acc = work, (*bucket)[16] = (int32_t(*)[16])(work + 16); /* [16], [4][16] */
    uint32_t out_w = mbnn_i_out_w(L), n_pos = mbnn_i_out_h(L) * out_w, wc = mbnn_i_wc(L), p, c, c0, k;
    uint32_t ky, kx, plane = (uint32_t)L->in_h * L->in_w, g0 = L->base + o * (uint32_t)L->n_in;
    uint32_t pair = 0xFFFFFFFFu, draw = 0;
    int8_t *h = L->hidden + (size_t)o * L->n_in;
    uint32_t *row = L->bits_rw + (size_t)o * L->words;

    for (ky = 0; ky < L->kh; ky++) {
        for (kx = 0; kx < L->kw; kx++) {
            for (c0 = 0; c0 < L->in_c; c0 += 16u) {
                uint32_t nc = L->in_c - c0 < 16u ? L->in_c - c0 : 16u, ng = (nc + 3u) / 4u;
                int32_t total = 0;
                memset(acc, 0, 4u * 16u);
                memset(bucket, 0, 4u * 64u);
                for (p = 0; p < n_pos; p++) {
                    uint32_t e = p * L->n_out + o, oy, ox;
                    int32_t step = delta[e], y, x;
                    if (step == 0) {
                        continue;
                    }
                    mbnn_conv_pos(L, arg, e, p / out_w, p % out_w, &oy, &ox);
                    y = (int32_t)(oy * L->sh + ky) - (int32_t)L->ph;
                    x = (int32_t)(ox * L->sw + kx) - (int32_t)L->pw;
                    if (y < 0 || x < 0 || y >= (int32_t)L->in_h || x >= (int32_t)L->in_w) {
                        continue; /* a padded position: 0 */
                    }
                    if (q != NULL) {
                        const int8_t *qc = q + (size_t)c0 * plane + (uint32_t)y * L->in_w + (uint32_t)x;
                        for (c = 0; c < nc; c++) {
                            acc[c] += step * ((int32_t)qc[(size_t)c * plane] - zp);
                        }
                    } else {
                        uint32_t word = u[((size_t)(uint32_t)y * L->in_w + (uint32_t)x) * wc + c0 / 32u] >> (c0 % 32u);
                        total += step;
                        for (k = 0; k < ng; k++, word >>= 4) {
                            bucket[k][word & 15u] += step;
                        }
                    }
                }
                if (q == NULL) {
                    for (c = 0; c < nc; c++) {
                        acc[c] = total - 2 * mbnn_conv_bucket_sum(bucket, c);
                    }
                }
                for (c = 0; c < nc; c++) {
                    if (acc[c] != 0) {
                        mbnn_conv_apply(L, h, row, (ky * L->kw + kx) * L->in_c + c0 + c, acc[c], g0, key, &pair,
                                        &draw);
                    }
                }
            }
        }
    }
}

void mbnn_i_conv_update(const mbnn_layer *L, unsigned rms_shift, int32_t *delta, const uint8_t *arg,
                        const int8_t *q, int32_t zp, const uint32_t *u, uint32_t key, int32_t *work)
{
    uint32_t n_pos = mbnn_i_out_h(L) * mbnn_i_out_w(L), o, p;

    for (o = 0; o < L->n_out; o++) {
        uint64_t sum = 0;
        uint32_t r = L->rms[o], s, sq, nz = 0, big = 0;

        /* Running mean square of the channel's error, over its pooled positions. */
        for (p = 0; p < n_pos; p++) {
            int32_t d = delta[p * L->n_out + o];
            sum += (uint64_t)((int64_t)d * d);
        }
        sq = (uint32_t)(sum / n_pos); /* < 2^30 */
        r = r == 0u ? sq : (uint32_t)((int32_t)r + mbnn_asr32((int32_t)sq - (int32_t)r, rms_shift));
        L->rms[o] = r;
        s = mbnn_i_isqrt(r);
        s = s == 0u ? 1u : s;
        /* The step of each position, in place of its error (no longer needed). */
        for (p = 0; p < n_pos; p++) {
            int32_t *d = &delta[p * L->n_out + o];
            int32_t n = mbnn_clamp32((*d * 256) / (int32_t)s, -MBNN_CONV_NORM_MAX, MBNN_CONV_NORM_MAX);
            int32_t step = (int32_t)mbnn_clamp64(mbnn_asr64(-(int64_t)n * L->lr_q16, 8), -MBNN_CONV_STEP_MAX,
                                                 MBNN_CONV_STEP_MAX);
            *d = q != NULL ? mbnn_asr32(step, 7) : step;
            if (*d != 0) {
                uint32_t m = *d < 0 ? (uint32_t)-*d : (uint32_t)*d;
                nz++;
                big = m > big ? m : big;
            }
        }
        if (nz == 0u) {
            continue; /* no step: nothing changes */
        }
        /* Each kernel weight: its change summed over the positions. In 32
         * bits when no sum can reach 2^31: |step * x| <= big * 255 (int8),
         * and S, 2 N <= 2 * nz * big (bits). */
        if (MBNN_KERNELS && (uint64_t)nz * big * (q != NULL ? 255u : 2u) < 0x80000000u) {
            mbnn_conv_weights(L, o, delta, arg, q, zp, u, key, work);
        } else {
            mbnn_conv_weights_plain(L, o, delta, arg, q, zp, u, key);
        }
    }
}
