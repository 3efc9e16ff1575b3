/*
 * One learning step (docs/ARITHMETIC.md "One learning step on one sample"):
 * softmax error in Q15, backward pass through the binary weights with the
 * straight-through windows, per-neuron running mean square of the error, and
 * the metaplastic int8 update with stochastic rounding from a counter-based
 * random generator; on a blob with a rehearsal set, a second step on one of
 * its samples (docs/ARITHMETIC.md "Rehearsal").
 */
#include <string.h>

#include "mbnn_internal.h"

/* The update and the backward sums kept out of mbnn_learn: inlined there
 * (one function for all), gcc 12 allocated the registers of the update's
 * loops worse (784-256-256-10 int8 learning step on the M4: 2,077,782
 * instructions inlined, 2,002,052 not). */
#if defined(__GNUC__) || defined(__clang__)
#define MBNN_NOINLINE __attribute__((noinline))
#else
#define MBNN_NOINLINE
#endif


#define MBNN_ONE_Q15 32768
#define MBNN_DELTA_MAX 32767
#define MBNN_NORM_MAX 4096
#define MBNN_STEP_MAX (1L << 23)
#define MBNN_LOG2E_Q16 94548
#define MBNN_GOLDEN_RATIO_32 0x9E3779B9u

/* T[k] = round(65536 * 2^(-k/16)), k = 0..16. */
static const int32_t mbnn_exp2_table[17] = {
    65536, 62757, 60097, 57549, 55109, 52773, 50535, 48393, 46341,
    44376, 42495, 40693, 38968, 37316, 35734, 34219, 32768,
};

uint32_t mbnn_i_exp2neg(int64_t d, unsigned frac_bits)
{
    int64_t t = mbnn_asr64(d * MBNN_LOG2E_Q16, frac_bits); /* d < 2^32: fits */
    int64_t ip = mbnn_asr64(t, 16);
    int32_t fp, k, r, v;

    if (ip >= 17) {
        return 0;
    }
    fp = (int32_t)(t - ip * 65536); /* 0 .. 65535 */
    k = mbnn_asr32(fp, 12);
    r = fp - k * 4096;
    v = mbnn_exp2_table[k] - mbnn_asr32((mbnn_exp2_table[k] - mbnn_exp2_table[k + 1]) * r, 12);
    return (uint32_t)mbnn_asr32(v, (unsigned)ip);
}

uint32_t mbnn_i_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

