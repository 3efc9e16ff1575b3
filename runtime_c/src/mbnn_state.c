/*
 * Learned state (docs/FORMAT.md "Learned state"): save and load the hidden
 * weights, the running mean squares, the step count and the memory.
 *
 * Everything goes through one streaming cursor (mbnn_state_stream): a chunk of
 * the state at any offset is produced straight from the model or written
 * straight into it, so no buffer of the state's size is ever needed. The
 * whole-buffer mbnn_state_save / _load are one chunk of it; loading runs a
 * check pass over the bytes before the pass that changes the model.
 */
#include <string.h>

#include "mbnn_internal.h"


/* Bytes of the memory section (version 2): seen, the rows, the labels, each
 * padded to 4; 0 without memory slots. */
static size_t mbnn_memory_bytes(const mbnn_model *model)
{
    size_t rows = (size_t)model->memory_slots * model->n_inputs;
    return model->memory_slots == 0u ? 0u : 4u + ((rows + 3u) & ~(size_t)3u) + 4u * (((size_t)model->memory_slots + 1u) / 2u);
}

static size_t mbnn_state_bytes(const mbnn_model *model, uint32_t *n_learning)
{
    size_t size = MBNN_STATE_HEADER_SIZE;
    uint32_t l, n = 0;
    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        if (L->learns) {
            size_t weights = (size_t)L->n_out * L->n_in;
            size += ((weights + 3u) & ~(size_t)3u) + 4u * (size_t)L->n_out;
            n++;
        }
    }
    if (n_learning != NULL) {
        *n_learning = n;
    }
    return size + mbnn_memory_bytes(model);
}

