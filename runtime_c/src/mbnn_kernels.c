/*
 * Forward kernels of one layer (docs/ARITHMETIC.md "Inference"), in two
 * versions that give the same numbers bit for bit:
 *
 *   mbnn_i_layer_*_ref  the plain C99 reference kernels (the definition);
 *   mbnn_i_layer_*_opt  the optimized kernels (docs/PERFORMANCE.md):
 *     - bit input: carry-save (Harley-Seal) popcount over blocks of 8 words,
 *       no library call for popcount; on x86-64 hosts, a POPCNT or an
 *       AVX-512 (VPOPCNTQ) version chosen at run time by CPU feature (the
 *       library stays portable);
 *     - int8 input: partial-sum tables computed once per sample, then one
 *       table read per group of weights: 256 entries per group of 8 inputs,
 *       128 inputs at a time, for large layers (mbnn_i_int8_bytes,
 *       MBNN_INT8_BYTES), else 16 entries per group of 4 inputs; on x86-64
 *       hosts AVX2 or AVX-512 (VPBLENDMB + VPDPBUSD) versions chosen at run
 *       time.
 *
 * mbnn_i_forward uses the optimized ones when MBNN_KERNELS is 1 (default);
 * the C tests compare both on random layers on every target.
 *
 *   int8 input:  a_i = sum_j (bit_ij ? -x_j : x_j),  x_j = q_j - zero_point
 *   bit input:   a_i = n_in - 2 * popcount(row_i XOR u), padding masked off
 *   hidden:      v_i = (a_i < threshold_i), window w_i = (lo_i <= a_i <= hi_i)
 *   output:      z_i = sat32(scale_i * a_i + offset_i)  (64-bit product)
 */
#include <string.h>

#include "mbnn_internal.h"

/* ---- reference kernels ---- */

void mbnn_i_layer_int8_ref(const mbnn_layer *L, const int8_t *q, int32_t zp, uint32_t *out,
                           uint32_t *win, int32_t *logits)
{
    uint32_t i, k, b, n_in = L->n_in;
    int32_t sum_x = 0;

    if (L->bits == NULL) { /* a learning arena's first layer: bit_ij = (hidden_ij < 0) */
        for (i = 0; i < L->n_out; i++) {
            const int8_t *h = L->hidden + (size_t)i * n_in;
            int32_t a = 0;
            for (k = 0; k < n_in; k++) {
                a += h[k] < 0 ? zp - (int32_t)q[k] : (int32_t)q[k] - zp;
            }
            mbnn_emit(L, i, a, out, win, logits);
        }
        return;
    }
    for (k = 0; k < n_in; k++) {
        sum_x += (int32_t)q[k] - zp;
    }
    /* a_i = sum_x - 2 * (sum of x_j where the weight is -1), where the sum
     * over the -1 weights is (sum of their q_j) - (their count) * zp. */
    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * L->words;
        int32_t neg_q = 0, neg_count = 0;
        for (k = 0; k < L->words; k++) {
            uint32_t w = row[k];
            uint32_t n_bits = n_in - 32u * k < 32u ? n_in - 32u * k : 32u;
            const int8_t *qk = q + 32u * k;
            if (n_bits < 32u) {
                w &= (1u << n_bits) - 1u;
            }
            neg_count += (int32_t)mbnn_popcount32(w);
            for (b = 0; b < n_bits; b++) {
                neg_q += (int32_t)qk[b] & -(int32_t)((w >> b) & 1u);
            }
        }
        mbnn_emit(L, i, sum_x - 2 * (neg_q - neg_count * zp), out, win, logits);
    }
}

void mbnn_i_layer_bits_ref(const mbnn_layer *L, const uint32_t *u, uint32_t *out, uint32_t *win,
                           int32_t *logits)
{
    uint32_t i, k, last = L->words - 1u;

    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * L->words;
        uint32_t ones = 0;
        for (k = 0; k < last; k++) {
            ones += mbnn_popcount32(row[k] ^ u[k]);
        }
        ones += mbnn_popcount32((row[last] ^ u[last]) & mbnn_last_mask(L->n_in));
        mbnn_emit(L, i, (int32_t)L->n_in - 2 * (int32_t)ones, out, win, logits);
    }
}

/* ---- optimized kernels ---- */

/* Bits set in v without a library call (SWAR: sums of 2, 4, 8 bits, then the
 * four bytes added by one multiply), whatever MBNN_POPCOUNT_BUILTIN says:
 * on cores without a popcount instruction __builtin_popcount is a libgcc call. */
static inline uint32_t mbnn_bytes32(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (v + (v >> 4)) & 0x0F0F0F0Fu; /* bits set in each byte */
}

static inline uint32_t mbnn_swar32(uint32_t v)
{
    return (mbnn_bytes32(v) * 0x01010101u) >> 24;
}

/* Carry-save adder: the bit-wise sum a + b + c as two bits, h (weight 2) and
 * l (weight 1). */
#define MBNN_CSA(h, l, a, b, c)                  \
    do {                                         \
        uint32_t csa_u = (a) ^ (b);              \
        (h) = ((a) & (b)) | (csa_u & (c));       \
        (l) = csa_u ^ (c);                       \
    } while (0)

/* popcount(r XOR u) over n words (Harley-Seal, "Faster population counts
 * using AVX2 instructions", Mula, Kurz, Lemire 2018, section 3): the words
 * are added bit-wise into counters ones/twos/fours with carry-save adders,
 * and only the eights (one word per 8 input words) are popcounted. */
static inline uint32_t mbnn_xor_popcount(const uint32_t *r, const uint32_t *u, uint32_t n)
{
    uint32_t total = 0;

    if (n >= 8u) { /* shorter rows: the counters' final sum would cost more */
        uint32_t ones = 0, twos = 0, fours = 0;
        const uint32_t *end = r + (n & ~7u);
        for (; r != end; r += 8, u += 8) {
            uint32_t twos_a, twos_b, fours_a, fours_b, eights;
            MBNN_CSA(twos_a, ones, ones, r[0] ^ u[0], r[1] ^ u[1]);
            MBNN_CSA(twos_b, ones, ones, r[2] ^ u[2], r[3] ^ u[3]);
            MBNN_CSA(fours_a, twos, twos, twos_a, twos_b);
            MBNN_CSA(twos_a, ones, ones, r[4] ^ u[4], r[5] ^ u[5]);
            MBNN_CSA(twos_b, ones, ones, r[6] ^ u[6], r[7] ^ u[7]);
            MBNN_CSA(fours_b, twos, twos, twos_a, twos_b);
            MBNN_CSA(eights, fours, fours, fours_a, fours_b);
            total += mbnn_swar32(eights);
        }
        if ((n & 4u) != 0u) {
            uint32_t twos_a, twos_b, fours_a;
            MBNN_CSA(twos_a, ones, ones, r[0] ^ u[0], r[1] ^ u[1]);
            MBNN_CSA(twos_b, ones, ones, r[2] ^ u[2], r[3] ^ u[3]);
            MBNN_CSA(fours_a, twos, twos, twos_a, twos_b);
            total += mbnn_swar32(fours & fours_a);
            fours ^= fours_a;
            r += 4;
            u += 4;
        }
        /* The three counters at once: per byte at most 4 * 8 + 2 * 8 + 8 = 56. */
        total = 8u * total + ((((mbnn_bytes32(fours) << 2) + (mbnn_bytes32(twos) << 1) + mbnn_bytes32(ones)) *
                               0x01010101u) >> 24);
        n &= 3u;
    }
    for (; n != 0u; n--) {
        total += mbnn_swar32(*r++ ^ *u++);
    }
    return total;
}