uint32_t mbnn_i_isqrt(uint32_t r)
{
    uint32_t res = 0, bit = 1u << 30;

    while (bit > r) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (r >= res + bit) {
            r -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return res;
}

/* delta = clamp(asr(asr(g, bwd_shift) * gscale, 15), -32767, 32767), the
 * product in 64 bits (|g| < 2^29 in the backward pass). */
static int32_t mbnn_scale_error(int32_t g, unsigned bwd_shift, int32_t gscale)
{
    int64_t v = mbnn_asr64((int64_t)mbnn_asr32(g, bwd_shift) * gscale, 15);
    return (int32_t)mbnn_clamp64(v, -MBNN_DELTA_MAX, MBNN_DELTA_MAX);
}

/* The 8 bits of x (0..255) spread to bits 0, 4, .., 28 (bit i to bit 4 i). */
static inline uint32_t mbnn_spread4(uint32_t x)
{
    x = (x | (x << 12)) & 0x000F000Fu;
    x = (x | (x << 6)) & 0x03030303u;
    return (x | (x << 3)) & 0x11111111u;
}

/* s[j] += sum of delta_i over the rows i of a dense layer whose bit j is 1,
 * four rows at a time: t[m] = the sum of their delta over the bits set in m
 * (16 entries); for 8 inputs at once, the 4 rows' bytes spread and
 * interleaved so that nibble c holds the 4 rows' bits of input c, then one
 * table read per input. Each s[j] is read and written once per 4 rows
 * (instead of once per row and set bit). Rows with delta 0 are skipped;
 * returns the sum of every delta. */
MBNN_NOINLINE static int32_t mbnn_sum_rows(const mbnn_layer *L, const int32_t *delta, int32_t *s)
{
    uint32_t i = 0, r, k, y, c, words = L->words, n_in = L->n_in, mask = mbnn_last_mask(n_in);
    int32_t total = 0;

    while (i < L->n_out) {
        const uint32_t *rows[4];
        int32_t t[16];
        uint32_t n = 0;
        for (; i < L->n_out && n < 4u; i++) {
            if (delta[i] != 0) {
                rows[n] = L->bits + (size_t)i * words;
                t[1u << n] = delta[i];
                total += delta[i];
                n++;
            }
        }
        if (n == 0u) {
            break;
        }
        for (r = n; r < 4u; r++) { /* missing rows: bits 0 */
            rows[r] = NULL;
            t[1u << r] = 0;
        }
        t[0] = 0;
        t[3] = t[1] + t[2];
        t[5] = t[1] + t[4]; /* t[4 + m] = t[m] + t[4] for m = 1, 2, 3 */
        t[6] = t[2] + t[4];
        t[7] = t[3] + t[4];
        for (r = 1; r < 8u; r++) {
            t[8u + r] = t[r] + t[8];
        }
        for (k = 0; k < words; k++) {
            uint32_t w[4], nb = n_in - 32u * k < 32u ? n_in - 32u * k : 32u;
            int32_t *acc = s + 32u * k;
            for (r = 0; r < 4u; r++) {
                w[r] = rows[r] == NULL ? 0u : (k + 1u == words ? rows[r][k] & mask : rows[r][k]);
            }
            for (y = 0; 8u * y < nb; y++, acc += 8) {
                uint32_t z = mbnn_spread4((w[0] >> (8u * y)) & 255u) | (mbnn_spread4((w[1] >> (8u * y)) & 255u) << 1) |
                             (mbnn_spread4((w[2] >> (8u * y)) & 255u) << 2) |
                             (mbnn_spread4((w[3] >> (8u * y)) & 255u) << 3);
                if (8u * y + 8u <= nb) {
                    acc[0] += t[z & 15u];
                    acc[1] += t[(z >> 4) & 15u];
                    acc[2] += t[(z >> 8) & 15u];
                    acc[3] += t[(z >> 12) & 15u];
                    acc[4] += t[(z >> 16) & 15u];
                    acc[5] += t[(z >> 20) & 15u];
                    acc[6] += t[(z >> 24) & 15u];
                    acc[7] += t[z >> 28];
                } else {
                    for (c = 0; 8u * y + c < nb; c++, z >>= 4) {
                        acc[c] += t[z & 15u];
                    }
                }
            }
        }
    }
    return total;
}

/* Error at the neurons of layer l - 1 from the error delta at layer l,
 * through layer l's binary weights as they are before this step's update:
 * g_j = sum_i (bit_ij ? -delta_i : delta_i) = total - 2 * (sum of delta_i
 * over the rows whose bit j is 1); then scaled, and 0 outside the window. */
static void mbnn_propagate(const mbnn_model *model, uint32_t l, const int32_t *delta, const uint8_t *arg,
                           const uint32_t *window_below, int32_t *below, int32_t *conv_work)
{
    const mbnn_layer *L = &model->layers[l];
    const mbnn_layer *B = &model->layers[l - 1u];
    uint32_t j, n_below = (uint32_t)L->in_c * L->in_h * L->in_w;
    int32_t total = 0;

    memset(below, 0, 4u * (size_t)n_below);
    if (L->op != MBNN_OP_DENSE) {
        mbnn_i_conv_input_sum(L, delta, arg, below, conv_work); /* g itself: total stays 0 */
    } else {
        total = mbnn_sum_rows(L, delta, below);
    }
    for (j = 0; j < n_below; j++) {
        if ((window_below[j / 32u] >> (j % 32u)) & 1u) {
            /* A conv layer below: output j is channel j % n_out (H, W, C order). */
            int32_t g = L->op == MBNN_OP_DENSE ? total - 2 * below[j] : below[j];
            below[j] = mbnn_scale_error(g, B->bwd_shift, B->gscale[B->op == MBNN_OP_DENSE ? j : j % B->n_out]);
        } else {
            below[j] = 0;
        }
    }
}

/* clamp(x, -128, 127): one SSAT where the core has it (the builtin behind
 * ACLE's __ssat, in GCC and clang; gcc 12 does not always find SSAT in the
 * compare-and-select form, and arm_acle.h's macro trips -Wconversion). */
static MBNN_ALWAYS_INLINE int32_t mbnn_sat8(int32_t x)
{
#if defined(__ARM_FEATURE_SAT) && defined(__GNUC__)
    return (int32_t)__builtin_arm_ssat(x, 8); /* gcc 12 declares it unsigned */
#else
    return mbnn_clamp32(x, -128, 127);
#endif
}

/* One proposed change D != 0 (Q16 hidden-weight steps) to hidden weight j
 * of a row (ARITHMETIC.md step 6), with rnot = 65535 - rand16, rand16 its
 * random number (0..65535): metaplastic damping toward zero, stochastic
 * rounding, clamp; the binary weight's bit is flipped with the sign.
 * Inlined into the loops of mbnn_update (no call per weight).
 *
 * The damping asr(D * meta[k], 15): meta[k] <= 32768 (checked at init), so
 * when |D| <= 65535 the product is at most 65535 * 32768 = 2^31 - 32768 and
 * fits in 32 bits (narrow: one 32-bit multiply); otherwise it is done in
 * 64 bits. Both give the same value.
 *
 * Stochastic rounding: D = 65536 iq + f with f = D mod 2^16 in 0..65535; the
 * weight moves by iq, plus 1 when rand16 < f (never when f = 0, as the
 * reference's f != 0 test). In one add and one shift:
 * asr(D + rnot, 16) = iq + (f + 65535 - rand16 >= 65536) = iq + (rand16 < f),
 * since f + 65535 - rand16 is in 0 .. 131070; |D| < 2^24 (|step| <= 2^23,
 * |x| <= 255 with step7 = asr(step, 7)), so the sum does not overflow. A
 * damped D of 0 gives iq = 0 and no +1: the weight stays (the reference's
 * "nothing changes"). row NULL (a constant where this is inlined): the
 * layer keeps no bits (mbnn_i_keeps_bits), nothing to flip. */
static MBNN_ALWAYS_INLINE void mbnn_apply(int8_t *h, uint32_t *row, uint32_t j, int32_t D,
                                          const uint16_t *meta, uint32_t rnot, int narrow)
{
    int32_t old = h[j], nh;

    if ((old < 0) != (D < 0)) {
        int32_t k = old >= 0 ? old : -1 - old;
        if (narrow) {
            D = mbnn_asr32(D * (int32_t)meta[k], 15);
        } else {
            D = (int32_t)mbnn_asr64((int64_t)D * meta[k], 15);
        }
    }
    nh = old + mbnn_asr32(D + (int32_t)rnot, 16);
    nh = mbnn_sat8(nh);
    h[j] = (int8_t)nh;
    if ((nh < 0) != (old < 0) && row != NULL) {
        row[j / 32u] ^= 1u << (j % 32u);
    }
}

/* The metaplastic update of layer l with the error delta at its neurons.
 * Input: the int8 features q (layer 0 with int8 input) or the bits u.
 * Neurons with a zero error (or a zero step) and int8 inputs equal to the
 * zero point (D = 0) are skipped: they change nothing. A row's weights are
 * numbered g0 + j; the loops go by pairs (g even, g + 1) so that one draw
 * serves both, with a lone first weight when g0 is odd and a lone last one. */
/* -1 where bit b of u is 1, else 0. With GCC and clang (which convert to
 * int32_t modulo 2^32 and shift right arithmetically) a shift left and an
 * arithmetic shift right, one SBFX on Cortex-M (the form -(bit) measured 1
 * instruction per weight more with gcc 12 on the M4); elsewhere -(bit). */
static MBNN_ALWAYS_INLINE int32_t mbnn_bit_mask(uint32_t u, unsigned b)
{
#if MBNN_ASR_NATIVE && (defined(__GNUC__) || defined(__clang__))
    return (int32_t)(u << (31u - b)) >> 31;
#else
    return -(int32_t)((u >> b) & 1u);
#endif
}

/* One row of a layer with bit input u: D = -step where the input bit is 1,
 * else +step. The loop goes word by word of u (h, row advanced per word, so
 * the bit index b is < 32), by pairs of inputs (b even, b + 1); pw holds
 * 65535 minus their two rand16 (~w), low half first. With g0 even
 * that is one draw, mix(key + (g0 + j) / 2) (j = 32 k + b); with g0 odd
 * (odd = 1) weight j takes the high half of the previous draw and j + 1 the
 * low half of mix(key + (g0 + j + 1) / 2), kept for the next pair. odd and narrow are
 * constants where this is inlined. */
static MBNN_ALWAYS_INLINE void mbnn_update_row_bits(int8_t *h, uint32_t *row, const uint32_t *u,
                                                    uint32_t n_in, int32_t step, const uint16_t *meta,
                                                    uint32_t key, uint32_t g0, int odd, int narrow)
{
    uint32_t k, words = mbnn_words(n_in), c = key + ((g0 + 1u) >> 1);
    uint32_t prev = odd ? mbnn_i_mix32(c - 1u) : 0u;

    for (k = 0; k < words; k++, h += 32, row++) {
        uint32_t b, uw = u[k], nb = n_in - 32u * k < 32u ? n_in - 32u * k : 32u;
        for (b = 0; b + 1u < nb; b += 2u, c++, uw >>= 2) {
            uint32_t w = mbnn_i_mix32(c), pw = ~(odd ? (prev >> 16) | (w << 16) : w);
            prev = w;
            /* -step where the input bit is 1: (step ^ m) - m, m = 0 or -1 */
            int32_t m0 = mbnn_bit_mask(uw, 0), m1 = mbnn_bit_mask(uw, 1);
            mbnn_apply(h, row, b, (step ^ m0) - m0, meta, pw & 0xFFFFu, narrow);
            mbnn_apply(h, row, b + 1u, (step ^ m1) - m1, meta, pw >> 16, narrow);
        }
        if (b < nb) { /* the last weight of a row of odd length */
            mbnn_apply(h, row, b, (uw & 1u) ? -step : step, meta, ~(odd ? prev >> 16 : mbnn_i_mix32(c)) & 0xFFFFu,
                       narrow);
        }
    }
}

/* One row of the first layer with int8 input q: D = step7 * (q_j - zp),
 * nothing where q_j = zp (no draw where both weights of a pair are skipped).
 * row NULL (a constant where this is inlined): a large layer that keeps no
 * bits in the arena (mbnn_i_keeps_bits), no sign-change test. */
static MBNN_ALWAYS_INLINE void mbnn_update_row_int8(int8_t *h, uint32_t *row, const int8_t *q, int32_t zp,
                                                    uint32_t n_in, int32_t step7, const uint16_t *meta,
                                                    uint32_t key, uint32_t g0, int narrow)
{
    uint32_t j = 0, c = key + ((g0 + 1u) >> 1); /* the draw of the first even g0 + j */
    int32_t x;
    if ((g0 & 1u) != 0u) {
        x = (int32_t)q[0] - zp;
        if (x != 0) {
            mbnn_apply(h, row, 0, step7 * x, meta, ~mbnn_i_mix32(c - 1u) >> 16, narrow);
        }
        j = 1;
    }
    for (; j + 1u < n_in; j += 2u, c++) {
        int32_t x1 = (int32_t)q[j + 1u] - zp;
        uint32_t r;
        x = (int32_t)q[j] - zp;
        if ((x | x1) == 0) {
            continue;
        }
        r = ~mbnn_i_mix32(c);
        if (x != 0) {
            mbnn_apply(h, row, j, step7 * x, meta, r & 0xFFFFu, narrow);
        }
        if (x1 != 0) {
            mbnn_apply(h, row, j + 1u, step7 * x1, meta, r >> 16, narrow);
        }
    }
    if (j < n_in) {
        x = (int32_t)q[j] - zp;
        if (x != 0) {
            mbnn_apply(h, row, j, step7 * x, meta, ~mbnn_i_mix32(c) & 0xFFFFu, narrow);
        }
    }
}

/* The rows of a small int8 first layer, which keeps its bits: in a function
 * of their own (inlined into mbnn_update, these two more copies of the row
 * loop made gcc 12 allocate every loop's registers worse: bit input 13.7
 * instead of 12.7 instructions per hidden weight on the M4). */
MBNN_NOINLINE static void mbnn_update_row_int8_bits(int8_t *h, uint32_t *row, const int8_t *q, int32_t zp,
                                                    uint32_t n_in, int32_t step7, const uint16_t *meta,
                                                    uint32_t key, uint32_t g0, int narrow)
{
    if (narrow) {
        mbnn_update_row_int8(h, row, q, zp, n_in, step7, meta, key, g0, 1);
    } else {
        mbnn_update_row_int8(h, row, q, zp, n_in, step7, meta, key, g0, 0);
    }
}

MBNN_NOINLINE static void mbnn_update(const mbnn_model *model, uint32_t l, const int32_t *delta,
                        const int8_t *q, const uint32_t *u, uint32_t key)
{
    const mbnn_layer *L = &model->layers[l];
    int32_t zp = model->zero_point;
    unsigned rms_shift = model->rms_shift;
    uint32_t i, n_in = L->n_in;

    for (i = 0; i < L->n_out; i++) {
        int32_t d = delta[i];
        int32_t sq = d * d; /* < 2^30 */
        uint32_t r = L->rms[i];
        int8_t *h = L->hidden + (size_t)i * n_in;
        uint32_t *row = L->bits_rw != NULL ? L->bits_rw + (size_t)i * L->words : NULL;
        uint32_t g0 = L->base + i * (uint32_t)n_in;
        int32_t n, step;

        /* Running mean square; the first non-zero error starts it. */
        if (r == 0u) {
            r = (uint32_t)sq;
        } else {
            r = (uint32_t)((int32_t)r + mbnn_asr32(sq - (int32_t)r, rms_shift));
        }
        L->rms[i] = r;
        if (d == 0) {
            continue; /* the row does not change */
        }
        /* r >= 1 here, so s >= 1. */
        n = mbnn_clamp32((d * 256) / (int32_t)mbnn_i_isqrt(r), -MBNN_NORM_MAX, MBNN_NORM_MAX);
        step = (int32_t)mbnn_clamp64(mbnn_asr64(-(int64_t)n * L->lr_q16, 8), -MBNN_STEP_MAX,
                                     MBNN_STEP_MAX);
        if (step == 0) {
            continue; /* every D is 0 */
        }
        if (l == 0u && L->input_kind == MBNN_KIND_INT8) {
            /* D = step7 * x_j with |x_j| = |q_j - zp| <= 255. */
            int32_t step7 = mbnn_asr32(step, 7);
            int narrow = step7 >= -257 && step7 <= 257;
            if (row != NULL) {
                mbnn_update_row_int8_bits(h, row, q, zp, n_in, step7, L->meta, key, g0, narrow);
            } else if (narrow) {
                mbnn_update_row_int8(h, NULL, q, zp, n_in, step7, L->meta, key, g0, 1);
            } else {
                mbnn_update_row_int8(h, NULL, q, zp, n_in, step7, L->meta, key, g0, 0);
            }
        } else if (step >= -65535 && step <= 65535) {
            if ((g0 & 1u) != 0u) {
                mbnn_update_row_bits(h, row, u, n_in, step, L->meta, key, g0, 1, 1);
            } else {
                mbnn_update_row_bits(h, row, u, n_in, step, L->meta, key, g0, 0, 1);
            }
        } else if ((g0 & 1u) != 0u) {
            mbnn_update_row_bits(h, row, u, n_in, step, L->meta, key, g0, 1, 0);
        } else {
            mbnn_update_row_bits(h, row, u, n_in, step, L->meta, key, g0, 0, 0);
        }
    }
}

/* The key of the random numbers of the step model->step. */
static uint32_t mbnn_step_key(const mbnn_model *model)
{
    return mbnn_i_mix32(model->seed + model->step * MBNN_GOLDEN_RATIO_32);
}

/* One learning step on (x, label) of a model that can learn, label valid. */
static void mbnn_learn_step(mbnn_model *model, const int8_t *x, uint32_t label, uint16_t *prediction,
                            uint32_t *loss)
{
    mbnn_scratch s;
    const mbnn_layer *out;
    uint32_t i, n_classes = model->n_classes, lowest, l, sum, key;
    int32_t *delta, *below;

    mbnn_i_scratch_map(model, &s);

    /* 1. Forward, keeping inputs and windows; prediction before the update. */
    mbnn_i_forward(model, &s, x, s.logits);
    if (prediction != NULL) {
        *prediction = mbnn_i_argmax(s.logits, n_classes);
    }

    /* 2. Softmax error in Q15: E_i = exp2neg(zmax - z_i), p_i = E_i 2^15 / S.
     * E_i <= 65536 and S >= 65536, so E_i * 2^15 and S fit in 32 bits. */
    delta = s.err[0];
    below = s.err[1];
    {
        int32_t zmax = s.logits[mbnn_i_argmax(s.logits, n_classes)];
        uint32_t *e = (uint32_t *)(void *)delta;
        sum = 0;
        for (i = 0; i < n_classes; i++) {
            e[i] = mbnn_i_exp2neg((int64_t)zmax - s.logits[i], model->out_frac_bits);
            sum += e[i];
        }
        /* 3. Output error, in place. */
        out = &model->layers[model->n_layers - 1u];
        for (i = 0; i < n_classes; i++) {
            int32_t p = (int32_t)((e[i] << 15) / sum);
            int32_t err = p - (i == label ? MBNN_ONE_Q15 : 0);
            if (i == label && loss != NULL) {
                *loss = (uint32_t)(MBNN_ONE_Q15 - p);
            }
            delta[i] = mbnn_clamp32(mbnn_asr32(mbnn_asr32(err, out->bwd_shift) * out->gscale[i], 15),
                                    -MBNN_DELTA_MAX, MBNN_DELTA_MAX);
        }
    }

    /* 4. Backward and update, from the last layer down to the lowest that learns. */
    lowest = 0;
    while (!model->layers[lowest].learns) {
        lowest++;
    }
    key = mbnn_step_key(model);
    for (l = model->n_layers - 1u;; l--) {
        int32_t *tmp;
        if (l > lowest) {
            mbnn_propagate(model, l, delta, s.arg[l], s.window[l - 1u], below, s.conv_work);
        }
        if (model->layers[l].learns && model->layers[l].op != MBNN_OP_DENSE) {
            int int8 = l == 0u && model->layers[l].input_kind == MBNN_KIND_INT8;
            mbnn_i_conv_update(&model->layers[l], model->rms_shift, delta, s.arg[l], int8 ? x : NULL,
                               model->zero_point, s.in_bits[l], key, s.conv_work);
        } else if (model->layers[l].learns) {
            mbnn_update(model, l, delta, x, s.in_bits[l], key);
        }
        if (l == lowest) {
            break;
        }
        tmp = delta;
        delta = below;
        below = tmp;
    }

    /* 5. One more step (mod 2^32). */
    model->step += 1u;
}

/* Rehearsal (docs/ARITHMETIC.md "Rehearsal"), after the step on the new
 * sample (x, label), with key the one of the step about to be taken:
 *   1. a step on one sample, r = mix32(key ^ REHEARSAL_SALT): memory row
 *      (r & 0x7FFFFFFF) mod filled when rows are filled and bit 31 of r is
 *      set (half the steps), else sample r mod count of the set (labels
 *      checked at init and at state load);
 *   2. the new sample offered to the memory by reservoir sampling (Vitter,
 *      "Random Sampling with a Reservoir", ACM TOMS 1985, algorithm R): while
 *      rows are free it takes the next, then row mix32(key ^ MEMORY_SALT) mod
 *      seen when that is a row, so that every sample offered is kept with the
 *      same chance slots / seen. */
static void mbnn_rehearse(mbnn_model *model, const int8_t *x, uint16_t label)
{
    uint32_t key = mbnn_step_key(model), count = model->rehearsal_count, slot;
    uint32_t filled = model->memory_seen < model->memory_slots ? model->memory_seen : model->memory_slots;
    uint32_t r = mbnn_i_mix32(key ^ MBNN_REHEARSAL_SALT);

    if (filled > 0u && (r & 0x80000000u) != 0u) {
        uint32_t i = (r & 0x7FFFFFFFu) % filled;
        mbnn_learn_step(model, model->memory_x + (size_t)i * model->n_inputs, model->memory_labels[i], NULL, NULL);
    } else {
        uint32_t i = r % count;
        mbnn_learn_step(model, model->rehearsal_x + (size_t)i * model->n_inputs, model->rehearsal_labels[i], NULL,
                        NULL);
    }
    if (model->memory_slots == 0u) {
        return;
    }
    if (model->memory_seen < 0xFFFFFFFFu) {
        model->memory_seen++;
    }
    slot = filled < model->memory_slots ? filled : mbnn_i_mix32(key ^ MBNN_MEMORY_SALT) % model->memory_seen;
    if (slot < model->memory_slots) {
        int8_t *row = model->memory_x + (size_t)slot * model->n_inputs;
        if (row != x) { /* x may be this very row (a caller relearning it), never part of one */
            memcpy(row, x, model->n_inputs);
        }
        model->memory_labels[slot] = label;
    }
}

mbnn_status mbnn_learn(mbnn_model *model, const int8_t *x, uint16_t label, uint16_t *prediction,
                       uint32_t *loss)
{
    if (model == NULL || x == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    if (!model->can_learn) {
        return MBNN_ERR_NO_LEARN;
    }
    if (label >= model->n_classes) {
        return MBNN_ERR_BAD_LABEL;
    }
    mbnn_learn_step(model, x, label, prediction, loss);
    if (model->rehearsal_count > 0u) {
        mbnn_rehearse(model, x, label);
    }
    return MBNN_OK;
}
