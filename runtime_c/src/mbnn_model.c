/*
 * Blob validation (docs/FORMAT.md, "What the runtime checks, in this order"),
 * the arena size query and mbnn_model_init.
 *
 * Arena layout (every part a multiple of 4 bytes, so every part is aligned):
 *
 *   learning models only, for each layer that learns, in layer order:
 *       bits copy   n_out * words(n_in) u32   (the binary weights in RAM; none
 *                                              for a dense int8 first layer,
 *                                              whose signs are read from its
 *                                              hidden weights: mbnn_i_keeps_bits)
 *       rms         n_out u32                 (running mean square of the error)
 *       hidden      n_out * n_in i8, padded to a multiple of 4
 *   learning models with memory slots: memory_slots rows of n_inputs i8,
 *       then memory_slots u16 labels, each padded to a multiple of 4
 *   scratch (model->scratch):
 *       inference:  logits n_classes i32, two bit buffers of the largest
 *                   packed input map (in_words), the partial-sum tables of
 *                   an int8 dense first layer (mbnn_i_int8_table_size: 512
 *                   bytes per 8 inputs up to 128 inputs, then 8 KiB plus 4
 *                   bytes per output neuron), or, if larger, the room of the
 *                   optimized kernel of the largest conv layer
 *                   (mbnn_i_conv_scratch_size: 2 bytes per output
 *                   channel, rounded up to 4, and for int8 layer 0 its rows
 *                   repacked, 4 bytes per input and 40 per group of 4
 *                   inputs; bits: 8 bytes per row word); a conv layer needs
 *                   nothing more (no im2col: it reads its input map in place)
 *       learning:   logits n_classes i32, the packed input map of every
 *                   layer, a window bit per output of every hidden layer
 *                   (conv: per pooled output) and for a conv layer with
 *                   pooling a byte per pooled output (the position of the
 *                   maximum), a model with conv layers MBNN_CONV_WORK i32
 *                   (the sums of the conv learning kernels), then one region used twice: the partial-sum
 *                   tables or conv kernel room in the forward pass, two i32 error buffers of the
 *                   most outputs of a layer from the lowest that learns up
 *                   in the backward pass
 */
#include <string.h>

#include "mbnn_internal.h"

static size_t mbnn_pad4(size_t n)
{
    return (n + 3u) & ~(size_t)3u;
}

/* Is [off, off + size) an aligned array inside the blob, after the layer
 * table? Computed without overflow. */
static int mbnn_array_ok(uint32_t off, uint32_t size, uint32_t table_end, uint32_t total)
{
    if (off == 0u || (off % 4u) != 0u || off < table_end || off > total) {
        return 0;
    }
    return size <= total - off;
}

/* Bytes of a layer entry in a blob of this version. */
static uint32_t mbnn_entry_size(const uint8_t *blob)
{
    return mbnn_rd32(blob + MBNN_HDR_VERSION) == 1u ? MBNN_LAYER_ENTRY_SIZE_V1 : MBNN_LAYER_ENTRY_SIZE_V2;
}

/* The hidden weights of layer l in the blob (a layer that learns). */
static const int8_t *mbnn_blob_hidden(const mbnn_model *model, uint32_t l)
{
    const uint8_t *e = model->blob + MBNN_HEADER_SIZE + mbnn_entry_size(model->blob) * l;
    return (const int8_t *)(const void *)(model->blob + mbnn_rd32(e + MBNN_LAYER_OFF_HIDDEN));
}

/* The geometry of a layer entry (docs/FORMAT.md "Layer geometry"): the fields
 * of version 2, or those of a dense layer on (n_in, 1, 1) for version 1. */
typedef struct {
    uint32_t op, pool, kh, kw, sh, sw, ph, pw, in_c, in_h, in_w, reserved, n_in, n_out;
} mbnn_geom;