/* popcount(r XOR u) over exactly 8 words, straight-line: one carry-save
 * block, then the four counters at once (per byte at most 8 * 8 = 64, the
 * bits of that byte lane in the 8 words: no carry between bytes). The total
 * reaches 256 (all 256 bits differ), which a byte does not hold, so the
 * bytes are added in 16-bit lanes, not by the multiply by 0x01010101 (whose
 * top byte would give 256 as 0). Rows of 8 to 15 words use it (with the
 * other words one by one): the loop of mbnn_xor_popcount costs such short
 * rows its set-up and spills around one turn. */
static inline uint32_t mbnn_xor_popcount8(const uint32_t *r, const uint32_t *u)
{
    uint32_t ones = 0, twos = 0, fours, eights, twos_a, twos_b, fours_a, fours_b, v;

    MBNN_CSA(twos_a, ones, ones, r[0] ^ u[0], r[1] ^ u[1]);
    MBNN_CSA(twos_b, ones, ones, r[2] ^ u[2], r[3] ^ u[3]);
    MBNN_CSA(fours_a, twos, twos, twos_a, twos_b);
    MBNN_CSA(twos_a, ones, ones, r[4] ^ u[4], r[5] ^ u[5]);
    MBNN_CSA(twos_b, ones, ones, r[6] ^ u[6], r[7] ^ u[7]);
    MBNN_CSA(fours_b, twos, twos, twos_a, twos_b);
    eights = fours_a & fours_b;
    fours = fours_a ^ fours_b;
    v = (mbnn_bytes32(eights) << 3) + (mbnn_bytes32(fours) << 2) + (mbnn_bytes32(twos) << 1) +
        mbnn_bytes32(ones);
    v = (v & 0x00FF00FFu) + ((v >> 8) & 0x00FF00FFu); /* two 16-bit sums, each <= 128 */
    return (v + (v >> 16)) & 0x1FFu;                  /* <= 256 */
}

#if MBNN_X86_DISPATCH
/* x86-64 hosts: the same kernel with the POPCNT instruction on 64 bits,
 * compiled for CPUs that have it and called only when the CPU says so. */
__attribute__((target("popcnt"))) static void mbnn_layer_bits_popcnt(const mbnn_layer *L,
                                                                     const uint32_t *u, uint32_t *out,
                                                                     uint32_t *win, int32_t *logits)
{
    uint32_t i, k, last = L->words - 1u, mask = mbnn_last_mask(L->n_in);

    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * L->words;
        uint32_t ones = 0;
        for (k = 0; k + 1u < last; k += 2u) {
            uint64_t a, b; /* two words at once (little-endian: same bits) */
            memcpy(&a, row + k, 8u);
            memcpy(&b, u + k, 8u);
            ones += (uint32_t)__builtin_popcountll(a ^ b);
        }
        for (; k < last; k++) {
            ones += (uint32_t)__builtin_popcount(row[k] ^ u[k]);
        }
        ones += (uint32_t)__builtin_popcount((row[last] ^ u[last]) & mask);
        mbnn_emit(L, i, (int32_t)L->n_in - 2 * (int32_t)ones, out, win, logits);
    }
}
#endif

#if MBNN_X86_DISPATCH
/* ---- x86-64 hosts with AVX-512 (F, BW, VNNI, VPOPCNTDQ; mbnn_i_x86_level) ---- */

/* Rows i0 .. i0 + 15 of L (i0 a multiple of 16) with pre-activations a, as
 * mbnn_emit row by row (rows past n_out: nothing): on a hidden layer the
 * threshold and window compares 16 at a time, their bits or-ed into half a
 * word of out and win. */
MBNN_AVX512 void mbnn_i_emit16(const mbnn_layer *L, uint32_t i0, __m512i a, uint32_t *out, uint32_t *win,
                               int32_t *logits)
{
    uint32_t r, n = L->n_out - i0 < 16u ? L->n_out - i0 : 16u;
    __mmask16 valid = (__mmask16)((1u << n) - 1u), m;

    if (logits != NULL) {
        int32_t t[16];
        _mm512_storeu_si512((void *)t, a);
        for (r = 0; r < n; r++) {
            mbnn_emit(L, i0 + r, t[r], NULL, NULL, logits);
        }
        return;
    }
    m = _mm512_mask_cmplt_epi32_mask(valid, a, _mm512_maskz_loadu_epi32(valid, L->p0 + i0));
    out[i0 / 32u] |= (uint32_t)m << (i0 % 32u);
    if (win != NULL) {
        m = _mm512_mask_cmple_epi32_mask(valid, _mm512_maskz_loadu_epi32(valid, L->p1 + i0), a);
        m = _mm512_mask_cmple_epi32_mask(m, a, _mm512_maskz_loadu_epi32(valid, L->p2 + i0));
        win[i0 / 32u] |= (uint32_t)m << (i0 % 32u);
    }
}

