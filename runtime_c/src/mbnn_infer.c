/*
 * Inference (docs/ARITHMETIC.md "Inference"): the forward pass layer by
 * layer with the kernels of mbnn_kernels.c (MBNN_KERNELS selects the
 * optimized or the reference ones), argmax, and the public calls.
 */
#include <string.h>

#include "mbnn_internal.h"

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

    for (l = 0; l < n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        int is_out = (l + 1u == n_layers);
        uint32_t *in = model->can_learn ? s->in_bits[l] : s->act[l % 2u];
        uint32_t *out = NULL, *win = NULL;
        int32_t *z = is_out ? logits : NULL;
        uint32_t i;

        if (!is_out) {
            uint32_t n_outputs = (uint32_t)L->n_out * mbnn_i_out_h(L) * mbnn_i_out_w(L);
            out = model->can_learn ? s->in_bits[l + 1u] : s->act[(l + 1u) % 2u];
            win = model->can_learn ? s->window[l] : NULL;
            memset(out, 0, 4u * (size_t)mbnn_i_in_words(&model->layers[l + 1u]));
            if (win != NULL) {
                memset(win, 0, 4u * (size_t)mbnn_words(n_outputs));
            }
        }
        if (L->op != MBNN_OP_DENSE) { /* a hidden conv layer (mbnn_conv.c) */
            uint8_t *arg = model->can_learn ? s->arg[l] : NULL;
            uint32_t stride = mbnn_i_out_stride(L, &model->layers[l + 1u]);
            /* the optimized kernels with their room, or the reference ones */
            void *room = MBNN_KERNELS ? (void *)s->table : NULL;
            if (l == 0u && L->input_kind == MBNN_KIND_INT8) {
                mbnn_i_conv_forward(L, q, model->zero_point, NULL, out, stride, win, arg, room);
                continue;
            }
            if (l == 0u) {
                mbnn_i_conv_pack_input(L, q, in);
            }
            mbnn_i_conv_forward(L, NULL, 0, in, out, stride, win, arg, room);
            continue;
        }
        if (l == 0u && L->input_kind == MBNN_KIND_INT8) {
#if MBNN_KERNELS
            mbnn_i_layer_int8_opt(L, q, model->zero_point, s->table, out, win, z);
#else
            mbnn_i_layer_int8_ref(L, q, model->zero_point, out, win, z);
#endif
            continue;
        }
        if (l == 0u) {
            /* u_j = (q_j < 0): a negative feature is bit 1 (-1). */
            memset(in, 0, 4u * (size_t)L->words);
            for (i = 0; i < L->n_in; i++) {
                if (q[i] < 0) {
                    in[i / 32u] |= 1u << (i % 32u);
                }
            }
        }
#if MBNN_KERNELS
        mbnn_i_layer_bits_opt(L, in, out, win, z);
#else
        mbnn_i_layer_bits_ref(L, in, out, win, z);
#endif
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