static void mbnn_read_geom(const uint8_t *e, uint32_t version, mbnn_geom *g)
{
    g->n_in = mbnn_rd16(e + MBNN_LAYER_N_IN);
    g->n_out = mbnn_rd16(e + MBNN_LAYER_N_OUT);
    if (version == 1u) {
        g->op = MBNN_OP_DENSE;
        g->pool = g->kh = g->kw = g->sh = g->sw = g->in_h = g->in_w = 1u;
        g->ph = g->pw = g->reserved = 0u;
        g->in_c = g->n_in;
        return;
    }
    g->op = e[MBNN_LAYER_OP];
    g->pool = e[MBNN_LAYER_POOL];
    g->kh = e[MBNN_LAYER_KH];
    g->kw = e[MBNN_LAYER_KW];
    g->sh = e[MBNN_LAYER_SH];
    g->sw = e[MBNN_LAYER_SW];
    g->ph = e[MBNN_LAYER_PH];
    g->pw = e[MBNN_LAYER_PW];
    g->in_c = mbnn_rd16(e + MBNN_LAYER_IN_C);
    g->in_h = mbnn_rd16(e + MBNN_LAYER_IN_H);
    g->in_w = mbnn_rd16(e + MBNN_LAYER_IN_W);
    g->reserved = mbnn_rd16(e + MBNN_LAYER_RESERVED);
}

/* Conv output before pooling (may be 0 or less when the kernel does not fit:
 * signed), and the pooling window. */
static int32_t mbnn_conv_dim(uint32_t in, uint32_t pad, uint32_t k, uint32_t stride)
{
    int32_t span = (int32_t)(in + 2u * pad) - (int32_t)k;
    return span < 0 ? 0 : span / (int32_t)stride + 1;
}

static void mbnn_out_map(const mbnn_geom *g, uint32_t *c, uint32_t *h, uint32_t *w)
{
    *c = g->n_out;
    *h = 1u;
    *w = 1u;
    if (g->op != MBNN_OP_DENSE) {
        *h = (uint32_t)mbnn_conv_dim(g->in_h, g->ph, g->kh, g->sh) / (g->op == MBNN_OP_CONV1D ? 1u : g->pool);
        *w = (uint32_t)mbnn_conv_dim(g->in_w, g->pw, g->kw, g->sw) / g->pool;
    }
}

/* Version 2: the geometry's ranges and how it chains with the output map
 * (C, H, W) of the layer before (prev NULL for layer 0), exactly the checks
 * of pyruntime/format.py (_geometry_error). Returns 1 when valid. */
static int mbnn_geom_ok(const mbnn_geom *g, const uint32_t *prev, int last)
{
    uint32_t in_size, ho, wo;

    if (g->op > MBNN_LAYER_OP_MAX || g->pool < MBNN_LAYER_POOL_MIN || g->pool > MBNN_LAYER_POOL_MAX ||
        g->kh < MBNN_LAYER_KH_MIN || g->kh > MBNN_LAYER_KH_MAX || g->kw < MBNN_LAYER_KW_MIN ||
        g->kw > MBNN_LAYER_KW_MAX || g->sh < MBNN_LAYER_SH_MIN || g->sh > MBNN_LAYER_SH_MAX ||
        g->sw < MBNN_LAYER_SW_MIN || g->sw > MBNN_LAYER_SW_MAX || g->ph > MBNN_LAYER_PH_MAX ||
        g->pw > MBNN_LAYER_PW_MAX || g->in_c < MBNN_LAYER_IN_C_MIN || g->in_h < MBNN_LAYER_IN_H_MIN ||
        g->in_w < MBNN_LAYER_IN_W_MIN || g->reserved > MBNN_LAYER_RESERVED_MAX) {
        return 0;
    }
    if ((uint64_t)g->in_c * g->in_h * g->in_w > MBNN_MAX_MAP) {
        return 0;
    }
    in_size = g->in_c * g->in_h * g->in_w;
    if (prev == NULL && g->op == MBNN_OP_DENSE && (g->in_h != 1u || g->in_w != 1u)) {
        return 0;
    }
    if (prev != NULL && (g->in_c != prev[0] || g->in_h != prev[1] || g->in_w != prev[2])) {
        return 0;
    }
    if (g->op == MBNN_OP_DENSE) {
        return g->pool == 1u && g->kh == 1u && g->kw == 1u && g->sh == 1u && g->sw == 1u && g->ph == 0u &&
               g->pw == 0u && in_size == g->n_in;
    }
    if (last) {
        return 0;
    }
    if (g->op == MBNN_OP_CONV1D && (g->kh != 1u || g->sh != 1u || g->ph != 0u || g->in_h != 1u)) {
        return 0;
    }
    if (g->n_in != g->in_c * g->kh * g->kw || g->ph >= g->kh || g->pw >= g->kw) {
        return 0;
    }
    ho = (uint32_t)mbnn_conv_dim(g->in_h, g->ph, g->kh, g->sh);
    wo = (uint32_t)mbnn_conv_dim(g->in_w, g->pw, g->kw, g->sw);
    if ((g->op == MBNN_OP_CONV2D && ho < g->pool) || wo < g->pool) {
        return 0;
    }
    return (uint64_t)g->n_out * ho * wo <= MBNN_MAX_MAP && g->n_out * g->kh * g->kw <= MBNN_LAYER_N_IN_MAX;
}

