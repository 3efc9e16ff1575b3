/*
 * Forward kernels of one layer (docs/ARITHMETIC.md "Inference"), in two
 * versions that give the same numbers bit for bit:
 *
 *   mbnn_i_layer_*_ref  the plain C99 reference kernels (the definition);
 *   mbnn_i_layer_*_opt  the optimized kernels (docs/PERFORMANCE.md):
 *     - bit input: carry-save (Harley-Seal) popcount over blocks of 8 words,
 *       no library call for popcount; on x86-64 hosts, a POPCNT version
 *       chosen at run time by CPU feature (the library stays portable);
 *     - int8 input: partial-sum tables computed once per sample, then one
 *       table read per group of weights: 256 entries per group of 8 inputs,
 *       128 inputs at a time, for large layers (mbnn_i_int8_bytes,
 *       MBNN_INT8_BYTES), else 16 entries per group of 4 inputs.
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

void mbnn_i_layer_bits_opt(const mbnn_layer *L, const uint32_t *u, uint32_t *out, uint32_t *win,
                           int32_t *logits)
{
    uint32_t i, last = L->words - 1u, pad = ~mbnn_last_mask(L->n_in);

#if MBNN_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt")) {
        mbnn_layer_bits_popcnt(L, u, out, win, logits);
        return;
    }
#endif
    /* All words at once, then the padding bits of the last word taken off
     * (none when n_in is a multiple of 32). */
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
                             uint32_t n_groups)
{
    uint32_t g, b, h;

    for (g = g0; g < g0 + n_groups; g++, t += 256) {
        uint32_t x[8], hi[16], p[8]; /* x_b * 0x10001: x_b added to both halves */
        for (b = 0; b < 8u; b++) {
            x[b] = 8u * g + b < n_in ? (uint32_t)((int32_t)q[8u * g + b] - zp) * 0x10001u : 0u;
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
        mbnn_byte_tables(t, q, zp, n_in, g0, n_groups);
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

void mbnn_i_layer_int8_opt(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                           uint32_t *out, uint32_t *win, int32_t *logits)
{
    uint32_t i, k, n_in = L->n_in, words = L->words;
    int32_t sum_x = 0;

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
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) {
        mbnn_layer_int8_avx2(L, q, zp, (uint8_t *)(void *)table, sum_x, out, win, logits);
        return;
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