/* The sums of the 16 int32 lanes of a0, a1, a2 and a3 (in that order). */
MBNN_AVX512 static inline __m128i mbnn_hsum4(__m512i a0, __m512i a1, __m512i a2, __m512i a3)
{
    __m512i x0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    __m512i x1 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    __m512i y = _mm512_add_epi32(_mm512_unpacklo_epi64(x0, x1), _mm512_unpackhi_epi64(x0, x1));
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(y), _mm512_extracti64x4_epi64(y, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Bit input, n samples (u: n rows of L->words words; out: n rows of
 * out_words, or logits: n rows of n_out; win only for n = 1):
 * popcount(row XOR u) 512 bits at a time (VPOPCNTQ), 4 rows at a time, the
 * last chunk of 16 words (1 to 16 of them) loaded under a mask and its
 * padding bits cleared (u's and the row's). The rows go in tiles of 16, each
 * tile (2 KiB for 1024 inputs) through every sample before the next, so that
 * it is read from memory once; a tile's 16 counts are emitted at once. */
MBNN_AVX512 void mbnn_i_bits_avx512(const mbnn_layer *L, const uint32_t *u, uint32_t n, uint32_t *out,
                                    uint32_t out_words, uint32_t *win, int32_t *logits)
{
    const uint32_t words = L->words, full = (words - 1u) / 16u, tail = words - 16u * full;
    const __mmask16 tmask = (__mmask16)((1u << tail) - 1u);
    int32_t keep_w[16] = {0}, t[16] = {0};
    __m512i keep;
    uint32_t i, i0, k, s;

    for (k = 0; k < tail; k++) {
        keep_w[k] = k + 1u == tail ? (int32_t)mbnn_last_mask(L->n_in) : -1;
    }
    keep = _mm512_loadu_si512((const void *)keep_w);
    for (i0 = 0; i0 < L->n_out; i0 += 16u) {
        for (s = 0; s < n; s++) {
            const uint32_t *us = u + (size_t)s * words;
            const __m512i ut = _mm512_and_si512(_mm512_maskz_loadu_epi32(tmask, us + 16u * full), keep);
            for (i = i0; i < i0 + 16u && i < L->n_out; i += 4u) {
                /* rows i .. i + 3 (past n_out: row i again, not emitted); the
                 * counts (at most 8192) in the low halves of the 64-bit lanes */
                const uint32_t *r0 = L->bits + (size_t)i * words;
                const uint32_t *r1 = i + 1u < L->n_out ? r0 + words : r0;
                const uint32_t *r2 = i + 2u < L->n_out ? r0 + 2u * words : r0;
                const uint32_t *r3 = i + 3u < L->n_out ? r0 + 3u * words : r0;
#define MBNN_BITS_TAIL(row) \
    _mm512_popcnt_epi64(_mm512_and_si512(_mm512_xor_si512(_mm512_maskz_loadu_epi32(tmask, (row) + 16u * full), ut), keep))
#define MBNN_BITS_WORDS(row) _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)((row) + 16u * k)), uk))
                __m512i a0 = MBNN_BITS_TAIL(r0), a1 = MBNN_BITS_TAIL(r1), a2 = MBNN_BITS_TAIL(r2), a3 = MBNN_BITS_TAIL(r3);
                for (k = 0; k < full; k++) {
                    const __m512i uk = _mm512_loadu_si512((const void *)(us + 16u * k));
                    a0 = _mm512_add_epi64(a0, MBNN_BITS_WORDS(r0));
                    a1 = _mm512_add_epi64(a1, MBNN_BITS_WORDS(r1));
                    a2 = _mm512_add_epi64(a2, MBNN_BITS_WORDS(r2));
                    a3 = _mm512_add_epi64(a3, MBNN_BITS_WORDS(r3));
                }
#undef MBNN_BITS_TAIL
#undef MBNN_BITS_WORDS
                /* a = n_in - 2 ones for the 4 rows (the high halves of the lanes are 0) */
                _mm_storeu_si128((__m128i *)(void *)(t + i % 16u),
                                 _mm_sub_epi32(_mm_set1_epi32((int32_t)L->n_in),
                                               _mm_slli_epi32(mbnn_hsum4(a0, a1, a2, a3), 1)));
            }
            mbnn_i_emit16(L, i0, _mm512_loadu_si512((const void *)t), out == NULL ? NULL : out + (size_t)s * out_words,
                          win, logits == NULL ? NULL : logits + (size_t)s * L->n_out);
        }
    }
}

MBNN_AVX512 void mbnn_i_layer_bits_avx512(const mbnn_layer *L, const uint32_t *u, uint32_t *out,
                                          uint32_t *win, int32_t *logits)
{
    mbnn_i_bits_avx512(L, u, 1u, out, 0u, win, logits);
}

/* The selection bits (bit set: weight -1) of inputs 64 c .. 64 c + 63 of a
 * row: two words of its bits, or in a learning arena the signs of 64 of its
 * hidden weights (VPMOVB2M); the last chunk masked to the inputs that exist
 * (tmask), read without touching bytes past them. */
MBNN_AVX512 static inline __mmask64 mbnn_sel_bits(const uint32_t *row, uint32_t c, uint32_t words, int last,
                                                  uint64_t tmask)
{
    uint64_t m;
    if (!last) {
        memcpy(&m, row + 2u * c, 8u); /* little-endian: word 2c in the low half */
        return _cvtu64_mask64(m);
    }
    m = (uint64_t)row[2u * c] | (2u * c + 1u < words ? (uint64_t)row[2u * c + 1u] << 32 : 0u);
    return _cvtu64_mask64(m & tmask);
}

MBNN_AVX512 static inline __mmask64 mbnn_sel_hidden(const int8_t *h, uint32_t c, int last, uint64_t tmask)
{
    if (!last) {
        return _mm512_movepi8_mask(_mm512_loadu_si512((const void *)(h + 64u * c)));
    }
    return _mm512_movepi8_mask(_mm512_maskz_loadu_epi8(_cvtu64_mask64(tmask), h + 64u * c));
}

/* int8 input, one sample, 64 inputs per step and 4 rows at a time. With the
 * features q_j as signed bytes (0 past n_in) and the zero point zp (an int8
 * too): VPBLENDMB picks q_j where the weight is -1 and zp elsewhere (the
 * padding past n_in included: its selection bits are 0), and VPDPBUSD adds
 * the 64 bytes (times 1) into 16 int32 lanes. Over the C = ceil(n_in / 64)
 * chunks the sum is S = sum_{neg} q_j + zp (64 C - count), so, since
 * x_j = q_j - zp, sum_{neg} x_j = S - 64 C zp with no count of the negative
 * weights, and a = sum_x - 2 sum_{neg} x_j (|S| <= 128 * 8192: int32). */
#define MBNN_INT8_AVX512(NAME, ROW_T, ROW, SEL)                                                              \
    MBNN_AVX512 static void NAME(const mbnn_layer *L, const int8_t *q, int32_t zp, uint32_t *out,           \
                                 uint32_t *win, int32_t *logits)                                             \
    {                                                                                                        \
        const uint32_t n_in = L->n_in, words = L->words, chunks = (n_in + 63u) / 64u, last = chunks - 1u;    \
        const uint32_t nt = n_in - 64u * last;                                                               \
        const uint64_t tmask = nt == 64u ? ~(uint64_t)0 : ((uint64_t)1 << nt) - 1u;                          \
        const __m512i one = _mm512_set1_epi8(1), zv = _mm512_set1_epi8((char)zp);                            \
        const __m512i qt = _mm512_maskz_loadu_epi8(_cvtu64_mask64(tmask), q + 64u * last);                   \
        const int32_t bias = 64 * (int32_t)chunks * zp;                                                      \
        int32_t t[16] = {0};                                                                                 \
        __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), one, qt);                                  \
        __m128i sx, b4 = _mm_set1_epi32(bias);                                                               \
        uint32_t i, k;                                                                                       \
        (void)words;                                                                                         \
        for (k = 0; k < last; k++) {                                                                         \
            acc = _mm512_dpbusd_epi32(acc, one, _mm512_loadu_si512((const void *)(q + 64u * k)));            \
        }                                                                                                    \
        sx = _mm_set1_epi32(_mm512_reduce_add_epi32(acc) - zp * (int32_t)n_in); /* sum_x */                 \
        for (i = 0; i < L->n_out; i += 4u) {                                                                 \
            /* rows i .. i + 3 (past n_out: row i again, not emitted) */                                     \
            const ROW_T *r0 = ROW(i), *r1 = ROW(i + 1u < L->n_out ? i + 1u : i);                             \
            const ROW_T *r2 = ROW(i + 2u < L->n_out ? i + 2u : i), *r3 = ROW(i + 3u < L->n_out ? i + 3u : i); \
            /* the last chunk first, then the whole ones */                                                 \
            __m512i a0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), one,                                    \
                                             _mm512_mask_blend_epi8(SEL(r0, last, 1), zv, qt));              \
            __m512i a1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), one,                                    \
                                             _mm512_mask_blend_epi8(SEL(r1, last, 1), zv, qt));              \
            __m512i a2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), one,                                    \
                                             _mm512_mask_blend_epi8(SEL(r2, last, 1), zv, qt));              \
            __m512i a3 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), one,                                    \
                                             _mm512_mask_blend_epi8(SEL(r3, last, 1), zv, qt));              \
            uint32_t r;                                                                                      \
            for (k = 0; k < last; k++) {                                                                     \
                const __m512i b = _mm512_loadu_si512((const void *)(q + 64u * k));                           \
                a0 = _mm512_dpbusd_epi32(a0, one, _mm512_mask_blend_epi8(SEL(r0, k, 0), zv, b));             \
                a1 = _mm512_dpbusd_epi32(a1, one, _mm512_mask_blend_epi8(SEL(r1, k, 0), zv, b));             \
                a2 = _mm512_dpbusd_epi32(a2, one, _mm512_mask_blend_epi8(SEL(r2, k, 0), zv, b));             \
                a3 = _mm512_dpbusd_epi32(a3, one, _mm512_mask_blend_epi8(SEL(r3, k, 0), zv, b));             \
            }                                                                                                \
            /* a = sum_x - 2 (S - bias) for the 4 rows */                                                   \
            _mm_storeu_si128((__m128i *)(void *)(t + i % 16u),                                               \
                             _mm_sub_epi32(sx, _mm_slli_epi32(_mm_sub_epi32(mbnn_hsum4(a0, a1, a2, a3), b4), 1))); \
            r = i + 4u < L->n_out ? i + 4u : L->n_out; /* rows done */                                       \
            if (r % 16u == 0u || r == L->n_out) {                                                            \
                mbnn_i_emit16(L, i & ~15u, _mm512_loadu_si512((const void *)t), out, win, logits);           \
            }                                                                                                \
        }                                                                                                    \
    }