/* u32 words of one row of a layer's binary weights in the blob. */
static uint32_t mbnn_row_words(const mbnn_geom *g)
{
    return g->op == MBNN_OP_DENSE ? mbnn_words(g->n_in) : g->kh * g->kw * mbnn_words(g->in_c);
}

/* The geometry of a validated layer into its mbnn_layer. */
static void mbnn_bind_geom(mbnn_layer *L, const mbnn_geom *g)
{
    L->op = (uint8_t)g->op;
    L->kh = (uint8_t)g->kh;
    L->kw = (uint8_t)g->kw;
    L->sh = (uint8_t)g->sh;
    L->sw = (uint8_t)g->sw;
    L->ph = (uint8_t)g->ph;
    L->pw = (uint8_t)g->pw;
    L->pool = (uint8_t)g->pool;
    L->in_c = (uint16_t)g->in_c;
    L->in_h = (uint16_t)g->in_h;
    L->in_w = (uint16_t)g->in_w;
}

mbnn_status mbnn_i_parse_blob(mbnn_model *model, const void *blob, size_t blob_len)
{
    const uint8_t *b = (const uint8_t *)blob;
    uint32_t total, n_layers, table_end, base, l, version, esize;
    uint32_t frac, rms_shift, reh_count = 0, reh_x = 0, reh_labels = 0, memory = 0;
    mbnn_geom g;         /* layer l's geometry */
    uint32_t prev_map[3]; /* the output map of the layer before (a small frame: the M0's stack is small) */

    if (model == NULL || blob == NULL) {
        return MBNN_ERR_NULL;
    }
    if (((uintptr_t)blob % 4u) != 0u) {
        return MBNN_ERR_ALIGN;
    }
    /* 1-4: size, magic, version, total size. */
    if (blob_len < MBNN_CRC_START) {
        return MBNN_ERR_TRUNCATED;
    }
    if (memcmp(b + MBNN_HDR_MAGIC, "MBNN", 4) != 0) {
        return MBNN_ERR_BAD_MAGIC;
    }
    version = mbnn_rd32(b + MBNN_HDR_VERSION);
    if (version < 1u || version > MBNN_FORMAT_VERSION) {
        return MBNN_ERR_VERSION;
    }
    esize = mbnn_entry_size(b);
    total = mbnn_rd32(b + MBNN_HDR_TOTAL_SIZE);
    if ((size_t)total > blob_len) {
        return MBNN_ERR_TRUNCATED;
    }
    if (total < MBNN_HEADER_SIZE) {
        return MBNN_ERR_BAD_HEADER;
    }
    /* 5: CRC of [16, total). */
    if (mbnn_crc32(0u, b + MBNN_CRC_START, total - MBNN_CRC_START) != mbnn_rd32(b + MBNN_HDR_CRC32)) {
        return MBNN_ERR_CRC;
    }
    /* 6: header fields. */
    n_layers = mbnn_rd16(b + MBNN_HDR_N_LAYERS);
    frac = b[MBNN_HDR_OUT_FRAC_BITS];
    rms_shift = b[MBNN_HDR_RMS_SHIFT];
    if (n_layers < MBNN_HDR_N_LAYERS_MIN || n_layers > (uint32_t)MBNN_MAX_LAYERS ||
        mbnn_rd16(b + MBNN_HDR_FLAGS) > MBNN_HDR_FLAGS_MAX || frac > MBNN_HDR_OUT_FRAC_BITS_MAX ||
        rms_shift > MBNN_HDR_RMS_SHIFT_MAX || b[MBNN_HDR_RESERVED] > MBNN_HDR_RESERVED_MAX ||
        mbnn_rd16(b + MBNN_HDR_FLAGS) != (version >= 3u ? MBNN_FLAG_REHEARSAL : 0u)) {
        return MBNN_ERR_BAD_HEADER; /* the rehearsal bit: set in version 3, and only there */
    }
    table_end = MBNN_HEADER_SIZE + esize * n_layers + (version >= 3u ? MBNN_REHEARSAL_ENTRY_SIZE : 0u);
    if (table_end > total) {
        return MBNN_ERR_BAD_HEADER;
    }
    if (version >= 3u) { /* the rehearsal entry, right after the layer table */
        const uint8_t *r = b + table_end - MBNN_REHEARSAL_ENTRY_SIZE;
        reh_count = mbnn_rd32(r + MBNN_REH_COUNT);
        reh_x = mbnn_rd32(r + MBNN_REH_OFF_X);
        reh_labels = mbnn_rd32(r + MBNN_REH_OFF_LABELS);
        memory = mbnn_rd32(r + MBNN_REH_MEMORY);
        if (reh_count < MBNN_REH_COUNT_MIN || reh_count > MBNN_REH_COUNT_MAX || memory > MBNN_REH_MEMORY_MAX) {
            return MBNN_ERR_BAD_HEADER;
        }
    }
    /* 7: every layer's kind, flags, sizes, shift and learning rate. */
    for (l = 0; l < n_layers; l++) {
        const uint8_t *e = b + MBNN_HEADER_SIZE + esize * l;
        uint32_t kind = e[MBNN_LAYER_INPUT_KIND], flags = e[MBNN_LAYER_FLAGS];
        uint32_t bwd = e[MBNN_LAYER_BWD_SHIFT];
        uint32_t n_in = mbnn_rd16(e + MBNN_LAYER_N_IN), n_out = mbnn_rd16(e + MBNN_LAYER_N_OUT);
        uint32_t lr = mbnn_rd32(e + MBNN_LAYER_LR_Q16);
        if (kind > MBNN_LAYER_INPUT_KIND_MAX || (l > 0u && kind != MBNN_KIND_BITS)) {
            return MBNN_ERR_BAD_LAYER;
        }
        if (flags > MBNN_LAYER_FLAGS_MAX || bwd > MBNN_LAYER_BWD_SHIFT_MAX || lr > MBNN_LAYER_LR_Q16_MAX) {
            return MBNN_ERR_BAD_LAYER;
        }
        if (n_in < MBNN_LAYER_N_IN_MIN || n_in > (uint32_t)MBNN_MAX_WIDTH || n_out < MBNN_LAYER_N_OUT_MIN ||
            n_out > (uint32_t)MBNN_MAX_WIDTH) {
            return MBNN_ERR_BAD_LAYER;
        }
        if (version == 1u && l > 0u && n_in != mbnn_rd16(e - esize + MBNN_LAYER_N_OUT)) {
            return MBNN_ERR_BAD_LAYER;
        }
        mbnn_read_geom(e, version, &g);
        if (version > 1u && !mbnn_geom_ok(&g, l > 0u ? prev_map : NULL, l + 1u == n_layers)) {
            return MBNN_ERR_BAD_LAYER;
        }
        mbnn_out_map(&g, &prev_map[0], &prev_map[1], &prev_map[2]);
    }
    /* 8: offsets. The arrays a layer needs: bits, params, gscale always;
     * hidden and meta when it learns (their offsets are ignored otherwise). */
    for (l = 0; l < n_layers; l++) {
        const uint8_t *e = b + MBNN_HEADER_SIZE + esize * l;
        uint32_t learns = e[MBNN_LAYER_FLAGS] & MBNN_FLAG_LEARNS;
        uint32_t n_in = mbnn_rd16(e + MBNN_LAYER_N_IN), n_out = mbnn_rd16(e + MBNN_LAYER_N_OUT);
        uint32_t n_params = (l + 1u == n_layers) ? 2u : 3u;
        mbnn_read_geom(e, version, &g);
        if (!mbnn_array_ok(mbnn_rd32(e + MBNN_LAYER_OFF_BITS), 4u * n_out * mbnn_row_words(&g), table_end,
                           total) ||
            !mbnn_array_ok(mbnn_rd32(e + MBNN_LAYER_OFF_PARAMS), 4u * n_params * n_out, table_end, total) ||
            !mbnn_array_ok(mbnn_rd32(e + MBNN_LAYER_OFF_GSCALE), 4u * n_out, table_end, total)) {
            return MBNN_ERR_BAD_OFFSET;
        }
        if (learns && (!mbnn_array_ok(mbnn_rd32(e + MBNN_LAYER_OFF_HIDDEN), n_out * n_in, table_end, total) ||
                       !mbnn_array_ok(mbnn_rd32(e + MBNN_LAYER_OFF_META), 2u * MBNN_META_ENTRIES, table_end,
                                      total))) {
            return MBNN_ERR_BAD_OFFSET;
        }
    }
    if (reh_count > 0u) {
        /* the rehearsal samples (n_inputs of layer 0's map each; count and
         * n_inputs are at most 65535: the product fits) and labels */
        mbnn_read_geom(b + MBNN_HEADER_SIZE, version, &g);
        if (memory > MBNN_MEMORY_BYTES_MAX / (g.in_c * g.in_h * g.in_w)) {
            return MBNN_ERR_BAD_HEADER; /* the memory's rows would not fit in an arena */
        }
        if (!mbnn_array_ok(reh_x, reh_count * (g.in_c * g.in_h * g.in_w), table_end, total) ||
            !mbnn_array_ok(reh_labels, 2u * reh_count, table_end, total)) {
            return MBNN_ERR_BAD_OFFSET;
        }
    }
    /* The arrays are valid: bind them. */
    memset(model, 0, sizeof(*model));
    model->blob = b;
    model->blob_crc = mbnn_rd32(b + MBNN_HDR_CRC32);
    model->seed = mbnn_rd32(b + MBNN_HDR_SEED);
    model->zero_point = (int8_t)((int)b[MBNN_HDR_INPUT_ZERO_POINT] - ((b[MBNN_HDR_INPUT_ZERO_POINT] & 0x80u) ? 256 : 0));
    model->out_frac_bits = (uint8_t)frac;
    model->rms_shift = (uint8_t)rms_shift;
    model->n_layers = (uint8_t)n_layers;
    base = 0;
    for (l = 0; l < n_layers; l++) {
        const uint8_t *e = b + MBNN_HEADER_SIZE + esize * l;
        mbnn_layer *L = &model->layers[l];
        uint32_t off_params = mbnn_rd32(e + MBNN_LAYER_OFF_PARAMS);
        L->input_kind = e[MBNN_LAYER_INPUT_KIND];
        L->learns = (uint8_t)(e[MBNN_LAYER_FLAGS] & MBNN_FLAG_LEARNS);
        L->bwd_shift = e[MBNN_LAYER_BWD_SHIFT];
        L->n_in = (uint16_t)mbnn_rd16(e + MBNN_LAYER_N_IN);
        L->n_out = (uint16_t)mbnn_rd16(e + MBNN_LAYER_N_OUT);
        mbnn_read_geom(e, version, &g);
        L->words = (uint16_t)mbnn_row_words(&g);
        mbnn_bind_geom(L, &g);
        L->lr_q16 = mbnn_rd32(e + MBNN_LAYER_LR_Q16);
        L->base = base;
        base += (uint32_t)L->n_out * L->n_in;
        L->bits = (const uint32_t *)(const void *)(b + mbnn_rd32(e + MBNN_LAYER_OFF_BITS));
        L->p0 = (const int32_t *)(const void *)(b + off_params);
        L->p1 = L->p0 + L->n_out;
        L->p2 = (l + 1u == n_layers) ? NULL : L->p1 + L->n_out;
        L->gscale = (const int32_t *)(const void *)(b + mbnn_rd32(e + MBNN_LAYER_OFF_GSCALE));
        if (L->learns) {
            /* Read-only until mbnn_model_init copies it into the arena. */
            L->hidden = NULL;
            L->meta = (const uint16_t *)(const void *)(b + mbnn_rd32(e + MBNN_LAYER_OFF_META));
        }
    }
    model->n_inputs = (uint16_t)(model->layers[0].in_c * model->layers[0].in_h * model->layers[0].in_w);
    model->n_classes = model->layers[n_layers - 1u].n_out;
    if (reh_count > 0u) {
        model->rehearsal_count = reh_count;
        model->rehearsal_x = (const int8_t *)(const void *)(b + reh_x);
        model->rehearsal_labels = (const uint16_t *)(const void *)(b + reh_labels);
        model->memory_slots = memory;
    }
    /* 9: table values, and bits == sign(hidden) for layers that learn. */
    for (l = 0; l < n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        uint32_t i, j;
        for (i = 0; i < L->n_out; i++) {
            if (L->gscale[i] < -MBNN_GSCALE_MAX || L->gscale[i] > MBNN_GSCALE_MAX) {
                return MBNN_ERR_BAD_WEIGHTS;
            }
        }
        if (!L->learns) {
            continue;
        }
        for (i = 0; i < MBNN_META_ENTRIES; i++) {
            if (L->meta[i] > MBNN_META_MAX) {
                return MBNN_ERR_BAD_WEIGHTS;
            }
        }
        {
            const int8_t *h = mbnn_blob_hidden(model, l);
            for (i = 0; i < L->n_out; i++) {
                const uint32_t *row = L->bits + (size_t)i * L->words;
                for (j = 0; j < L->n_in; j++) {
                    uint32_t pos = mbnn_i_weight_bit(L, j);
                    uint32_t bit = (row[pos / 32u] >> (pos % 32u)) & 1u;
                    if (bit != (h[(size_t)i * L->n_in + j] < 0 ? 1u : 0u)) {
                        return MBNN_ERR_BAD_WEIGHTS;
                    }
                }
            }
        }
    }
    /* 9 (version 3): every rehearsal label is a class, so rehearsing never fails. */
    for (l = 0; l < model->rehearsal_count; l++) {
        if (model->rehearsal_labels[l] >= model->n_classes) {
            return MBNN_ERR_BAD_WEIGHTS;
        }
    }
    return MBNN_OK;
}

