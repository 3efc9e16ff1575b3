/*
 * Inference on many samples at once (host speed, docs/PERFORMANCE.md "Host"):
 * the same numbers as one mbnn_infer per sample, bit for bit.
 *
 * On x86-64 CPUs with AVX2 and POPCNT (chosen at run time with
 * __builtin_cpu_supports, so one build runs on every x86-64) the samples go
 * through the network in blocks of MBNN_BATCH_BLOCK, layer by layer, so that
 * each weight word, once loaded, serves every sample of the block:
 *
 *   int8 first layer: a_i = T_i - c * (n_in - 2 * count_i), where
 *     T_i = sum_j w_ij * b_j with w_ij = +1 (bit 0) or -1 (bit 1),
 *     b_j = q_j + 128 in 0..255 (0 past n_in), c = zero_point + 128 and
 *     count_i the bits of row i: since x_j = b_j - c,
 *     sum_j w_ij x_j = T_i - c * sum_j w_ij and sum_j w_ij = n_in - 2 count_i.
 *     T is a product of unsigned by signed bytes (VPMADDUBSW: pairs summed
 *     into int16, |pair| <= 510, no saturation), added in int16 over at most
 *     64 steps of 32 inputs (64 * 510 = 32640 <= 32767), then widened to
 *     int32 (VPMADDWD). Rows are expanded to +-1 bytes 4 at a time and each
 *     expansion serves the whole block; 4 rows x 3 samples per inner step.
 *   bit layers: popcount(row XOR u) with the POPCNT instruction on 64 bits,
 *     each row (read once per block) against every sample of the block.
 *
 * On CPUs that also have AVX-512 F, BW, VNNI and VPOPCNTDQ
 * (mbnn_i_x86_level), the same blocks with the int8 first layer as a VNNI
 * matrix product (mbnn_batch_int8_vnni, derived below) and the bit layers
 * through the 512-bit kernel of mbnn_kernels.c, in tiles of 16 rows each
 * read once per block. mbnn_host_kernels caps the level (tests).
 *
 * Elsewhere, one mbnn_infer per sample (the boards infer one sample at a
 * time; the portable kernels are in mbnn_kernels.c).
 */
#include <string.h>

#include "mbnn_internal.h"

#define MBNN_BATCH_BLOCK 64u /* samples per block */
#define MBNN_BATCH_ROWS 4u   /* rows expanded at once (int8 layer) */

static uint32_t mbnn_batch_max_words(const mbnn_model *model)
{
    uint32_t l, w = 1;

    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        w = mbnn_words(L->n_in) > w ? mbnn_words(L->n_in) : w;
        w = mbnn_words(L->n_out) > w ? mbnn_words(L->n_out) : w;
    }
    return w;
}

#if MBNN_X86_DISPATCH
/* Bytes of the room of mbnn_batch_int8_vnni for a first layer of n_in inputs. */
static size_t mbnn_vnni_room(uint32_t n_in)
{
    size_t n4 = (n_in + 3u) / 4u;
    return 4u * MBNN_BATCH_BLOCK + MBNN_BATCH_BLOCK * 4u * n4 + 128u * n4;
}
#endif

/* Whether this model runs the blocked kernels below on this CPU: dense
 * layers only (conv models go one sample at a time through mbnn_infer). */
static int mbnn_batch_blocked(const mbnn_model *model)
{
#if MBNN_X86_DISPATCH
    uint32_t l;

    for (l = 0; l < model->n_layers; l++) {
        if (model->layers[l].op != 0u) {
            return 0;
        }
    }
    return mbnn_i_x86_level(model->layers[0].host_cap) >= MBNN_HOST_AVX2;
#else
    (void)model;
    return 0;
#endif
}

