/* The optimized conv forward kernels (mbnn_conv.c) against the reference
 * conv kernel on random conv layers: Conv1d and Conv2d, int8 and bit input,
 * 1 to 40 input channels (one or two words per pixel), kernels, strides,
 * padding and pooling of several sizes, 1 to 34 output channels (across a
 * word), output maps packed for a dense or a conv layer above, windows and
 * pooling positions on and off, weights with and without padding bits set
 * (they must not count). The buffers borrow the golden blob's (the 16 KiB
 * micro:bit has no room for more). Runs on every target. */
#include <string.h>

#include "mbnn_internal.h"
#include "mbnn_test.h"

#define CT_ROW_WORDS 160u   /* n_out * words */
#define CT_MAP_WORDS 96u    /* packed bit input map */
#define CT_Q 192u           /* int8 input map */
#define CT_SCRATCH 160u     /* u32 words of kernel room */
#define CT_OUT_WORDS 24u    /* output bits */
#define CT_OUTPUTS 256u     /* n_out * pooled positions (window bits, positions) */
#define CT_MAX_OUT 34u

/* The buffers, carved from mbnn_test_blob_buf (unused while this test runs:
 * the 16 KiB micro:bit has no RAM for more), in u32 words. */
#define CT_WORDS (CT_ROW_WORDS + 3u * CT_MAX_OUT + CT_MAP_WORDS + CT_Q / 4u + CT_SCRATCH + \
                  2u * CT_OUT_WORDS + 2u * (CT_OUTPUTS / 32u) + 2u * (CT_OUTPUTS / 4u))
typedef char ct_buffers_fit[CT_WORDS <= MBNN_GOLDEN_MAX_BLOB / 4u + 2u ? 1 : -1];

typedef struct {
    uint32_t *bits;
    int32_t *params;
    uint32_t *u;
    int8_t *q;
    uint32_t *scratch;
    uint32_t *out[2], *win[2];
    uint8_t *arg[2];
} ct_buffers;

/* Point the buffers into mbnn_test_blob_buf (the pointers live on the stack:
 * the micro:bit build has no static RAM to spare). */
static void ct_carve(ct_buffers *b)
{
    uint32_t *w = mbnn_test_blob_buf;
    b->bits = w;
    w += CT_ROW_WORDS;
    b->params = (int32_t *)(void *)w;
    w += 3u * CT_MAX_OUT;
    b->u = w;
    w += CT_MAP_WORDS;
    b->q = (int8_t *)(void *)w;
    w += CT_Q / 4u;
    b->scratch = w;
    w += CT_SCRATCH;
    b->out[0] = w;
    b->out[1] = w + CT_OUT_WORDS;
    w += 2u * CT_OUT_WORDS;
    b->win[0] = w;
    b->win[1] = w + CT_OUTPUTS / 32u;
    w += 2u * (CT_OUTPUTS / 32u);
    b->arg[0] = (uint8_t *)(void *)w;
    b->arg[1] = b->arg[0] + CT_OUTPUTS;
}

static uint32_t ct_next(uint32_t *state)
{
    *state += 0x9E3779B9u;
    return mbnn_i_mix32(*state);
}

/* A random value in [lo, hi]. */
static int32_t ct_range(uint32_t *state, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(ct_next(state) % (uint32_t)(hi - lo + 1));
}

/* A random conv geometry within the buffers (retried until one fits);
 * returns the output stride in bits per pooled pixel. */
static uint32_t ct_geometry(mbnn_layer *L, uint32_t *state, int int8)
{
    for (;;) {
        uint32_t conv2d = ct_next(state) % 2u, n_pix, out_pix, stride;
        memset(L, 0, sizeof(*L));
        L->op = (uint8_t)(conv2d ? MBNN_OP_CONV2D : MBNN_OP_CONV1D);
        L->in_c = (uint16_t)ct_range(state, 1, int8 ? 4 : 40);
        L->kh = (uint8_t)(conv2d ? ct_range(state, 1, 4) : 1);
        L->kw = (uint8_t)ct_range(state, 1, conv2d ? 4 : 6);
        L->sh = (uint8_t)(conv2d ? ct_range(state, 1, 3) : 1);
        L->sw = (uint8_t)ct_range(state, 1, 3);
        L->ph = (uint8_t)(conv2d ? ct_range(state, 0, L->kh - 1) : 0);
        L->pw = (uint8_t)ct_range(state, 0, L->kw - 1);
        L->pool = (uint8_t)ct_range(state, 1, 3);
        L->in_h = (uint16_t)(conv2d ? ct_range(state, 1, 9) : 1);
        L->in_w = (uint16_t)ct_range(state, 1, conv2d ? 9 : 24);
        L->n_out = (uint16_t)ct_range(state, 1, (int32_t)CT_MAX_OUT);
        L->n_in = (uint16_t)(L->in_c * L->kh * L->kw);
        L->words = (uint16_t)(L->kh * L->kw * mbnn_i_wc(L));
        if (L->in_h + 2u * L->ph < L->kh || L->in_w + 2u * L->pw < L->kw) {
            continue;
        }
        n_pix = (uint32_t)L->in_h * L->in_w;
        out_pix = mbnn_i_out_h(L) * mbnn_i_out_w(L);
        stride = ct_next(state) % 2u ? 32u * mbnn_words(L->n_out) : L->n_out; /* conv or dense above */
        if (out_pix == 0u || (uint32_t)L->n_out * L->words > CT_ROW_WORDS ||
            n_pix * mbnn_i_wc(L) > CT_MAP_WORDS || n_pix * L->in_c > CT_Q ||
            mbnn_i_conv_scratch_size(L, int8) > 4u * CT_SCRATCH || out_pix * stride > 32u * CT_OUT_WORDS ||
            out_pix * L->n_out > CT_OUTPUTS) {
            continue;
        }
        return stride;
    }
}

