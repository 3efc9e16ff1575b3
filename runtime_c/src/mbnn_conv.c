/*
 * Conv layers (format version 2; docs/FORMAT.md "Layer geometry", docs/ARITHMETIC.md
 * "Conv layers"): the forward pass of a hidden Conv1d/Conv2d layer with bit
 * or int8 input, sign, max pooling on the packed bits; the error through a
 * conv layer (the transposed conv) and the metaplastic update of its kernel
 * weights summed over positions.
 *
 * Maps: the input map of a conv layer is packed per pixel in whole words
 * (pixel (y, x) is L->wc words at (y * W + x) * wc, channel c at bit c % 32 of
 * word c / 32), a row of kernel weights the same way per tap, so a tap is wc
 * whole-word XOR-popcounts; the padding bits of a pixel are 0 in the map and
 * masked in the weights. The output map is written with L->out_stride bits per
 * pixel (the next layer's packing). No im2col and no buffer beyond the maps:
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
    uint32_t ky, kx, ky0, ky1, kx0, kx1, k, c, wc = L->wc, pop = 0, taps = 0;
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
    uint32_t c, p, n_pix = (uint32_t)L->in_h * L->in_w;

    memset(u, 0, 4u * (size_t)L->in_words);
    for (c = 0; c < L->in_c; c++) {
        for (p = 0; p < n_pix; p++) {
            if (q[(size_t)c * n_pix + p] < 0) {
                u[(size_t)p * L->wc + c / 32u] |= 1u << (c % 32u);
            }
        }
    }
}

void mbnn_i_conv_forward(const mbnn_layer *L, const int8_t *q, int32_t zp, const uint32_t *u, uint32_t *out,
                         uint32_t *win, uint8_t *arg)
{
    uint32_t py, px, o, dy, dx;

    for (py = 0; py < L->out_h; py++) {
        for (px = 0; px < L->out_w; px++) {
            uint32_t pix = py * L->out_w + px;
            for (o = 0; o < L->n_out; o++) {
                const uint32_t *row = L->bits + (size_t)o * L->words;
                uint32_t e = pix * L->n_out + o, best = 0, found = 0, bit;
                int32_t a_best = 0;
                /* The pooled output is +1 (bit 0) when any position of the
                 * window is; the first such position (row-major) is kept
                 * for learning, position 0 when there is none. */
                for (dy = 0; dy < L->pool_h && !found; dy++) {
                    for (dx = 0; dx < L->pool_w && !found; dx++) {
                        int32_t a = mbnn_conv_at(L, row, u, q, zp, py * L->pool_h + dy, px * L->pool_w + dx);
                        if (a >= L->p0[o]) {
                            found = 1u;
                            best = dy * L->pool_w + dx;
                            a_best = a;
                        } else if (dy == 0u && dx == 0u) {
                            a_best = a;
                        }
                    }
                }
                if (!found) {
                    bit = pix * L->out_stride + o;
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
    *oy = py * L->pool_h + a / L->pool_w;
    *ox = px * L->pool_w + a % L->pool_w;
}

void mbnn_i_conv_input_sum(const mbnn_layer *L, const int32_t *delta, const uint8_t *arg, int32_t *g)
{
    uint32_t py, px, o, ky, kx, c;

    memset(g, 0, 4u * (size_t)L->in_c * L->in_h * L->in_w);
    for (py = 0; py < L->out_h; py++) {
        for (px = 0; px < L->out_w; px++) {
            for (o = 0; o < L->n_out; o++) {
                uint32_t e = (py * L->out_w + px) * L->n_out + o, oy, ox, ky0, ky1, kx0, kx1;
                int32_t d = delta[e], y0, x0;
                const uint32_t *row = L->bits + (size_t)o * L->words;
                if (d == 0) {
                    continue;
                }
                mbnn_conv_pos(L, arg, e, py, px, &oy, &ox);
                mbnn_conv_taps(L, oy, ox, &y0, &x0, &ky0, &ky1, &kx0, &kx1);
                for (ky = ky0; ky < ky1; ky++) {
                    for (kx = kx0; kx < kx1; kx++) {
                        const uint32_t *w = row + (ky * L->kw + kx) * L->wc;
                        int32_t *acc = g + ((size_t)(y0 + (int32_t)ky) * L->in_w + (uint32_t)(x0 + (int32_t)kx)) *
                                               L->in_c;
                        for (c = 0; c < L->in_c; c++) {
                            acc[c] += ((w[c / 32u] >> (c % 32u)) & 1u) ? -d : d;
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

void mbnn_i_conv_update(const mbnn_layer *L, unsigned rms_shift, int32_t *delta, const uint8_t *arg,
                        const int8_t *q, int32_t zp, const uint32_t *u, uint32_t key)
{
    uint32_t n_pos = (uint32_t)L->out_h * L->out_w, o, p, j, int8 = q != NULL;

    for (o = 0; o < L->n_out; o++) {
        uint64_t sum = 0;
        uint32_t r = L->rms[o], s, sq, any = 0;
        int8_t *h = L->hidden + (size_t)o * L->n_in;
        uint32_t *row = L->bits_rw + (size_t)o * L->words;
        uint32_t g0 = L->base + o * (uint32_t)L->n_in;

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
            *d = int8 ? mbnn_asr32(step, 7) : step;
            any |= *d != 0;
        }
        if (!any) {
            continue;
        }
        /* Each kernel weight j = (ky * kw + kx) * in_c + c: its change summed over the positions. */
        for (j = 0; j < L->n_in; j++) {
            uint32_t c = j % L->in_c, tap = j / L->in_c, ky = tap / L->kw, kx = tap % L->kw;
            uint32_t idx = g0 + j, w, pos;
            int64_t D = 0;
            for (p = 0; p < n_pos; p++) {
                uint32_t e = p * L->n_out + o, oy, ox;
                int32_t step = delta[e], y, x;
                if (step == 0) {
                    continue;
                }
                mbnn_conv_pos(L, arg, e, p / L->out_w, p % L->out_w, &oy, &ox);
                y = (int32_t)(oy * L->sh + ky) - (int32_t)L->ph;
                x = (int32_t)(ox * L->sw + kx) - (int32_t)L->pw;
                if (y < 0 || x < 0 || y >= (int32_t)L->in_h || x >= (int32_t)L->in_w) {
                    continue; /* a padded position: 0 */
                }
                if (int8) {
                    D += (int64_t)step *
                         ((int32_t)q[((size_t)c * L->in_h + (uint32_t)y) * L->in_w + (uint32_t)x] - zp);
                } else {
                    uint32_t word = u[((size_t)y * L->in_w + (uint32_t)x) * L->wc + c / 32u];
                    D += ((word >> (c % 32u)) & 1u) ? -step : step;
                }
            }
            if (D == 0) {
                continue;
            }
            D = mbnn_clamp64(D, -MBNN_CONV_D_MAX, MBNN_CONV_D_MAX);
            w = mbnn_i_mix32(key + (idx >> 1));
            pos = mbnn_i_weight_bit(L, j);
            {
                int32_t old = h[j], nh = mbnn_i_damp_round(old, (int32_t)D, L->meta, (idx & 1u) ? w >> 16 : w & 0xFFFFu);
                h[j] = (int8_t)nh;
                if ((nh < 0) != (old < 0)) {
                    row[pos / 32u] ^= 1u << (pos % 32u);
                }
            }
        }
    }
}