mbnn_status mbnn_batch_work_size(const mbnn_model *model, size_t *work_len)
{
    if (model == NULL || work_len == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    /* Two activation buffers, the int8 inputs as bytes and the expanded rows
     * (and 31 bytes to align them); nothing where samples go one by one. */
    *work_len = !mbnn_batch_blocked(model) ? 0u
                                      : 2u * 4u * MBNN_BATCH_BLOCK * (size_t)mbnn_batch_max_words(model) +
                                            (MBNN_BATCH_BLOCK + MBNN_BATCH_ROWS) * 32u *
                                                (size_t)model->layers[0].words +
                                            31u;
#if MBNN_X86_DISPATCH
    /* AVX-512: the same activation buffers; the room of mbnn_batch_int8_vnni
     * in place of the AVX2 kernel's (the larger of the two) */
    if (*work_len != 0u && mbnn_i_x86_level(model->layers[0].host_cap) >= MBNN_HOST_AVX512) {
        size_t room = mbnn_vnni_room(model->layers[0].n_in) + 31u;
        size_t avx2 = *work_len - 2u * 4u * MBNN_BATCH_BLOCK * (size_t)mbnn_batch_max_words(model);
        *work_len += room > avx2 ? room - avx2 : 0u;
    }
#endif
    return MBNN_OK;
}

#if MBNN_X86_DISPATCH
#include <immintrin.h>

/* The sum of the 16 int16 lanes of v, in int32. */
__attribute__((target("avx2"))) static inline int32_t mbnn_hsum16(__m256i v)
{
    __m128i h;
    v = _mm256_madd_epi16(v, _mm256_set1_epi16(1));
    h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    return _mm_cvtsi128_si32(h);
}

/* The int8 first layer on n <= MBNN_BATCH_BLOCK samples x (rows of
 * model->n_inputs): bits to out (n rows of out_words) or logits to z (n rows
 * of n_out). b: n * 32 * words bytes, wx: 4 * 32 * words bytes. */
__attribute__((target("avx2,popcnt"))) static void mbnn_batch_int8_avx2(
    const mbnn_layer *L, const int8_t *x, uint32_t n, int32_t zp, uint8_t *b, int8_t *wx,
    uint32_t *out, uint32_t out_words, int32_t *z)
{
    const uint32_t n_in = L->n_in, words = L->words, mask = mbnn_last_mask(n_in);
    const size_t row_bytes = 32u * (size_t)words;
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
                                            2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i one8 = _mm256_set1_epi8(1);
    const int32_t c = zp + 128;
    uint32_t s, i0, r, k, j;

    for (s = 0; s < n; s++) {
        uint8_t *bs = b + s * row_bytes;
        for (j = 0; j < n_in; j++) {
            bs[j] = (uint8_t)((int32_t)x[(size_t)s * n_in + j] + 128);
        }
        memset(bs + n_in, 0, row_bytes - n_in);
    }
    for (i0 = 0; i0 < L->n_out; i0 += MBNN_BATCH_ROWS) {
        int32_t count[MBNN_BATCH_ROWS];
        /* Rows i0 .. i0 + 3 as +-1 bytes (rows past n_out: zeros), from the
         * bits or, in a learning arena (L->bits NULL), from the signs of the
         * hidden weights (the last word's bytes past n_in: 0, read as +1 and
         * met by b = 0). */
        for (r = 0; r < MBNN_BATCH_ROWS; r++) {
            const uint32_t *row = L->bits != NULL ? L->bits + (size_t)(i0 + r) * words : NULL;
            count[r] = 0;
            for (k = 0; k < words; k++) {
                __m256i v = _mm256_setzero_si256();
                if (i0 + r < L->n_out && row == NULL) {
                    int8_t hk[32] = {0};
                    uint32_t w;
                    memcpy(hk, L->hidden + (size_t)(i0 + r) * n_in + 32u * k, k + 1u == words ? n_in - 32u * k : 32u);
                    v = _mm256_cmpgt_epi8(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)(const void *)hk));
                    w = (uint32_t)_mm256_movemask_epi8(v);
                    v = _mm256_or_si256(v, one8);
                    count[r] += __builtin_popcount(w);
                } else if (i0 + r < L->n_out) {
                    uint32_t w = k + 1u == words ? row[k] & mask : row[k];
                    __m256i m = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread);
                    v = _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_and_si256(m, bit), bit), one8);
                    count[r] += __builtin_popcount(w);
                }
                _mm256_storeu_si256((__m256i *)(void *)(wx + r * row_bytes + 32u * k), v);
            }
        }
        for (s = 0; s < n; s += 3u) {
            /* Samples s .. s + 2 (past n: sample s again, not emitted). */
            const uint8_t *b0 = b + s * row_bytes;
            const uint8_t *b1 = s + 1u < n ? b0 + row_bytes : b0;
            const uint8_t *b2 = s + 2u < n ? b0 + 2u * row_bytes : b0;
            int32_t t[MBNN_BATCH_ROWS][3] = {{0}};
            uint32_t k0;
            for (k0 = 0; k0 < words; k0 += 64u) {
                uint32_t k1 = k0 + 64u < words ? k0 + 64u : words;
                /* 4 rows x 3 samples of int16 sums, in registers (named, so
                 * that gcc -O2 keeps them there). */
                __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a10 = a00, a11 = a00,
                        a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
                const int8_t *w0 = wx + 32u * k0, *w1 = w0 + row_bytes, *w2 = w1 + row_bytes,
                             *w3 = w2 + row_bytes;
                for (k = k0; k < k1; k++, w0 += 32, w1 += 32, w2 += 32, w3 += 32) {
                    const __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)(b0 + 32u * k));
                    const __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(b1 + 32u * k));
                    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(const void *)(b2 + 32u * k));
                    __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)w0);
                    a00 = _mm256_add_epi16(a00, _mm256_maddubs_epi16(v0, w));
                    a01 = _mm256_add_epi16(a01, _mm256_maddubs_epi16(v1, w));
                    a02 = _mm256_add_epi16(a02, _mm256_maddubs_epi16(v2, w));
                    w = _mm256_loadu_si256((const __m256i *)(const void *)w1);
                    a10 = _mm256_add_epi16(a10, _mm256_maddubs_epi16(v0, w));
                    a11 = _mm256_add_epi16(a11, _mm256_maddubs_epi16(v1, w));
                    a12 = _mm256_add_epi16(a12, _mm256_maddubs_epi16(v2, w));
                    w = _mm256_loadu_si256((const __m256i *)(const void *)w2);
                    a20 = _mm256_add_epi16(a20, _mm256_maddubs_epi16(v0, w));
                    a21 = _mm256_add_epi16(a21, _mm256_maddubs_epi16(v1, w));
                    a22 = _mm256_add_epi16(a22, _mm256_maddubs_epi16(v2, w));
                    w = _mm256_loadu_si256((const __m256i *)(const void *)w3);
                    a30 = _mm256_add_epi16(a30, _mm256_maddubs_epi16(v0, w));
                    a31 = _mm256_add_epi16(a31, _mm256_maddubs_epi16(v1, w));
                    a32 = _mm256_add_epi16(a32, _mm256_maddubs_epi16(v2, w));
                }
                t[0][0] += mbnn_hsum16(a00);
                t[0][1] += mbnn_hsum16(a01);
                t[0][2] += mbnn_hsum16(a02);
                t[1][0] += mbnn_hsum16(a10);
                t[1][1] += mbnn_hsum16(a11);
                t[1][2] += mbnn_hsum16(a12);
                t[2][0] += mbnn_hsum16(a20);
                t[2][1] += mbnn_hsum16(a21);
                t[2][2] += mbnn_hsum16(a22);
                t[3][0] += mbnn_hsum16(a30);
                t[3][1] += mbnn_hsum16(a31);
                t[3][2] += mbnn_hsum16(a32);
            }
            for (r = 0; r < MBNN_BATCH_ROWS && i0 + r < L->n_out; r++) {
                for (j = 0; j < 3u && s + j < n; j++) {
                    int32_t a = t[r][j] - c * ((int32_t)n_in - 2 * count[r]);
                    mbnn_emit(L, i0 + r, a, out == NULL ? NULL : out + (size_t)(s + j) * out_words, NULL,
                              z == NULL ? NULL : z + (size_t)(s + j) * L->n_out);
                }
            }
        }
    }
}