#define MBNN_ROW_BITS(i) (L->bits + (size_t)(i) * words)
#define MBNN_SEL_BITS(row, c, is_last) mbnn_sel_bits(row, c, words, is_last, tmask)
#define MBNN_ROW_HIDDEN(i) (L->hidden + (size_t)(i) * n_in)
#define MBNN_SEL_HIDDEN(row, c, is_last) mbnn_sel_hidden(row, c, is_last, tmask)
MBNN_INT8_AVX512(mbnn_int8_avx512_bits, uint32_t, MBNN_ROW_BITS, MBNN_SEL_BITS)
MBNN_INT8_AVX512(mbnn_int8_avx512_hidden, int8_t, MBNN_ROW_HIDDEN, MBNN_SEL_HIDDEN)

MBNN_AVX512 void mbnn_i_layer_int8_avx512(const mbnn_layer *L, const int8_t *q, int32_t zp, uint32_t *out,
                                          uint32_t *win, int32_t *logits)
{
    if (L->bits != NULL) {
        mbnn_int8_avx512_bits(L, q, zp, out, win, logits);
    } else {
        mbnn_int8_avx512_hidden(L, q, zp, out, win, logits);
    }
}
#endif

/* Rows of 8 to 15 words, in a function of its own (the longer rows' loop
 * below keeps its registers: inlined in the same function it measured
 * 0.409 instead of 0.402 instructions per MAC for 1024x1024 on the M4). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void mbnn_layer_bits_short(const mbnn_layer *L, const uint32_t *u, uint32_t *out, uint32_t *win,
                                  int32_t *logits)
{
    uint32_t i, k, last = L->words - 1u, pad = ~mbnn_last_mask(L->n_in);

    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * L->words;
        uint32_t ones = mbnn_xor_popcount8(row, u);
        for (k = 8; k < L->words; k++) {
            ones += mbnn_swar32(row[k] ^ u[k]);
        }
        if (pad != 0u) {
            ones -= mbnn_swar32((row[last] ^ u[last]) & pad);
        }
        mbnn_emit(L, i, (int32_t)L->n_in - 2 * (int32_t)ones, out, win, logits);
    }
}

void mbnn_i_layer_bits_opt(const mbnn_layer *L, const uint32_t *u, uint32_t *out, uint32_t *win,
                           int32_t *logits)
{
    uint32_t i, last = L->words - 1u, pad = ~mbnn_last_mask(L->n_in);

#if MBNN_X86_DISPATCH
    {
        unsigned level = mbnn_i_x86_level(L->host_cap);
        if (level >= MBNN_HOST_AVX512) {
            mbnn_i_layer_bits_avx512(L, u, out, win, logits);
            return;
        }
        if (level >= MBNN_HOST_POPCNT) {
            mbnn_layer_bits_popcnt(L, u, out, win, logits);
            return;
        }
    }
#endif
    /* All words at once, then the padding bits of the last word taken off
     * (none when n_in is a multiple of 32). */
    if (L->words >= 8u && L->words < 16u) {
        mbnn_layer_bits_short(L, u, out, win, logits);
        return;
    }
    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * L->words;
        uint32_t ones = mbnn_xor_popcount(row, u, L->words);
        if (pad != 0u) {
            ones -= mbnn_swar32((row[last] ^ u[last]) & pad);
        }
        mbnn_emit(L, i, (int32_t)L->n_in - 2 * (int32_t)ones, out, win, logits);
    }
}

