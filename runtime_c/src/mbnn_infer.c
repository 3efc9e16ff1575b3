/*
 * Forward kernels (docs/ARITHMETIC.md "Inference"): plain C reference kernels.
 *
 *   int8 input:  a_i = sum_j (bit_ij ? -x_j : x_j),  x_j = q_j - zero_point
 *   bit input:   a_i = n_in - 2 * popcount(row_i XOR u), padding masked off
 *   hidden:      v_i = (a_i < threshold_i), window w_i = (lo_i <= a_i <= hi_i)
 *   output:      z_i = sat32(scale_i * a_i + offset_i)  (64-bit product)
 */
#include <string.h>

#include "mbnn_internal.h"

/* Pre-activation of neuron i of layer 0 with int8 input: x_j = q_j - zp and
 * a_i = sum_x - 2 * (sum of x_j where the weight is -1), where the sum over
 * the -1 weights is (sum of their q_j) - (their count) * zp. |a| < 2^21.
 * The q_j are selected without a branch (q_j & -bit), which the compiler
 * can vectorize; only the n_in real inputs are read. */
static int32_t mbnn_preact_int8(const mbnn_layer *L, uint32_t i, const int8_t *q, int32_t zp,
                                int32_t sum_x)
{
    const uint32_t *row = L->bits + (size_t)i * L->words;
    uint32_t k, n_in = L->n_in;
    int32_t neg_q = 0, neg_count = 0;

    for (k = 0; k < L->words; k++) {
        uint32_t w = row[k], b;
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
    return sum_x - 2 * (neg_q - neg_count * zp);
}

/* Pre-activation of neuron i of a layer with bit input u (padding bits of u
 * are ignored too). |a| <= 8192. */
static int32_t mbnn_preact_bits(const mbnn_layer *L, uint32_t i, const uint32_t *u)
{
    const uint32_t *row = L->bits + (size_t)i * L->words;
    uint32_t k, last = L->words - 1u, ones = 0;

    for (k = 0; k < last; k++) {
        ones += mbnn_popcount32(row[k] ^ u[k]);
    }
    ones += mbnn_popcount32((row[last] ^ u[last]) & mbnn_last_mask(L->n_in));
    return (int32_t)L->n_in - 2 * (int32_t)ones;
}

uint16_t mbnn_i_argmax(const int32_t *logits, uint32_t n)
{
    uint32_t i, best = 0;
    for (i = 1; i < n; i++) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    return (uint16_t)best;
}

void mbnn_i_forward(const mbnn_model *model, const mbnn_scratch *s, const int8_t *q, int32_t *logits)
{
    uint32_t l, n_layers = model->n_layers;
    const uint32_t *u = NULL;
    int32_t zp = model->zero_point, sum_x = 0;

    for (l = 0; l < n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        int is_out = (l + 1u == n_layers);
        uint32_t *in = model->can_learn ? s->in_bits[l] : s->act[l % 2u];
        uint32_t *out = NULL, *win = NULL;
        uint32_t i;

        if (!is_out) {
            out = model->can_learn ? s->in_bits[l + 1u] : s->act[(l + 1u) % 2u];
            win = model->can_learn ? s->window[l] : NULL;
            memset(out, 0, 4u * (size_t)mbnn_words(L->n_out));
            if (win != NULL) {
                memset(win, 0, 4u * (size_t)mbnn_words(L->n_out));
            }
        }
        if (l == 0u && L->input_kind == MBNN_KIND_BITS) {
            /* u_j = (q_j < 0): a negative feature is bit 1 (-1). */
            memset(in, 0, 4u * (size_t)L->words);
            for (i = 0; i < L->n_in; i++) {
                if (q[i] < 0) {
                    in[i / 32u] |= 1u << (i % 32u);
                }
            }
        }
        if (l > 0u || L->input_kind == MBNN_KIND_BITS) {
            u = in;
        } else {
            for (i = 0; i < L->n_in; i++) {
                sum_x += (int32_t)q[i] - zp;
            }
        }
        for (i = 0; i < L->n_out; i++) {
            int32_t a;
            if (l == 0u && L->input_kind == MBNN_KIND_INT8) {
                a = mbnn_preact_int8(L, i, q, zp, sum_x);
            } else {
                a = mbnn_preact_bits(L, i, u);
            }
            if (is_out) {
                int64_t z = (int64_t)L->p0[i] * a + L->p1[i];
                logits[i] = (int32_t)mbnn_clamp64(z, INT32_MIN, INT32_MAX);
            } else {
                if (a < L->p0[i]) {
                    out[i / 32u] |= 1u << (i % 32u);
                }
                if (win != NULL && L->p1[i] <= a && a <= L->p2[i]) {
                    win[i / 32u] |= 1u << (i % 32u);
                }
            }
        }
    }
}

mbnn_status mbnn_infer(mbnn_model *model, const int8_t *x, int32_t *logits)
{
    mbnn_scratch s;

    if (model == NULL || x == NULL || logits == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    mbnn_i_scratch_map(model, &s);
    mbnn_i_forward(model, &s, x, logits);
    return MBNN_OK;
}

mbnn_status mbnn_predict(mbnn_model *model, const int8_t *x, uint16_t *prediction)
{
    mbnn_scratch s;

    if (model == NULL || x == NULL || prediction == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    mbnn_i_scratch_map(model, &s);
    mbnn_i_forward(model, &s, x, s.logits);
    *prediction = mbnn_i_argmax(s.logits, model->n_classes);
    return MBNN_OK;
}