/* popcount(r XOR u) over the 64-bit words r[0 .. n64) and the 32-bit word
 * r[2 n64] if odd, for two inputs u and v at once (each row word loaded once
 * for both, two accumulators each). */
__attribute__((target("popcnt"))) static inline void mbnn_xor_popcnt2(const uint32_t *r, const uint32_t *u,
                                                                     const uint32_t *v, uint32_t n64,
                                                                     int odd, uint32_t *ones_u,
                                                                     uint32_t *ones_v)
{
    uint64_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    uint32_t k;

    for (k = 0; k + 1u < n64; k += 2u) {
        uint64_t r0, r1, x0, x1, y0, y1; /* little-endian: the same bits */
        memcpy(&r0, r + 2u * k, 8u);
        memcpy(&r1, r + 2u * k + 2u, 8u);
        memcpy(&x0, u + 2u * k, 8u);
        memcpy(&x1, u + 2u * k + 2u, 8u);
        memcpy(&y0, v + 2u * k, 8u);
        memcpy(&y1, v + 2u * k + 2u, 8u);
        a0 += (uint64_t)__builtin_popcountll(r0 ^ x0);
        a1 += (uint64_t)__builtin_popcountll(r1 ^ x1);
        b0 += (uint64_t)__builtin_popcountll(r0 ^ y0);
        b1 += (uint64_t)__builtin_popcountll(r1 ^ y1);
    }
    if (k < n64) {
        uint64_t r0, x0, y0;
        memcpy(&r0, r + 2u * k, 8u);
        memcpy(&x0, u + 2u * k, 8u);
        memcpy(&y0, v + 2u * k, 8u);
        a0 += (uint64_t)__builtin_popcountll(r0 ^ x0);
        b0 += (uint64_t)__builtin_popcountll(r0 ^ y0);
    }
    if (odd) {
        a0 += (uint64_t)__builtin_popcount(r[2u * n64] ^ u[2u * n64]);
        b0 += (uint64_t)__builtin_popcount(r[2u * n64] ^ v[2u * n64]);
    }
    *ones_u = (uint32_t)(a0 + a1);
    *ones_v = (uint32_t)(b0 + b1);
}