/* The plan's choice (the same on every build): byte tables for layers of
 * at least 512 inputs and 64 outputs, where building 256 entries per 8
 * inputs costs less than the reads it saves and the 8 KiB of a chunk are at
 * most about twice the 8 B per input of the 16-entry tables. */
int mbnn_i_int8_bytes(uint32_t n_in, uint32_t n_out)
{
    return n_in >= 4u * MBNN_INT8_CHUNK && n_out >= 64u;
}

/* Table memory of the first layer: 16 entries per group of 4 inputs (8 B
 * per input), or for mbnn_i_int8_bytes layers room for either kernel: the
 * byte tables of one chunk (256 uint16 entries per group of 8 inputs) and
 * an int32 partial sum per output neuron. Either is at least the x86 AVX2
 * kernel's byte per input, rounded to whole words. */
size_t mbnn_i_int8_table_size(uint32_t n_in, uint32_t n_out)
{
    size_t small = 2u * MBNN_TABLE_ENTRIES * (size_t)((n_in + 3u) / 4u);
    size_t bytes = 64u * (size_t)MBNN_INT8_CHUNK + 4u * (size_t)n_out;
    return mbnn_i_int8_bytes(n_in, n_out) && bytes > small ? bytes : small;
}

/* The partial-sum tables of one sample: for each group g of 4 inputs and
 * each 4-bit pattern m, t[16 g + m] = sum of x_{4g+b} over the bits b set in
 * m, x_j = q_j - zp (0 past n_in, so padding bits add nothing). |t| <= 1020. */
static void mbnn_int8_tables(int16_t *t, const int8_t *q, int32_t zp, uint32_t n_in)
{
    uint32_t g, b, n_groups = (n_in + 3u) / 4u;

    for (g = 0; g < n_groups; g++, t += MBNN_TABLE_ENTRIES) {
        int32_t x[4];
        for (b = 0; b < 4u; b++) {
            x[b] = 4u * g + b < n_in ? (int32_t)q[4u * g + b] - zp : 0;
        }
        t[0] = 0;
        t[1] = (int16_t)x[0];
        t[2] = (int16_t)x[1];
        t[3] = (int16_t)(x[0] + x[1]);
        for (b = 0; b < 4u; b++) {
            t[4 + b] = (int16_t)(t[b] + x[2]);
        }
        for (b = 0; b < 8u; b++) {
            t[8 + b] = (int16_t)(t[b] + x[3]);
        }
    }
}

/* ---- the first layer of a learning arena: signs in the hidden weights ----
 *
 * A dense int8 first layer that learns keeps no copy of its binary weights
 * in a learning arena (mbnn_i_keeps_bits): L->bits is NULL and
 * bit_ij = (hidden_ij < 0). With neg_i = the sum of x_j over the j whose
 * hidden weight is negative, a_i = sum_x - 2 neg_i. The whole words of 4
 * hidden bytes of a row go through one of the versions below; the last
 * n_in mod 4 weights one by one (the bytes after a row belong to the next
 * row, or lie past the array). The table memory is the same as with the
 * bits (mbnn_i_int8_table_size). */

/* The 4 hidden bytes at h, 4-byte aligned, as a little-endian word: one
 * load (memcpy of an address of unknown alignment is 4 byte loads, or a
 * library call, on cores without unaligned loads: Cortex-M0, rv32imc). */
static inline uint32_t mbnn_ld32_aligned(const int8_t *h)
{
#if defined(__GNUC__) || defined(__clang__)
    typedef uint32_t __attribute__((may_alias)) mbnn_u32_alias;
    return *(const mbnn_u32_alias *)(const void *)h;
#else
    uint32_t w;
    memcpy(&w, h, 4u);
    return w;
#endif
}

/* neg for the weights 4 n4 .. n_in - 1 of row h. */
static inline int32_t mbnn_hidden_tail(const int8_t *h, const int8_t *q, int32_t zp, uint32_t n4, uint32_t n_in)
{
    int32_t neg = 0;
    uint32_t k;

    for (k = 4u * n4; k < n_in; k++) {
        if (h[k] < 0) {
            neg += (int32_t)q[k] - zp;
        }
    }
    return neg;
}

#if MBNN_X86_DISPATCH
#include <immintrin.h>

/* x86-64 hosts with AVX2: the int8 layer 32 inputs at a time. The inputs as
 * bytes b_j = q_j + 128 (0..255; 0 past n_in) go into the table memory
 * (mbnn_i_int8_table_size: at least 32 per row word); each row word becomes 32 byte
 * masks (bit j set -> 0xFF), and VPSADBW adds the selected bytes. The sum
 * over the -1 weights of q_j is then (that sum) - 128 * (their count). */
__attribute__((target("avx2,popcnt"))) static void mbnn_layer_int8_avx2(
    const mbnn_layer *L, const int8_t *q, int32_t zp, uint8_t *b, int32_t sum_x, uint32_t *out,
    uint32_t *win, int32_t *logits)
{
    uint32_t i, k, n_in = L->n_in, words = L->words, mask = mbnn_last_mask(n_in);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
                                            2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);

    for (k = 0; k < 32u * words; k++) {
        b[k] = k < n_in ? (uint8_t)((int32_t)q[k] + 128) : 0u;
    }
    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * words;
        __m256i acc = _mm256_setzero_si256();
        int32_t count = 0, neg_b;
        for (k = 0; k < words; k++) {
            uint32_t w = k + 1u == words ? row[k] & mask : row[k];
            __m256i m = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread);
            m = _mm256_cmpeq_epi8(_mm256_and_si256(m, bit), bit);
            m = _mm256_and_si256(m, _mm256_loadu_si256((const __m256i *)(const void *)(b + 32u * k)));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(m, _mm256_setzero_si256()));
            count += __builtin_popcount(w);
        }
        {
            __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            neg_b = (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1));
        }
        mbnn_emit(L, i, sum_x - 2 * ((neg_b - 128 * count) - count * zp), out, win, logits);
    }
}
#endif

#if MBNN_INT8_BYTES
/* The tables are built two uint16 entries at a time through 32-bit stores
 * and read as uint16: with GCC and clang through a type that may alias
 * (GCC manual, "Common Type Attributes", may_alias). */
#if defined(__GNUC__) || defined(__clang__)
typedef uint32_t __attribute__((may_alias)) mbnn_u32a;
#else
#error "the byte-table int8 kernel needs GCC or clang (may_alias); build with -DMBNN_INT8_BYTES=0"
#endif

/* Biased entries: an entry is a sum of at most 8 values x_j = q_j - zp,
 * |x_j| <= 127 + 128 = 255, so |sum| <= 8 * 255 = 2040; stored as
 * sum + MBNN_BIAS8 it lies in [0, 4080], an unsigned 16-bit value. */