/* A model that can learn, and a non-NULL pointer argument (checked first). */
static mbnn_status mbnn_state_args(const mbnn_model *model, const void *arg)
{
    if (model == NULL || arg == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    return model->can_learn ? MBNN_OK : MBNN_ERR_NO_LEARN;
}

static mbnn_status mbnn_state_usable(const mbnn_model *model)
{
    if (model == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    return model->can_learn ? MBNN_OK : MBNN_ERR_NO_LEARN;
}

mbnn_status mbnn_state_size(const mbnn_model *model, size_t *size)
{
    mbnn_status status = mbnn_state_args(model, size);
    if (status == MBNN_OK) {
        *size = mbnn_state_bytes(model, NULL);
    }
    return status;
}

/* The memory section from offset base: seen (u32), the rows (padded to 4),
 * the labels (u16, padded to 4), all little-endian; bytes [pos, end) of it
 * copied out of the model into out (indexed from end - len, as in
 * mbnn_state_body) or from in into the model's rows and labels and into
 * load->seen (mbnn_state_load_end sets the model's). load->bad is set when a
 * label read is not below n_classes (0 is written instead). */
static void mbnn_state_memory(const mbnn_model *model, size_t base, size_t pos, size_t end, size_t len,
                              uint8_t *out, const uint8_t *in, mbnn_state_stream *load)
{
    size_t rows = (size_t)model->memory_slots * model->n_inputs;
    size_t x_at = base + 4u, labels_at = x_at + ((rows + 3u) & ~(size_t)3u);

    for (; pos < end; pos++) {
        uint8_t *o = out != NULL ? &out[pos + len - end] : NULL;
        uint8_t b = out != NULL ? 0u : in[pos + len - end];
        if (pos < x_at) {
            unsigned shift = 8u * (unsigned)(pos - base);
            if (o != NULL) {
                *o = (uint8_t)((model->memory_seen >> shift) & 0xFFu);
            } else {
                load->seen = (load->seen & ~(0xFFu << shift)) | ((uint32_t)b << shift);
            }
        } else if (pos < labels_at) {
            if (pos - x_at < rows) {
                if (o != NULL) {
                    *o = (uint8_t)model->memory_x[pos - x_at];
                } else {
                    model->memory_x[pos - x_at] = (int8_t)b;
                }
            } else if (o != NULL) {
                *o = 0;
            }
        } else if ((pos - labels_at) / 2u < model->memory_slots) {
            size_t r = (pos - labels_at) / 2u;
            unsigned shift = 8u * (unsigned)((pos - labels_at) % 2u);
            if (o != NULL) {
                *o = (uint8_t)(((uint32_t)model->memory_labels[r] >> shift) & 0xFFu);
            } else {
                /* Gathered in load->part and written whole, a bad one as 0:
                 * even an applying pass cut short (or fed other bytes than
                 * its check pass) never leaves a label that is not a class. */
                load->part = (load->part & ~(0xFFu << shift)) | ((uint32_t)b << shift);
                if (shift == 8u) {
                    uint32_t label = load->part & 0xFFFFu;
                    if (label >= model->n_classes) {
                        load->bad = 1;
                        label = 0u;
                    }
                    model->memory_labels[r] = (uint16_t)label;
                }
            }
        } else if (o != NULL) {
            *o = 0;
        }
    }
}

/* The body (offsets from 32 on) as a walk over the learning layers: for each,
 * hidden[n_out * n_in], zero padding to 4, rms[n_out] little-endian; then the
 * memory section (mbnn_state_memory). Bytes [pos, pos + len) of the body are
 * copied out of the model into out, or (when out is NULL) from in into the
 * model, the binary weights following the signs, for the applying pass load.
 * load->bad is set when an rms value written is above 2^30 or a memory label
 * not below n_classes (in may hold part of a value: it is judged when its
 * last byte comes). */
static void mbnn_state_body(const mbnn_model *model, size_t pos, size_t len, uint8_t *out,
                            const uint8_t *in, mbnn_state_stream *load)
{
    size_t base = MBNN_STATE_HEADER_SIZE, end = pos + len;
    uint32_t l;

    for (l = 0; l < model->n_layers && pos < end; l++) {
        const mbnn_layer *L = &model->layers[l];
        size_t weights = (size_t)L->n_out * L->n_in;
        size_t padded = (weights + 3u) & ~(size_t)3u;
        size_t rms_at = base + padded, next = rms_at + 4u * (size_t)L->n_out;
        if (!L->learns) {
            continue;
        }
        for (; pos < end && pos < next; pos++) {
            size_t k = pos - base;
            if (pos < base + weights) {
                if (out != NULL) {
                    out[pos + len - end] = (uint8_t)L->hidden[k];
                } else {
                    uint8_t b = in[pos + len - end];
                    uint32_t i = (uint32_t)(k / L->n_in), j = (uint32_t)(k % L->n_in);
                    uint32_t bitpos = mbnn_i_weight_bit(L, j);
                    L->hidden[k] = (int8_t)b;
                    if (L->bits_rw != NULL) { /* else the signs are the hidden weights' */
                        uint32_t *word = L->bits_rw + (size_t)i * L->words + bitpos / 32u;
                        uint32_t bit = 1u << (bitpos % 32u);
                        *word = (b & 0x80u) != 0u ? (*word | bit) : (*word & ~bit);
                    }
                }
            } else if (pos < rms_at) {
                if (out != NULL) {
                    out[pos + len - end] = 0;
                }
            } else {
                size_t r = (pos - rms_at) / 4u;
                unsigned shift = 8u * (unsigned)((pos - rms_at) % 4u);
                if (out != NULL) {
                    out[pos + len - end] = (uint8_t)((L->rms[r] >> shift) & 0xFFu);
                } else {
                    uint32_t v = (L->rms[r] & ~(0xFFu << shift)) |
                                 ((uint32_t)in[pos + len - end] << shift);
                    L->rms[r] = v;
                    if (shift == 24u && v > MBNN_RMS_MAX) {
                        load->bad = 1;
                    }
                }
            }
        }
        base = next;
    }
    if (pos < end && model->memory_slots > 0u) {
        mbnn_state_memory(model, base, pos, end, len, out, in, load);
    }
}

/* The same walk for a check pass: rms values and memory labels judged without
 * touching the model. */
static void mbnn_state_check_body(const mbnn_model *model, mbnn_state_stream *s, const uint8_t *in,
                                  size_t len)
{
    size_t base = MBNN_STATE_HEADER_SIZE, pos = s->pos, end = pos + len;
    uint32_t l;

    for (l = 0; l < model->n_layers && pos < end; l++) {
        const mbnn_layer *L = &model->layers[l];
        size_t rms_at = base + (((size_t)L->n_out * L->n_in + 3u) & ~(size_t)3u);
        size_t next = rms_at + 4u * (size_t)L->n_out;
        if (!L->learns) {
            continue;
        }
        if (pos < rms_at) {
            pos = rms_at < end ? rms_at : end;
        }
        /* A value may straddle two chunks: its bytes gather in s->part. */
        for (; pos < end && pos < next; pos++) {
            unsigned shift = 8u * (unsigned)((pos - rms_at) % 4u);
            s->part = (s->part & ~(0xFFu << shift)) | ((uint32_t)in[pos + len - end] << shift);
            if (shift == 24u && s->part > MBNN_RMS_MAX) {
                s->bad = 1;
            }
        }
        base = next;
    }
    if (model->memory_slots > 0u) {
        size_t rows = (size_t)model->memory_slots * model->n_inputs;
        size_t labels_at = base + 4u + ((rows + 3u) & ~(size_t)3u);
        size_t labels_end = labels_at + 2u * (size_t)model->memory_slots;
        if (pos < labels_at) {
            pos = labels_at < end ? labels_at : end;
        }
        /* A label may straddle two chunks too. */
        for (; pos < end && pos < labels_end; pos++) {
            unsigned shift = 8u * (unsigned)((pos - labels_at) % 2u);
            s->part = (s->part & ~(0xFFu << shift)) | ((uint32_t)in[pos + len - end] << shift);
            if (shift == 8u && (s->part & 0xFFFFu) >= model->n_classes) {
                s->bad = 1;
            }
        }
    }
}

static void mbnn_state_header(const mbnn_model *model, const mbnn_state_stream *s, uint8_t *h)
{
    uint32_t n_learning;
    (void)mbnn_state_bytes(model, &n_learning);
    memcpy(h + MBNN_ST_MAGIC, "MBST", 4);
    mbnn_wr32(h + MBNN_ST_VERSION, model->memory_slots > 0u ? 2u : 1u);
    mbnn_wr32(h + MBNN_ST_TOTAL_SIZE, s->size);
    mbnn_wr32(h + MBNN_ST_CRC32, s->crc);
    mbnn_wr32(h + MBNN_ST_MODEL_CRC, model->blob_crc);
    mbnn_wr32(h + MBNN_ST_STEP, model->step);
    mbnn_wr32(h + MBNN_ST_N_LEARNING_LAYERS, n_learning);
    mbnn_wr32(h + MBNN_ST_RESERVED, 0);
}

mbnn_status mbnn_state_save_begin(const mbnn_model *model, mbnn_state_stream *s)
{
    uint8_t chunk[64];
    size_t pos;
    mbnn_status status = mbnn_state_usable(model);

    if (status == MBNN_OK && s == NULL) {
        status = MBNN_ERR_NULL;
    }
    if (status != MBNN_OK) {
        return status;
    }
    memset(s, 0, sizeof(*s));
    s->size = (uint32_t)mbnn_state_bytes(model, NULL);
    mbnn_state_header(model, s, chunk);
    s->crc = mbnn_crc32(0, chunk + MBNN_CRC_START, MBNN_STATE_HEADER_SIZE - MBNN_CRC_START);
    for (pos = MBNN_STATE_HEADER_SIZE; pos < s->size; pos += sizeof(chunk)) {
        size_t n = s->size - pos < sizeof(chunk) ? s->size - pos : sizeof(chunk);
        mbnn_state_body(model, pos, n, chunk, NULL, NULL);
        s->crc = mbnn_crc32(s->crc, chunk, n);
    }
    return MBNN_OK;
}

mbnn_status mbnn_state_save_next(const mbnn_model *model, mbnn_state_stream *s, void *dst,
                                 size_t len, size_t *produced)
{
    uint8_t *out = (uint8_t *)dst;
    size_t n, done = 0;
    mbnn_status status = mbnn_state_usable(model);

    if (status == MBNN_OK && (s == NULL || (dst == NULL && len > 0u))) {
        status = MBNN_ERR_NULL;
    }
    if (status != MBNN_OK) {
        return status;
    }
    n = s->size - s->pos < len ? s->size - s->pos : len;
    if (s->pos < MBNN_STATE_HEADER_SIZE && n > 0u) {
        uint8_t h[MBNN_STATE_HEADER_SIZE];
        done = MBNN_STATE_HEADER_SIZE - s->pos < n ? MBNN_STATE_HEADER_SIZE - s->pos : n;
        mbnn_state_header(model, s, h);
        memcpy(out, h + s->pos, done);
    }
    mbnn_state_body(model, s->pos + done, n - done, out + done, NULL, NULL);
    s->pos += (uint32_t)n;
    if (produced != NULL) {
        *produced = n;
    }
    return MBNN_OK;
}

mbnn_status mbnn_state_load_begin(const mbnn_model *model, mbnn_state_stream *s, int apply)
{
    mbnn_status status = mbnn_state_usable(model);
    if (status == MBNN_OK && s == NULL) {
        status = MBNN_ERR_NULL;
    }
    if (status == MBNN_OK) {
        memset(s, 0, sizeof(*s));
        s->apply = apply ? 1u : 0u;
    }
    return status;
}

/* The checks that need only the header, changing nothing: a damaged header is
 * MBNN_ERR_STATE_CORRUPT at once; the model checks wait for the CRC (an intact
 * state of another model is MBNN_ERR_STATE_MODEL, a damaged one CORRUPT). */
static mbnn_status mbnn_state_head_check(const mbnn_state_stream *s)
{
    uint32_t total = mbnn_rd32(s->head + MBNN_ST_TOTAL_SIZE);
    uint32_t version = mbnn_rd32(s->head + MBNN_ST_VERSION);
    if (memcmp(s->head + MBNN_ST_MAGIC, "MBST", 4) != 0 || version < 1u || version > MBNN_STATE_VERSION ||
        total < MBNN_STATE_HEADER_SIZE) {
        return MBNN_ERR_STATE_CORRUPT;
    }
    return MBNN_OK;
}

static int mbnn_state_is_model(const mbnn_model *model, const uint8_t *head)
{
    uint32_t n_learning;
    size_t size = mbnn_state_bytes(model, &n_learning);
    return mbnn_rd32(head + MBNN_ST_MODEL_CRC) == model->blob_crc && (size_t)mbnn_rd32(head + MBNN_ST_TOTAL_SIZE) == size &&
           mbnn_rd32(head + MBNN_ST_N_LEARNING_LAYERS) == n_learning &&
           mbnn_rd32(head + MBNN_ST_VERSION) == (model->memory_slots > 0u ? 2u : 1u);
}

/* mbnn_state_load_next for any pass: a check pass changes nothing, and an
 * applying pass writes only through the layers' pointers. */
static mbnn_status mbnn_state_feed(const mbnn_model *model, mbnn_state_stream *s, const void *src,
                                   size_t len)
{
    const uint8_t *in = (const uint8_t *)src;
    mbnn_status status = mbnn_state_usable(model);

    if (status == MBNN_OK && (s == NULL || (src == NULL && len > 0u))) {
        status = MBNN_ERR_NULL;
    }
    if (status != MBNN_OK) {
        return status;
    }
    if (s->pos < MBNN_STATE_HEADER_SIZE) {
        size_t n = MBNN_STATE_HEADER_SIZE - s->pos < len ? MBNN_STATE_HEADER_SIZE - s->pos : len;
        memcpy(s->head + s->pos, in, n);
        s->pos += (uint32_t)n;
        in += n;
        len -= n;
        if (s->pos < MBNN_STATE_HEADER_SIZE) {
            return MBNN_OK;
        }
        status = mbnn_state_head_check(s);
        if (status != MBNN_OK) {
            return status;
        }
        s->size = mbnn_rd32(s->head + MBNN_ST_TOTAL_SIZE);
        s->crc = mbnn_crc32(0, s->head + MBNN_CRC_START, MBNN_STATE_HEADER_SIZE - MBNN_CRC_START);
        /* An applying pass writes only a state laid out as this model's. */
        if (s->apply != 0u && !mbnn_state_is_model(model, s->head)) {
            return MBNN_ERR_STATE_MODEL;
        }
    }
    if (len > (size_t)(s->size - s->pos)) {
        return MBNN_ERR_STATE_CORRUPT; /* more bytes than the state holds */
    }
    s->crc = mbnn_crc32(s->crc, in, len);
    if (mbnn_state_is_model(model, s->head)) {
        if (s->apply != 0u) {
            mbnn_state_body(model, s->pos, len, NULL, in, s);
        } else {
            mbnn_state_check_body(model, s, in, len);
        }
    }
    s->pos += (uint32_t)len;
    return MBNN_OK;
}

mbnn_status mbnn_state_load_next(mbnn_model *model, mbnn_state_stream *s, const void *src,
                                 size_t len)
{
    return mbnn_state_feed(model, s, src, len);
}

/* mbnn_state_load_end without setting the step. */
static mbnn_status mbnn_state_verdict(const mbnn_model *model, const mbnn_state_stream *s)
{
    mbnn_status status = mbnn_state_usable(model);

    if (status == MBNN_OK && s == NULL) {
        status = MBNN_ERR_NULL;
    }
    if (status != MBNN_OK) {
        return status;
    }
    /* Short, damaged, another model's, then values (docs/FORMAT.md). */
    if (s->pos < MBNN_STATE_HEADER_SIZE || s->pos != s->size ||
        s->crc != mbnn_rd32(s->head + MBNN_ST_CRC32)) {
        return MBNN_ERR_STATE_CORRUPT;
    }
    if (!mbnn_state_is_model(model, s->head)) {
        return MBNN_ERR_STATE_MODEL;
    }
    if (mbnn_rd32(s->head + MBNN_ST_RESERVED) != 0u || s->bad != 0u) {
        return MBNN_ERR_STATE_CORRUPT; /* reserved word not 0, an rms above 2^30 or a bad memory label */
    }
    return MBNN_OK;
}

mbnn_status mbnn_state_load_end(mbnn_model *model, mbnn_state_stream *s)
{
    mbnn_status status = mbnn_state_verdict(model, s);
    if (status == MBNN_OK && s->apply != 0u) {
        model->step = mbnn_rd32(s->head + MBNN_ST_STEP);
        model->memory_seen = s->seen;
    }
    return status;
}

mbnn_status mbnn_state_save(const mbnn_model *model, void *buf, size_t buf_len)
{
    mbnn_state_stream s;
    mbnn_status status = mbnn_state_args(model, buf);

    if (status == MBNN_OK && buf_len < mbnn_state_bytes(model, NULL)) {
        status = MBNN_ERR_BUFFER_TOO_SMALL;
    }
    if (status == MBNN_OK) {
        status = mbnn_state_save_begin(model, &s);
    }
    if (status == MBNN_OK) {
        status = mbnn_state_save_next(model, &s, buf, s.size, NULL);
    }
    return status;
}

/* A check pass over a whole buffer, changing nothing. */
static mbnn_status mbnn_state_check_pass(const mbnn_model *model, const uint8_t *p, size_t total)
{
    mbnn_state_stream s;
    mbnn_status status = mbnn_state_load_begin(model, &s, 0);
    if (status == MBNN_OK) {
        status = mbnn_state_feed(model, &s, p, total);
    }
    if (status == MBNN_OK) {
        status = mbnn_state_verdict(model, &s);
    }
    return status;
}

/* Every check of a saved state in a buffer against this model, changing nothing;
 * *total receives the state's size. */
static mbnn_status mbnn_state_check(const mbnn_model *model, const uint8_t *p, size_t buf_len,
                                    size_t *total)
{
    mbnn_status status = mbnn_state_args(model, p);
    if (status != MBNN_OK) {
        return status;
    }
    if (buf_len < MBNN_STATE_HEADER_SIZE || mbnn_rd32(p + MBNN_ST_TOTAL_SIZE) > buf_len) {
        return MBNN_ERR_STATE_CORRUPT;
    }
    *total = mbnn_rd32(p + MBNN_ST_TOTAL_SIZE);
    return mbnn_state_check_pass(model, p, *total);
}

mbnn_status mbnn_state_pick(const mbnn_model *model, const void *slot_a, size_t len_a,
                            const void *slot_b, size_t len_b, unsigned *slot)
{
    mbnn_status a, b;
    size_t total;

    if (model == NULL || slot == NULL) {
        return MBNN_ERR_NULL;
    }
    a = slot_a == NULL ? MBNN_ERR_STATE_CORRUPT : mbnn_state_check(model, (const uint8_t *)slot_a, len_a, &total);
    b = slot_b == NULL ? MBNN_ERR_STATE_CORRUPT : mbnn_state_check(model, (const uint8_t *)slot_b, len_b, &total);
    if (a != MBNN_OK && b != MBNN_OK) {
        return a;
    }
    if (a == MBNN_OK && b == MBNN_OK) {
        /* Serial number arithmetic (RFC 1982): b is newer when b - a, taken
         * mod 2^32, lies in 1 .. 2^31 - 1; at exactly 2^31 (undefined there)
         * the larger raw step, so the answer does not depend on the order. */
        uint32_t sa = mbnn_rd32((const uint8_t *)slot_a + MBNN_ST_STEP);
        uint32_t sb = mbnn_rd32((const uint8_t *)slot_b + MBNN_ST_STEP);
        uint32_t diff = sb - sa;
        *slot = (diff != 0u && (diff < 0x80000000u || (diff == 0x80000000u && sb > sa))) ? 1u : 0u;
    } else {
        *slot = a == MBNN_OK ? 0u : 1u;
    }
    return MBNN_OK;
}

mbnn_status mbnn_state_load(mbnn_model *model, const void *buf, size_t buf_len)
{
    size_t total = 0;
    mbnn_status status = mbnn_state_check(model, (const uint8_t *)buf, buf_len, &total);
    if (status == MBNN_OK) {
        /* All checked: replace the state, and the binary weights with its signs. */
        mbnn_state_stream s;
        status = mbnn_state_load_begin(model, &s, 1);
        if (status == MBNN_OK) {
            status = mbnn_state_load_next(model, &s, buf, total);
        }
        if (status == MBNN_OK) {
            status = mbnn_state_load_end(model, &s);
        }
    }
    return status;
}