/* A bit layer on n samples: u holds n rows of L->words words whose padding
 * bits are 0; bits to out (n rows of out_words) or logits to z. */
__attribute__((target("popcnt"))) static void mbnn_batch_bits_popcnt(const mbnn_layer *L,
                                                                    const uint32_t *u, uint32_t n,
                                                                    uint32_t *out, uint32_t out_words,
                                                                    int32_t *z)
{
    const uint32_t words = L->words, pad = ~mbnn_last_mask(L->n_in);
    uint32_t i, s, j;

    for (i = 0; i < L->n_out; i++) {
        const uint32_t *row = L->bits + (size_t)i * words;
        /* The row's padding bits meet 0 in u: they count once, taken off. */
        const int32_t base = (int32_t)L->n_in + 2 * __builtin_popcount(row[words - 1u] & pad);
        for (s = 0; s < n; s += 2u) {
            /* Samples s and s + 1 (past n: s again, not emitted). */
            const uint32_t *us = u + (size_t)s * words, *vs = s + 1u < n ? us + words : us;
            uint32_t ones[2];
            mbnn_xor_popcnt2(row, us, vs, words / 2u, (words & 1u) != 0u, &ones[0], &ones[1]);
            for (j = 0; j < 2u && s + j < n; j++) {
                mbnn_emit(L, i, base - 2 * (int32_t)ones[j], out == NULL ? NULL : out + (size_t)(s + j) * out_words,
                          NULL, z == NULL ? NULL : z + (size_t)(s + j) * L->n_out);
            }
        }
    }
}

/* ---- x86-64 with AVX-512 (mbnn_i_x86_level) ----
 *
 * The int8 first layer on n <= MBNN_BATCH_BLOCK samples as an integer
 * matrix product (VPDPBUSD, AVX-512 VNNI). With b'_ij = 1 - bit_ij (1 for a
 * weight +1, 0 for -1) and the features q_sj as they are (signed bytes, 0
 * past n_in): w_ij = 2 b'_ij - 1 and x_sj = q_sj - zp, so
 *   sum_j w_ij x_sj = 2 P_is - Q_s - zp (n_in - 2 count_i),
 *   P_is = sum_j b'_ij q_sj,  Q_s = sum_j q_sj,
 * count_i the -1 weights of row i (sum_j w_ij = n_in - 2 count_i; the
 * padding inputs are 0, so the padding weights add nothing to P).
 * VPDPBUSD multiplies unsigned by signed bytes and adds each group of 4
 * products into an int32 lane: b' (0 or 1) is the unsigned operand, 16 rows
 * x 4 inputs in one register (row r in lane r), and 4 inputs of sample s
 * broadcast to every lane the signed one; |P| <= 128 n_in, int32. The rows
 * go in tiles of 32 (two registers), expanded to bytes once per tile and
 * block; 8 samples per step: 16 accumulators in registers.
 */
#define MBNN_VNNI_SAMPLES 8u

static inline int32_t mbnn_ld32s(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4u);
    return v;
}

/* Rows base .. base + 15 of the tile as b' bytes: wt[128 k + r * 4 + t] =
 * b'_{base + r, 4k + t} (wt already offset by 64 for the tile's second
 * half); the counts of -1 weights (inputs < n_in only) in the lanes of the
 * result. Rows past n_out: zeros, never emitted. */