#define MBNN_BIAS8 2040u

/* The tables of groups [g0, g0 + n_groups) of 8 inputs: t[256 (g - g0) + m]
 * = MBNN_BIAS8 + sum of x_{8g+b} over the bits b set in m (x = 0 past n_in,
 * so padding bits add nothing). Entry 16 h + l = lo[l] + hi[h], lo and hi the
 * sums over the low and the high 4 inputs: the 16 lo entries (biased) are
 * held as 8 pairs (l = 2p, 2p + 1) in 32-bit words, and each row h of 16
 * entries is those 8 words plus hi[h] * 0x10001, stored with memcpy (no
 * aliasing, either byte order): one add and one store per two entries. Both
 * halves of every word are biased entries, in [0, 4080] (lo[l] + MBNN_BIAS8
 * in [0, 3060], hi[h] in [-1020, 1020]), so no carry or borrow crosses from
 * one half to the other. */
static void mbnn_byte_tables(uint16_t *t, const int8_t *q, int32_t zp, uint32_t n_in, uint32_t g0,
                             uint32_t n_groups, const uint8_t *perm)
{
    uint32_t g, b, h;

    for (g = g0; g < g0 + n_groups; g++, t += 256) {
        uint32_t x[8], hi[16], p[8]; /* x_b * 0x10001: x_b added to both halves */
        for (b = 0; b < 8u; b++) { /* bit b of an index: input 8 g + perm[b] */
            uint32_t j = 8u * g + perm[b];
            x[b] = j < n_in ? (uint32_t)((int32_t)q[j] - zp) * 0x10001u : 0u;
        }
        /* p[k]: lo entries 2k and 2k + 1 (x_0 mod 2^16 is the low half of x[0]) */
        {
            uint16_t pair[2];
            pair[0] = (uint16_t)MBNN_BIAS8;
            pair[1] = (uint16_t)(MBNN_BIAS8 + x[0]);
            memcpy(&p[0], pair, 4u);
        }
        p[1] = p[0] + x[1];
        p[2] = p[0] + x[2];
        p[3] = p[1] + x[2];
        p[4] = p[0] + x[3];
        p[5] = p[1] + x[3];
        p[6] = p[2] + x[3];
        p[7] = p[3] + x[3];
        hi[0] = 0;
        for (b = 0; b < 4u; b++) {
            for (h = 0; h < (1u << b); h++) {
                hi[(1u << b) + h] = hi[h] + x[4u + b];
            }
        }
        for (h = 0; h < 16u; h++) {
            uint32_t add = hi[h];
            mbnn_u32a *row = (mbnn_u32a *)(void *)(t + 16u * h);
            row[0] = p[0] + add;
            row[1] = p[1] + add;
            row[2] = p[2] + add;
            row[3] = p[3] + add;
            row[4] = p[4] + add;
            row[5] = p[5] + add;
            row[6] = p[6] + add;
            row[7] = p[7] + add;
        }
    }
}

/* The order of the inputs of a group on the bits of a table index: a row
 * byte's (bit b: input b), and that of the index gathered from the signs of
 * 8 hidden bytes (mbnn_layer_int8_hidden_bytes). */
static const uint8_t mbnn_perm_row[8] = {0, 1, 2, 3, 4, 5, 6, 7};
static const uint8_t mbnn_perm_signs[8] = {4, 0, 5, 1, 6, 2, 7, 3};

/* The int8 layer of a learning arena (signs in the hidden weights, n_in a
 * multiple of 4: every row 4-byte aligned) with the byte tables, for the
 * mbnn_i_int8_bytes layers on cores without the DSP extension (and x86
 * hosts without AVX2). Per group of
 * 8 inputs the index comes from two words of hidden bytes: their sign bits
 * (7, 15, 23, 31 of the first, shifted to 6, 14, 22, 30 for the second) form
 * 2-bit fields at 6, 14, 22, 30, which times 2^18 + 2^12 + 2^6 + 1 land on
 * bits 24-25, 26-27, 28-29, 30-31 (the other products fill the disjoint
 * fields at 6, 12, 14, 18, 20, 22, each at most once: no carry reaches bit
 * 24), so index bit b holds the sign of input perm[b] = 4, 0, 5, 1, 6, 2,
 * 7, 3 of the group; the tables are built in that order. The groups of
 * whole 8 inputs only; the last n_in mod 8 weights one by one. */
void mbnn_i_layer_int8_hidden_bytes(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                                    uint32_t *out, uint32_t *win, int32_t *logits)
{
    uint32_t i, g, g0, n_in = L->n_in, n8 = n_in / 8u;
    int32_t sum_x = 0;
    uint16_t *t = (uint16_t *)(void *)table;
    int32_t *part = (int32_t *)(void *)(t + 256u * (MBNN_INT8_CHUNK / 8u));

    for (i = 0; i < n_in; i++) {
        sum_x += (int32_t)q[i] - zp;
    }
    for (g0 = 0; g0 < n8; g0 += MBNN_INT8_CHUNK / 8u) {
        uint32_t n_groups = n8 - g0 < MBNN_INT8_CHUNK / 8u ? n8 - g0 : MBNN_INT8_CHUNK / 8u;
        mbnn_byte_tables(t, q, zp, n_in, g0, n_groups, mbnn_perm_signs);
        for (i = 0; i < L->n_out; i++) {
            const int8_t *h = L->hidden + (size_t)i * n_in + 8u * g0;
            const uint16_t *tg = t;
            uint32_t sum = g0 != 0u ? (uint32_t)part[i] : 0u;
            for (g = 0; g < n_groups; g++, h += 8, tg += 256) {
                uint32_t a = mbnn_ld32_aligned(h) & 0x80808080u, b = mbnn_ld32_aligned(h + 4) & 0x80808080u;
                sum += tg[((a | (b >> 1)) * 0x00041041u) >> 24];
            }
            part[i] = (int32_t)sum;
        }
    }
    for (i = 0; i < L->n_out; i++) {
        int32_t neg = (n8 != 0u ? part[i] - (int32_t)(MBNN_BIAS8 * n8) : 0) +
                      mbnn_hidden_tail(L->hidden + (size_t)i * n_in, q, zp, 2u * n8, n_in);
        mbnn_emit(L, i, sum_x - 2 * neg, out, win, logits);
    }
}

/* One read per byte of a row word w from the 4 tables at t. */
static inline uint32_t mbnn_byte_reads(const uint16_t *t, uint32_t w)
{
    return (uint32_t)t[w & 255u] + t[256u + ((w >> 8) & 255u)] + t[512u + ((w >> 16) & 255u)] + t[768u + (w >> 24)];
}