/* One random layer and input; both kernels; every output equal. */
static void ct_trial(const ct_buffers *b, uint32_t *state, uint32_t trial, int int8)
{
    mbnn_layer L;
    uint32_t stride = ct_geometry(&L, state, int8), i, c, p, v;
    uint32_t n_pix = (uint32_t)L.in_h * L.in_w, wc = mbnn_i_wc(&L), pad = ~mbnn_last_mask(L.in_c);
    int32_t zp = trial % 5u == 0u ? (trial % 10u == 0u ? -128 : 127) : ct_range(state, -128, 127);
    int32_t span = int8 ? (int32_t)L.n_in * 255 : (int32_t)L.n_in;
    int with_win = (int)((trial / 2u) % 2u), with_arg = (int)((trial / 4u) % 2u);

    for (i = 0; i < (uint32_t)L.n_out * L.words; i++) {
        b->bits[i] = ct_next(state);
        if (trial % 3u != 0u && i % wc == wc - 1u) {
            b->bits[i] &= ~pad; /* clean rows, as the writer makes them; every third not */
        }
    }
    for (i = 0; i < L.n_out; i++) {
        /* thresholds where the pre-activations are (int8: their typical size) */
        int32_t t = int8 ? span / 8 : span, lo = ct_range(state, -t, t), hi = ct_range(state, lo, t);
        b->params[i] = ct_range(state, -t, t);
        b->params[L.n_out + i] = lo;
        b->params[2u * L.n_out + i] = hi;
    }
    L.bits = b->bits;
    L.p0 = b->params;
    L.p1 = b->params + L.n_out;
    L.p2 = b->params + 2u * L.n_out;
    memset(b->u, 0, 4u * CT_MAP_WORDS); /* padding bits of the map 0 */
    for (p = 0; p < n_pix; p++) {
        for (c = 0; c < L.in_c; c++) {
            /* some maps equal to the first row's first tap (counts of 0) */
            v = trial % 7u == 1u ? (b->bits[c / 32u] >> (c % 32u)) & 1u : ct_next(state) & 1u;
            b->u[p * wc + c / 32u] |= v << (c % 32u);
        }
    }
    for (i = 0; i < CT_Q; i++) {
        uint32_t r = ct_next(state) % 8u;
        b->q[i] = (int8_t)(r == 0u ? -128 : r == 1u ? 127 : r == 2u ? zp : ct_range(state, -128, 127));
    }
    memset(b->out[0], 0, 8u * CT_OUT_WORDS);
    memset(b->win[0], 0, 8u * (CT_OUTPUTS / 32u));
    memset(b->arg[0], 0xAB, 2u * CT_OUTPUTS);
    for (v = 0; v < 2u; v++) {
        mbnn_i_conv_forward(&L, int8 ? b->q : NULL, zp, b->u, b->out[v], stride, with_win ? b->win[v] : NULL,
                            with_arg ? b->arg[v] : NULL, v == 0u ? NULL : b->scratch);
    }
    CHECK(memcmp(b->out[0], b->out[1], 4u * CT_OUT_WORDS) == 0);
    CHECK(memcmp(b->win[0], b->win[1], 4u * (CT_OUTPUTS / 32u)) == 0);
    CHECK(memcmp(b->arg[0], b->arg[1], CT_OUTPUTS) == 0);
}

void mbnn_test_conv(void)
{
    uint32_t trial, state = 11u;
    ct_buffers b;
    ct_carve(&b);
    for (trial = 0; trial < 300u; trial++) {
        ct_trial(&b, &state, trial, (int)(trial % 2u));
    }
}