static int mbnn_any_learns(const mbnn_model *model)
{
    uint32_t l;
    for (l = 0; l < model->n_layers; l++) {
        if (model->layers[l].learns) {
            return 1;
        }
    }
    return 0;
}

/* The scratch layout (the header comment): its size, and, when s is not
 * NULL, the parts' pointers from base. */
/* Outputs of a layer (a conv layer: n_out * out_h * out_w, after pooling). */
static uint32_t mbnn_outputs(const mbnn_layer *L)
{
    return (uint32_t)L->n_out * mbnn_i_out_h(L) * mbnn_i_out_w(L);
}

static size_t mbnn_layout(const mbnn_model *model, int learn, uint8_t *base, mbnn_scratch *s)
{
    size_t off = 4u * (size_t)model->n_classes, table = 0, shared;
    uint32_t l, max_words = 0, err_width = 0, lowest = model->n_layers;

    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        max_words = mbnn_i_in_words(L) > max_words ? mbnn_i_in_words(L) : max_words;
        lowest = (L->learns && lowest == model->n_layers) ? l : lowest;
        /* Errors exist at the outputs of the layers from the lowest that
         * learns up (their inputs are the outputs of the layer below). */
        if (lowest < model->n_layers && mbnn_outputs(L) > err_width) {
            err_width = mbnn_outputs(L);
        }
    }
    if (model->layers[0].input_kind == MBNN_KIND_INT8 && model->layers[0].op == MBNN_OP_DENSE) {
        /* the partial-sum tables of a dense layer 0 */
        table = mbnn_i_int8_table_size(model->layers[0].n_in, model->layers[0].n_out);
    }
    for (l = 0; l < model->n_layers && model->layers[l].op != MBNN_OP_DENSE; l++) {
        /* the room of the optimized kernel of each conv layer (one at a time; they come first) */
        const mbnn_layer *L = &model->layers[l];
        size_t conv = L->op == MBNN_OP_DENSE ? 0u
                                              : mbnn_i_conv_scratch_size(L, l == 0u && L->input_kind == MBNN_KIND_INT8);
        table = conv > table ? conv : table;
    }
    if (s != NULL) {
        memset(s, 0, sizeof(*s));
        s->logits = (int32_t *)(void *)base;
    }
    if (!learn) {
        if (s != NULL) {
            s->act[0] = (uint32_t *)(void *)(base + off);
            s->act[1] = (uint32_t *)(void *)(base + off + 4u * (size_t)max_words);
            s->table = (int16_t *)(void *)(base + off + 8u * (size_t)max_words);
        }
        return off + 8u * (size_t)max_words + table;
    }
    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        if (s != NULL) {
            s->in_bits[l] = (uint32_t *)(void *)(base + off);
        }
        off += 4u * (size_t)mbnn_i_in_words(L);
        if (l + 1u < model->n_layers) {
            if (s != NULL) {
                s->window[l] = (uint32_t *)(void *)(base + off);
            }
            off += 4u * (size_t)mbnn_words(mbnn_outputs(L));
            if (L->op != MBNN_OP_DENSE && L->pool > 1u) {
                if (s != NULL) {
                    s->arg[l] = base + off;
                }
                off += mbnn_pad4(mbnn_outputs(L));
            }
        }
    }
    if (model->layers[0].op != MBNN_OP_DENSE) { /* conv layers come first */
        if (s != NULL) {
            s->conv_work = (int32_t *)(void *)(base + off);
        }
        off += 4u * MBNN_CONV_WORK;
    }
    /* The table is used in the forward pass only, the errors after it. */
    shared = 8u * (size_t)err_width > table ? 8u * (size_t)err_width : table;
    if (s != NULL) {
        s->err[0] = (int32_t *)(void *)(base + off);
        s->err[1] = (int32_t *)(void *)(base + off + 4u * (size_t)err_width);
        s->table = (int16_t *)(void *)(base + off);
    }
    return off + shared;
}