/* int8 x binary with the byte tables: the inputs in chunks of
 * MBNN_INT8_CHUNK (tables of 16 groups, 8 KiB for 128 inputs, rebuilt per
 * chunk); per chunk and neuron one table read per byte of the row (8
 * weights); sums of chunks carried in part[] (int32: at most
 * ceil(n_in / 8) * 4080 < 2^31 for n_in < 2^16). */
void mbnn_i_layer_int8_bytes(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                             uint32_t *out, uint32_t *win, int32_t *logits)
{
    uint32_t i, k, c, n_in = L->n_in, words = L->words, groups = (n_in + 7u) / 8u;
    uint16_t *t = (uint16_t *)(void *)table;
    int32_t sum_x = 0;
    const uint32_t chunk_words = MBNN_INT8_CHUNK / 32u;
    int32_t *part = (int32_t *)(void *)(t + 256u * (MBNN_INT8_CHUNK / 8u));
    int32_t bias = (int32_t)(MBNN_BIAS8 * groups);

    for (k = 0; k < n_in; k++) {
        sum_x += (int32_t)q[k] - zp;
    }

    for (c = 0; c < words; c += chunk_words) {
        uint32_t g0 = 4u * c, n_groups = groups - g0 < 4u * chunk_words ? groups - g0 : 4u * chunk_words;
        uint32_t full = n_groups / 4u, rest = n_groups % 4u, last = c + chunk_words >= words;
        mbnn_byte_tables(t, q, zp, n_in, g0, n_groups, mbnn_perm_row);
        if (!last) { /* a whole chunk, its sums kept */
            for (i = 0; i < L->n_out; i++) {
                const uint32_t *row = L->bits + (size_t)i * words + c;
                uint32_t sum = c != 0u ? (uint32_t)part[i] : 0u;
                for (k = 0; k < chunk_words; k += 4u) { /* once for 128 inputs */
                    /* two bases, so that every table is within a load's
                     * immediate offset (4095 bytes on the M4) of one */
                    const uint16_t *ta = t + 1024u * k, *tb = ta + 2048u;
                    sum += mbnn_byte_reads(ta, row[k]) + mbnn_byte_reads(ta + 1024u, row[k + 1u]) +
                           mbnn_byte_reads(tb, row[k + 2u]) + mbnn_byte_reads(tb + 1024u, row[k + 3u]);
                }
                part[i] = (int32_t)sum;
            }
            continue;
        }
        for (i = 0; i < L->n_out; i++) {
            const uint32_t *row = L->bits + (size_t)i * words + c;
            const uint16_t *tk = t;
            uint32_t sum = 0;
            for (k = 0; k < full; k++, tk += 1024) {
                sum += mbnn_byte_reads(tk, row[k]);
            }
            for (k = 0; k < rest; k++) { /* the last word's groups that hold inputs */
                sum += tk[256u * k + ((row[full] >> (8u * k)) & 255u)];
            }
            if (c != 0u) {
                sum += (uint32_t)part[i];
            }
            mbnn_emit(L, i, sum_x - 2 * ((int32_t)sum - bias), out, win, logits);
        }
    }
}
#endif

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
/* Cores with the DSP extension (Cortex-M4, M7, M33, M55): 4 weights per 3
 * instructions and a load, no table. With the inputs as bytes
 * b_j = q_j + 128 (q_j XOR 0x80) and c = zp + 128 (both 0..255): UADD8 of a
 * word of hidden bytes with itself sets the GE flag of each byte whose
 * hidden weight is negative (h + h >= 256 for the bytes h >= 128); SEL takes
 * b_j there, c elsewhere; USADA8 adds the 4 bytes. Over 4 n4 weights the sum
 * is sum_{neg} b_j + c (4 n4 - count) = sum_{neg} x_j + 4 n4 c, since
 * b_j - c = x_j: no count of the negative weights is needed. Three rows at
 * a time share each load of the inputs. */
static MBNN_ALWAYS_INLINE uint32_t mbnn_sel_sum(const int8_t *h, uint32_t x, uint32_t c, uint32_t s)
{
    uint32_t w;
    memcpy(&w, h, 4u);
    (void)__builtin_arm_uadd8(w, w);
    return __builtin_arm_usada8(__builtin_arm_sel(x, c), 0u, s);
}

static void mbnn_layer_int8_hidden(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                                   int32_t sum_x, uint32_t *out, uint32_t *win, int32_t *logits)
{
    uint32_t i, k, r, n_in = L->n_in, n4 = n_in / 4u, c = (uint32_t)(zp + 128) * 0x01010101u;
    uint32_t *xb = (uint32_t *)(void *)table;
    int32_t bias = (zp + 128) * 4 * (int32_t)n4;
    const int8_t *h = L->hidden;

    for (k = 0; k < n4; k++) {
        uint32_t w;
        memcpy(&w, q + 4u * k, 4u);
        xb[k] = w ^ 0x80808080u;
    }
    for (i = 0; i + 2u < L->n_out; i += 3u, h += 3u * n_in) {
        /* three rows: their loop fits the M4's registers (four spill) */
        const int8_t *h0 = h, *h1 = h + n_in, *h2 = h1 + n_in;
        const uint32_t *x = xb, *end = xb + n4;
        uint32_t s[3], s0 = 0, s1 = 0, s2 = 0;
        for (; x != end; x++, h0 += 4, h1 += 4, h2 += 4) {
            uint32_t xk = *x;
            s0 = mbnn_sel_sum(h0, xk, c, s0);
            s1 = mbnn_sel_sum(h1, xk, c, s1);
            s2 = mbnn_sel_sum(h2, xk, c, s2);
        }
        s[0] = s0;
        s[1] = s1;
        s[2] = s2;
        for (r = 0; r < 3u; r++) {
            int32_t neg = (int32_t)s[r] - bias + mbnn_hidden_tail(h + r * n_in, q, zp, n4, n_in);
            mbnn_emit(L, i + r, sum_x - 2 * neg, out, win, logits);
        }
    }
    for (; i < L->n_out; i++, h += n_in) {
        uint32_t s0 = 0;
        for (k = 0; k < n4; k++) {
            s0 = mbnn_sel_sum(h + 4u * k, xb[k], c, s0);
        }
        mbnn_emit(L, i, sum_x - 2 * ((int32_t)s0 - bias + mbnn_hidden_tail(h, q, zp, n4, n_in)), out, win,
                  logits);
    }
}
#else
#if MBNN_X86_DISPATCH
/* x86-64 hosts with AVX2: 32 weights at a time, the byte masks straight
 * from the hidden bytes (h < 0), then as mbnn_layer_int8_avx2. */