MBNN_AVX512 static __m512i mbnn_vnni_expand(const mbnn_layer *L, uint32_t base, uint8_t *wt)
{
    const uint32_t n_in = L->n_in, words = L->words, n4 = (n_in + 3u) / 4u;
    const uint32_t nv = base >= L->n_out ? 0u : L->n_out - base < 16u ? L->n_out - base : 16u;
    const __mmask16 valid = (__mmask16)((1u << nv) - 1u);
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi8(1);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i count = zero;
    uint32_t m, k, r, t;

    if (nv == 0u) {
        for (k = 0; k < n4; k++) {
            _mm512_storeu_si512((void *)(wt + 128u * k), zero);
        }
        return zero;
    }
    if (L->bits != NULL) {
        /* Word m of the 16 rows (lane r: row base + r), the nibble of inputs
         * 4k .. 4k + 3 (k = 8 m + nib) shifted down, its low byte copied to
         * the 4 bytes of the lane (VPSHUFB), and byte t tested against bit t:
         * b' = 1 where the bit is 0. */
        const __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)words));
        const __m512i rep = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
        const __m512i sel = _mm512_set1_epi32(0x08040201);
        const uint32_t *rows = L->bits + (size_t)base * words;
        for (m = 0; m < words; m++) {
            __m512i v = _mm512_mask_i32gather_epi32(zero, valid, idx, (const void *)(rows + m), 4);
            uint32_t nib;
            if (m + 1u == words) {
                v = _mm512_and_si512(v, _mm512_set1_epi32((int)mbnn_last_mask(n_in)));
            }
            count = _mm512_add_epi32(count, _mm512_popcnt_epi32(v));
            for (nib = 0; nib < 8u && 8u * m + nib < n4; nib++) {
                __m512i b = _mm512_shuffle_epi8(_mm512_srli_epi32(v, 4u * nib), rep);
                _mm512_storeu_si512((void *)(wt + 128u * (8u * m + nib)),
                                    _mm512_maskz_mov_epi8(_mm512_testn_epi8_mask(b, sel), one));
            }
        }
        return count;
    }
    {
        /* A learning arena: the signs of the hidden weights, 4 bytes of each
         * of the 16 rows gathered (the last group of a row whose n_in is not
         * a multiple of 4 byte by byte: nothing past the row is read). */
        const __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)n_in));
        const int8_t *rows = L->hidden + (size_t)base * n_in;
        for (k = 0; k < n4; k++) {
            __m512i v;
            __mmask64 neg;
            if (4u * k + 4u <= n_in) {
                v = _mm512_mask_i32gather_epi32(zero, valid, idx, (const void *)(rows + 4u * k), 1);
            } else {
                int8_t tmp[64] = {0};
                for (r = 0; r < nv; r++) {
                    for (t = 0; 4u * k + t < n_in; t++) {
                        tmp[4u * r + t] = rows[(size_t)r * n_in + 4u * k + t];
                    }
                }
                v = _mm512_loadu_si512((const void *)tmp);
            }
            neg = _mm512_movepi8_mask(v);
            count = _mm512_add_epi32(count, _mm512_popcnt_epi32(_mm512_and_si512(v, _mm512_set1_epi32((int)0x80808080u))));
            _mm512_storeu_si512((void *)(wt + 128u * k), _mm512_maskz_mov_epi8(_knot_mask64(neg), one));
        }
        return count;
    }
}