void mbnn_i_scratch_map(const mbnn_model *model, mbnn_scratch *s)
{
    (void)mbnn_layout(model, model->can_learn, model->scratch, s);
}

/* The arena plan (the layout at the top of this file): the learning arrays of
 * every layer that learns (learn only), then the scratch. Returns the bytes
 * of the whole arena. With base != NULL it also points the layers' learning
 * arrays and model->scratch into base. The size query and mbnn_model_init both
 * call it, so they cannot disagree. */
static size_t mbnn_plan(mbnn_model *model, int learn, uint8_t *base)
{
    size_t off = 0;
    uint32_t l;

    for (l = 0; learn && l < model->n_layers; l++) {
        mbnn_layer *L = &model->layers[l];
        if (!L->learns) {
            continue;
        }
        size_t bits = mbnn_i_keeps_bits(L, l) ? 4u * (size_t)L->n_out * L->words : 0u;
        if (base != NULL) {
            L->bits_rw = bits != 0u ? (uint32_t *)(void *)(base + off) : NULL;
            L->rms = (uint32_t *)(void *)(base + off + bits);
            L->hidden = (int8_t *)(void *)(base + off + bits + 4u * (size_t)L->n_out);
        }
        off += bits + 4u * (size_t)L->n_out + mbnn_pad4((size_t)L->n_out * L->n_in);
    }
    if (learn && model->memory_slots > 0u) {
        size_t rows = (size_t)model->memory_slots * model->n_inputs;
        if (base != NULL) {
            model->memory_x = (int8_t *)(void *)(base + off);
            model->memory_labels = (uint16_t *)(void *)(base + off + mbnn_pad4(rows));
        }
        off += mbnn_pad4(rows) + mbnn_pad4(2u * (size_t)model->memory_slots);
    }
    if (base != NULL) {
        model->scratch = base + off;
        model->scratch_len = mbnn_layout(model, learn, NULL, NULL);
    }
    return off + mbnn_layout(model, learn, NULL, NULL);
}