__attribute__((target("avx2,popcnt"))) static void mbnn_layer_int8_hidden_avx2(
    const mbnn_layer *L, const int8_t *q, int32_t zp, uint8_t *b, int32_t sum_x, uint32_t *out,
    uint32_t *win, int32_t *logits)
{
    uint32_t i, k, n_in = L->n_in, n32 = n_in / 32u;
    const __m256i zero = _mm256_setzero_si256();

    for (k = 0; k < 32u * n32; k++) {
        b[k] = (uint8_t)((int32_t)q[k] + 128);
    }
    for (i = 0; i < L->n_out; i++) {
        const int8_t *h = L->hidden + (size_t)i * n_in;
        __m256i acc = zero;
        int32_t count = 0, neg_b;
        for (k = 0; k < n32; k++) {
            __m256i m = _mm256_cmpgt_epi8(zero, _mm256_loadu_si256((const __m256i *)(const void *)(h + 32u * k)));
            count += __builtin_popcount((uint32_t)_mm256_movemask_epi8(m));
            m = _mm256_and_si256(m, _mm256_loadu_si256((const __m256i *)(const void *)(b + 32u * k)));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(m, zero));
        }
        {
            __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            neg_b = (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1));
        }
        /* sum_{neg} x_j = sum_{neg} b_j - (128 + zp) count; the rest one by one */
        mbnn_emit(L, i, sum_x - 2 * (neg_b - (128 + zp) * count + mbnn_hidden_tail(h, q, zp, 8u * n32, n_in)),
                  out, win, logits);
    }
}
#endif

/* Elsewhere: the 16-entry tables (mbnn_int8_tables), each group of 4 hidden
 * bytes turned into the table index of its 4 signs: the sign bits 7, 15, 23,
 * 31 of the little-endian word, masked, times 2^21 + 2^14 + 2^7 + 1 land on
 * bits 28, 29, 30, 31 (the other products fall on bits 7, 14, 15, 21, 22,
 * 23, each at most once: no carry reaches bit 28), so the top 4 bits are
 * the index, weight 4 g + b on bit b as in a row word's nibble. */
static void mbnn_layer_int8_hidden(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                                   int32_t sum_x, uint32_t *out, uint32_t *win, int32_t *logits)
{
    uint32_t i, k, n_in = L->n_in, n4 = n_in / 4u;

#if MBNN_X86_DISPATCH
    {
        unsigned level = mbnn_i_x86_level(L->host_cap);
        if (level >= MBNN_HOST_AVX2) {
            mbnn_layer_int8_hidden_avx2(L, q, zp, (uint8_t *)(void *)table, sum_x, out, win, logits);
            return;
        }
    }
#endif
#if MBNN_INT8_BYTES
    if (mbnn_i_int8_bytes(n_in, L->n_out) && (n_in & 3u) == 0u) {
        mbnn_i_layer_int8_hidden_bytes(L, q, zp, table, out, win, logits);
        return;
    }
#endif
    mbnn_int8_tables(table, q, zp, n_in);
    for (i = 0; i < L->n_out; i++) {
        const int8_t *h = L->hidden + (size_t)i * n_in;
        const uint8_t *hb = (const uint8_t *)h;
        const int16_t *t = table;
        int32_t neg = mbnn_hidden_tail(h, q, zp, n4, n_in);
        if ((n_in & 3u) == 0u) { /* every row 4-byte aligned (the arena's hidden array is) */
            for (k = 0; k < n4; k++, t += MBNN_TABLE_ENTRIES) {
                neg += t[((mbnn_ld32_aligned(h + 4u * k) & 0x80808080u) * 0x00204081u) >> 28];
            }
        } else {
            for (k = 0; k < n4; k++, t += MBNN_TABLE_ENTRIES, hb += 4) {
                neg += t[(hb[0] >> 7) | ((hb[1] >> 7) << 1) | ((hb[2] >> 7) << 2) | ((hb[3] >> 7) << 3)];
            }
        }
        mbnn_emit(L, i, sum_x - 2 * neg, out, win, logits);
    }
}
#endif

void mbnn_i_layer_int8_opt(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                           uint32_t *out, uint32_t *win, int32_t *logits)
{
    uint32_t i, k, n_in = L->n_in, words = L->words;
    int32_t sum_x = 0;

#if MBNN_X86_DISPATCH
    if (mbnn_i_x86_level(L->host_cap) >= MBNN_HOST_AVX512) {
        mbnn_i_layer_int8_avx512(L, q, zp, out, win, logits);
        return;
    }
#endif
    if (L->bits == NULL) {
        for (k = 0; k < n_in; k++) {
            sum_x += (int32_t)q[k] - zp;
        }
        mbnn_layer_int8_hidden(L, q, zp, table, sum_x, out, win, logits);
        return;
    }
#if MBNN_INT8_BYTES && !MBNN_X86_DISPATCH
    if (mbnn_i_int8_bytes(n_in, L->n_out)) {
        mbnn_i_layer_int8_bytes(L, q, zp, table, out, win, logits);
        return;
    }
#endif
    for (k = 0; k < n_in; k++) {
        sum_x += (int32_t)q[k] - zp;
    }
#if MBNN_X86_DISPATCH
    {
        unsigned level = mbnn_i_x86_level(L->host_cap);
        if (level >= MBNN_HOST_AVX2) {
            mbnn_layer_int8_avx2(L, q, zp, (uint8_t *)(void *)table, sum_x, out, win, logits);
            return;
        }
    }
#endif
#if MBNN_INT8_BYTES && MBNN_X86_DISPATCH
    if (mbnn_i_int8_bytes(n_in, L->n_out)) {
        mbnn_i_layer_int8_bytes(L, q, zp, table, out, win, logits);
        return;
    }
#endif
    mbnn_int8_tables(table, q, zp, n_in);
    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * words;
        const int16_t *t = table;
        int32_t neg = 0;
        /* One word = 8 groups of 4 inputs: one table read per group. The
         * tables of the last word's missing groups are never read: those
         * nibbles are padding (the last group's own missing inputs are 0). */
        for (k = 0; k + 1u < words; k++, t += 8u * MBNN_TABLE_ENTRIES) {
            uint32_t w = row[k];
            neg += t[w & 15u] + t[16u + ((w >> 4) & 15u)] + t[32u + ((w >> 8) & 15u)] +
                   t[48u + ((w >> 12) & 15u)] + t[64u + ((w >> 16) & 15u)] +
                   t[80u + ((w >> 20) & 15u)] + t[96u + ((w >> 24) & 15u)] + t[112u + (w >> 28)];
        }
        {
            uint32_t w = row[k], g, n_groups = (n_in - 32u * k + 3u) / 4u;
            for (g = 0; g < n_groups; g++) {
                neg += t[16u * g + ((w >> (4u * g)) & 15u)];
            }
        }
        mbnn_emit(L, i, sum_x - 2 * neg, out, win, logits);
    }
}