#define MBNN_VNNI_STEP(i)                                                  \
    do {                                                                   \
        const __m512i xv = _mm512_set1_epi32(mbnn_ld32s(p##i + 4u * k));   \
        c0##i = _mm512_dpbusd_epi32(c0##i, w0, xv);                        \
        c1##i = _mm512_dpbusd_epi32(c1##i, w1, xv);                        \
    } while (0)

#define MBNN_VNNI_EMIT(i)                                                                       \
    do {                                                                                        \
        if (s + (i) < n) {                                                                      \
            const __m512i q0 = _mm512_set1_epi32(qs[s + (i)] + zp * (int32_t)n_in);             \
            uint32_t *o = out == NULL ? NULL : out + (size_t)(s + (i)) * out_words;             \
            int32_t *zz = z == NULL ? NULL : z + (size_t)(s + (i)) * L->n_out;                  \
            mbnn_i_emit16(L, r0, _mm512_add_epi32(_mm512_sub_epi32(_mm512_slli_epi32(c0##i, 1), q0), k0), \
                          o, NULL, zz);                                                         \
            if (r0 + 16u < L->n_out) {                                                          \
                mbnn_i_emit16(L, r0 + 16u,                                                      \
                              _mm512_add_epi32(_mm512_sub_epi32(_mm512_slli_epi32(c1##i, 1), q0), k1), \
                              o, NULL, zz);                                                     \
            }                                                                                   \
        }                                                                                       \
    } while (0)

MBNN_AVX512 static void mbnn_batch_int8_vnni(const mbnn_layer *L, const int8_t *x, uint32_t n, int32_t zp,
                                             uint8_t *room, uint32_t *out, uint32_t out_words, int32_t *z)
{
    const uint32_t n_in = L->n_in, n4 = (n_in + 3u) / 4u, stride = 4u * n4;
    int32_t *qs = (int32_t *)(void *)room;
    int8_t *xb = (int8_t *)(void *)(room + 4u * MBNN_BATCH_BLOCK);
    uint8_t *wt = room + 4u * MBNN_BATCH_BLOCK + (size_t)MBNN_BATCH_BLOCK * stride;
    uint32_t s, j, r0;

    for (s = 0; s < n; s++) {
        const int8_t *xs = x + (size_t)s * n_in;
        int32_t sum = 0;
        memcpy(xb + (size_t)s * stride, xs, n_in);
        memset(xb + (size_t)s * stride + n_in, 0, stride - n_in);
        for (j = 0; j < n_in; j++) {
            sum += xs[j];
        }
        qs[s] = sum;
    }
    for (r0 = 0; r0 < L->n_out; r0 += 32u) {
        /* 2 zp count_i of the tile's two halves */
        const __m512i k0 = _mm512_mullo_epi32(mbnn_vnni_expand(L, r0, wt), _mm512_set1_epi32(2 * zp));
        const __m512i k1 = _mm512_mullo_epi32(mbnn_vnni_expand(L, r0 + 16u, wt + 64), _mm512_set1_epi32(2 * zp));
        for (s = 0; s < n; s += MBNN_VNNI_SAMPLES) {
            /* samples s .. s + 7 (past n: the last sample again, not emitted) */
            const int8_t *p0 = xb + (size_t)s * stride;
            const int8_t *p1 = xb + (size_t)(s + 1u < n ? s + 1u : n - 1u) * stride;
            const int8_t *p2 = xb + (size_t)(s + 2u < n ? s + 2u : n - 1u) * stride;
            const int8_t *p3 = xb + (size_t)(s + 3u < n ? s + 3u : n - 1u) * stride;
            const int8_t *p4 = xb + (size_t)(s + 4u < n ? s + 4u : n - 1u) * stride;
            const int8_t *p5 = xb + (size_t)(s + 5u < n ? s + 5u : n - 1u) * stride;
            const int8_t *p6 = xb + (size_t)(s + 6u < n ? s + 6u : n - 1u) * stride;
            const int8_t *p7 = xb + (size_t)(s + 7u < n ? s + 7u : n - 1u) * stride;
            __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00,
                    c06 = c00, c07 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00,
                    c16 = c00, c17 = c00;
            uint32_t k;
            for (k = 0; k < n4; k++) {
                const __m512i w0 = _mm512_loadu_si512((const void *)(wt + 128u * k));
                const __m512i w1 = _mm512_loadu_si512((const void *)(wt + 128u * k + 64u));
                MBNN_VNNI_STEP(0);
                MBNN_VNNI_STEP(1);
                MBNN_VNNI_STEP(2);
                MBNN_VNNI_STEP(3);
                MBNN_VNNI_STEP(4);
                MBNN_VNNI_STEP(5);
                MBNN_VNNI_STEP(6);
                MBNN_VNNI_STEP(7);
            }
            MBNN_VNNI_EMIT(0);
            MBNN_VNNI_EMIT(1);
            MBNN_VNNI_EMIT(2);
            MBNN_VNNI_EMIT(3);
            MBNN_VNNI_EMIT(4);
            MBNN_VNNI_EMIT(5);
            MBNN_VNNI_EMIT(6);
            MBNN_VNNI_EMIT(7);
        }
    }
}

/* The whole network on n <= MBNN_BATCH_BLOCK samples. */
static void mbnn_batch_block(const mbnn_model *model, const int8_t *x, uint32_t n, int32_t *logits,
                             uint32_t *act0, uint32_t *act1, uint8_t *b, int8_t *wx)
{
    uint32_t l, s, j;
    uint32_t *act[2];
    const int avx512 = mbnn_i_x86_level(model->layers[0].host_cap) >= MBNN_HOST_AVX512;

    act[0] = act0;
    act[1] = act1;
    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        int is_out = l + 1u == model->n_layers;
        uint32_t out_words = mbnn_words(L->n_out);
        uint32_t *out = is_out ? NULL : act[(l + 1u) % 2u];
        int32_t *z = is_out ? logits : NULL;

        if (out != NULL) {
            memset(out, 0, 4u * (size_t)n * out_words);
        }
        if (l == 0u && L->input_kind == MBNN_KIND_INT8 && avx512) {
            mbnn_batch_int8_vnni(L, x, n, model->zero_point, b, out, out_words, z);
            continue;
        }
        if (l == 0u && L->input_kind == MBNN_KIND_INT8) {
            mbnn_batch_int8_avx2(L, x, n, model->zero_point, b, wx, out, out_words, z);
            continue;
        }
        if (l == 0u) { /* u_j = (q_j < 0) */
            memset(act[0], 0, 4u * (size_t)n * L->words);
            for (s = 0; s < n; s++) {
                for (j = 0; j < L->n_in; j++) {
                    if (x[(size_t)s * L->n_in + j] < 0) {
                        act[0][(size_t)s * L->words + j / 32u] |= 1u << (j % 32u);
                    }
                }
            }
        }
        if (avx512) { /* tiles of 16 rows, each through the whole block */
            mbnn_i_bits_avx512(L, act[l % 2u], n, out, out_words, NULL, z);
            continue;
        }
        mbnn_batch_bits_popcnt(L, act[l % 2u], n, out, out_words, z);
    }
}
#endif

mbnn_status mbnn_infer_batch(mbnn_model *model, const int8_t *x, size_t n, int32_t *logits,
                             void *work, size_t work_len)
{
    size_t i, need;
    mbnn_status st = mbnn_batch_work_size(model, &need);

    if (st != MBNN_OK) {
        return st;
    }
    if (((x == NULL || logits == NULL) && n != 0u) || (work == NULL && need != 0u)) {
        return MBNN_ERR_NULL;
    }
    if (work_len < need) {
        return MBNN_ERR_ARENA_TOO_SMALL;
    }
    if (((uintptr_t)work & 3u) != 0u) {
        return MBNN_ERR_ALIGN;
    }
#if MBNN_X86_DISPATCH
    if (need != 0u && n > 1u) {
        size_t act_words = MBNN_BATCH_BLOCK * (size_t)mbnn_batch_max_words(model);
        uint8_t *b = (uint8_t *)work + 8u * act_words;
        b += (32u - ((uintptr_t)b & 31u)) & 31u;
        for (i = 0; i < n; i += MBNN_BATCH_BLOCK) {
            uint32_t m = (uint32_t)(n - i < MBNN_BATCH_BLOCK ? n - i : MBNN_BATCH_BLOCK);
            mbnn_batch_block(model, x + i * model->n_inputs, m, logits + i * model->n_classes,
                             (uint32_t *)work, (uint32_t *)work + act_words, b,
                             (int8_t *)(b + MBNN_BATCH_BLOCK * 32u * (size_t)model->layers[0].words));
        }
        return MBNN_OK;
    }
#endif
    for (i = 0; i < n; i++) {
        st = mbnn_infer(model, x + i * model->n_inputs, logits + i * model->n_classes);
        if (st != MBNN_OK) {
            return st;
        }
    }
    return MBNN_OK;
}

mbnn_status mbnn_host_kernels(mbnn_model *model, unsigned cap)
{
    uint32_t l;

    if (model == NULL) {
        return MBNN_ERR_NULL;
    }
    for (l = 0; l < MBNN_MAX_LAYERS; l++) {
        model->layers[l].host_cap = (uint8_t)(cap > 255u ? 255u : cap);
    }
    return MBNN_OK;
}

unsigned mbnn_host_level(const mbnn_model *model)
{
#if MBNN_X86_DISPATCH
    return mbnn_i_x86_level(model == NULL ? 0u : model->layers[0].host_cap);
#else
    (void)model;
    return MBNN_HOST_PLAIN;
#endif
}