mbnn_status mbnn_arena_size(const void *blob, size_t blob_len, mbnn_mode mode, size_t *arena_len)
{
    mbnn_model m;
    mbnn_status st;

    if (arena_len == NULL) {
        return MBNN_ERR_NULL;
    }
    st = mbnn_i_parse_blob(&m, blob, blob_len);
    if (st != MBNN_OK) {
        return st;
    }
    if (mode == MBNN_MODE_LEARN && !mbnn_any_learns(&m)) {
        return MBNN_ERR_NO_LEARN;
    }
    *arena_len = mbnn_plan(&m, mode == MBNN_MODE_LEARN, NULL);
    return MBNN_OK;
}

/* Bind a validated model in the given mode (learn: 0 or 1) to an arena of
 * its plan's size or more: carve the arena, copy what learning changes. */
static void mbnn_bind(mbnn_model *model, int learn, uint8_t *arena)
{
    uint32_t l;

    model->can_learn = (uint8_t)learn;
    (void)mbnn_plan(model, learn, arena);
    for (l = 0; learn && l < model->n_layers; l++) {
        mbnn_layer *L = &model->layers[l];
        size_t n_weights = (size_t)L->n_out * L->n_in;
        if (!L->learns) {
            continue;
        }
        if (L->bits_rw != NULL) {
            memcpy(L->bits_rw, L->bits, 4u * (size_t)L->n_out * L->words);
        }
        L->bits = L->bits_rw; /* NULL: the signs are the hidden weights' (mbnn_i_keeps_bits) */
        memset(L->rms, 0, 4u * (size_t)L->n_out);
        memcpy(L->hidden, mbnn_blob_hidden(model, l), n_weights);
        memset(L->hidden + n_weights, 0, mbnn_pad4(n_weights) - n_weights);
    }
    if (learn && model->memory_slots > 0u) { /* an empty memory */
        memset(model->memory_x, 0, (size_t)model->memory_slots * model->n_inputs);
        memset(model->memory_labels, 0, 2u * (size_t)model->memory_slots);
    }
    model->memory_seen = 0;
    model->step = 0;
}

/* mbnn_model_init and mbnn_model_init_mode; mode < 0: learn when the arena allows. */
static mbnn_status mbnn_init(mbnn_model *model, const void *blob, size_t blob_len, void *arena,
                             size_t arena_len, int mode)
{
    mbnn_status st;
    int learn = 0;

    if (model == NULL) {
        return MBNN_ERR_NULL;
    }
    st = mbnn_i_parse_blob(model, blob, blob_len);
    if (st == MBNN_OK && arena == NULL) {
        st = MBNN_ERR_NULL;
    }
    if (st == MBNN_OK && ((uintptr_t)arena % 4u) != 0u) {
        st = MBNN_ERR_ALIGN;
    }
    if (st == MBNN_OK && mode == MBNN_MODE_LEARN && !mbnn_any_learns(model)) {
        st = MBNN_ERR_NO_LEARN;
    }
    if (st == MBNN_OK) {
        learn = mode == MBNN_MODE_LEARN ||
                (mode < 0 && mbnn_any_learns(model) && arena_len >= mbnn_plan(model, 1, NULL));
        if (arena_len < mbnn_plan(model, learn, NULL)) {
            st = MBNN_ERR_ARENA_TOO_SMALL;
        }
    }
    if (st != MBNN_OK) {
        memset(model, 0, sizeof(*model));
        return st;
    }
    mbnn_bind(model, learn, (uint8_t *)arena);
    return MBNN_OK;
}

mbnn_status mbnn_model_init(mbnn_model *model, const void *blob, size_t blob_len, void *arena,
                            size_t arena_len)
{
    return mbnn_init(model, blob, blob_len, arena, arena_len, -1);
}

mbnn_status mbnn_model_init_mode(mbnn_model *model, const void *blob, size_t blob_len, void *arena,
                                 size_t arena_len, mbnn_mode mode)
{
    return mbnn_init(model, blob, blob_len, arena, arena_len, mode == MBNN_MODE_LEARN ? MBNN_MODE_LEARN : MBNN_MODE_INFER);
}
