/*
 * Learned state (docs/FORMAT.md "Learned state"): save and load the hidden
 * weights, the running mean squares and the step count. Loading checks the
 * whole buffer before it changes anything.
 */
#include <string.h>

#include "mbnn_internal.h"

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
    return size;
}

mbnn_status mbnn_state_size(const mbnn_model *model, size_t *size)
{
    if (model == NULL || size == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    if (!model->can_learn) {
        return MBNN_ERR_NO_LEARN;
    }
    *size = mbnn_state_bytes(model, NULL);
    return MBNN_OK;
}

mbnn_status mbnn_state_save(const mbnn_model *model, void *buf, size_t buf_len)
{
    uint8_t *p = (uint8_t *)buf;
    size_t size, pos = MBNN_STATE_HEADER_SIZE;
    uint32_t l, i, n_learning;

    if (model == NULL || buf == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    if (!model->can_learn) {
        return MBNN_ERR_NO_LEARN;
    }
    size = mbnn_state_bytes(model, &n_learning);
    if (buf_len < size) {
        return MBNN_ERR_BUFFER_TOO_SMALL;
    }
    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        size_t weights = (size_t)L->n_out * L->n_in;
        if (!L->learns) {
            continue;
        }
        memcpy(p + pos, L->hidden, weights);
        pos += weights;
        while (pos % 4u != 0u) {
            p[pos++] = 0;
        }
        for (i = 0; i < L->n_out; i++) {
            mbnn_wr32(p + pos, L->rms[i]);
            pos += 4;
        }
    }
    memcpy(p + MBNN_ST_MAGIC, "MBST", 4);
    mbnn_wr32(p + MBNN_ST_VERSION, MBNN_STATE_VERSION);
    mbnn_wr32(p + MBNN_ST_TOTAL_SIZE, (uint32_t)size);
    mbnn_wr32(p + MBNN_ST_MODEL_CRC, model->blob_crc);
    mbnn_wr32(p + MBNN_ST_STEP, model->step);
    mbnn_wr32(p + MBNN_ST_N_LEARNING_LAYERS, n_learning);
    mbnn_wr32(p + MBNN_ST_RESERVED, 0);
    mbnn_wr32(p + MBNN_ST_CRC32, mbnn_crc32(0, p + MBNN_CRC_START, size - MBNN_CRC_START));
    return MBNN_OK;
}

/* Every check of a saved state against this model, changing nothing. */
static mbnn_status mbnn_state_check(const mbnn_model *model, const uint8_t *p, size_t buf_len)
{
    size_t size, pos;
    uint32_t total, l, i, n_learning;

    if (model == NULL || p == NULL || model->blob == NULL) {
        return MBNN_ERR_NULL;
    }
    if (!model->can_learn) {
        return MBNN_ERR_NO_LEARN;
    }
    size = mbnn_state_bytes(model, &n_learning);
    /* Size, magic, version, CRC: a damaged buffer. */
    if (buf_len < MBNN_STATE_HEADER_SIZE || memcmp(p + MBNN_ST_MAGIC, "MBST", 4) != 0 ||
        mbnn_rd32(p + MBNN_ST_VERSION) != MBNN_STATE_VERSION) {
        return MBNN_ERR_STATE_CORRUPT;
    }
    total = mbnn_rd32(p + MBNN_ST_TOTAL_SIZE);
    if (total < MBNN_STATE_HEADER_SIZE || (size_t)total > buf_len) {
        return MBNN_ERR_STATE_CORRUPT;
    }
    if (mbnn_crc32(0, p + MBNN_CRC_START, total - MBNN_CRC_START) != mbnn_rd32(p + MBNN_ST_CRC32)) {
        return MBNN_ERR_STATE_CORRUPT;
    }
    /* An intact state of another model (or of this blob's shape but another
     * choice of learning layers). */
    if (mbnn_rd32(p + MBNN_ST_MODEL_CRC) != model->blob_crc || (size_t)total != size ||
        mbnn_rd32(p + MBNN_ST_N_LEARNING_LAYERS) != n_learning) {
        return MBNN_ERR_STATE_MODEL;
    }
    /* Values: every rms at most 2^30. */
    pos = MBNN_STATE_HEADER_SIZE;
    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        if (!L->learns) {
            continue;
        }
        pos += ((size_t)L->n_out * L->n_in + 3u) & ~(size_t)3u;
        for (i = 0; i < L->n_out; i++) {
            if (mbnn_rd32(p + pos) > MBNN_RMS_MAX) {
                return MBNN_ERR_STATE_CORRUPT;
            }
            pos += 4;
        }
    }
    return MBNN_OK;
}

mbnn_status mbnn_state_pick(const mbnn_model *model, const void *slot_a, size_t len_a,
                            const void *slot_b, size_t len_b, unsigned *slot)
{
    mbnn_status a, b;

    if (model == NULL || slot == NULL) {
        return MBNN_ERR_NULL;
    }
    a = slot_a == NULL ? MBNN_ERR_STATE_CORRUPT : mbnn_state_check(model, (const uint8_t *)slot_a, len_a);
    b = slot_b == NULL ? MBNN_ERR_STATE_CORRUPT : mbnn_state_check(model, (const uint8_t *)slot_b, len_b);
    if (a != MBNN_OK && b != MBNN_OK) {
        return a;
    }
    if (a == MBNN_OK && b == MBNN_OK) {
        /* Serial number arithmetic (RFC 1982): b is newer when b - a, taken
         * mod 2^32, lies in 1 .. 2^31 - 1, so the step count may wrap. */
        uint32_t diff = mbnn_rd32((const uint8_t *)slot_b + MBNN_ST_STEP) -
                        mbnn_rd32((const uint8_t *)slot_a + MBNN_ST_STEP);
        *slot = (diff != 0u && diff < 0x80000000u) ? 1u : 0u;
    } else {
        *slot = a == MBNN_OK ? 0u : 1u;
    }
    return MBNN_OK;
}

mbnn_status mbnn_state_load(mbnn_model *model, const void *buf, size_t buf_len)
{
    const uint8_t *p = (const uint8_t *)buf;
    size_t pos;
    uint32_t l, i, j;
    mbnn_status status = mbnn_state_check(model, p, buf_len);

    if (status != MBNN_OK) {
        return status;
    }
    /* All checked: replace the state, and the binary weights with its signs. */
    pos = MBNN_STATE_HEADER_SIZE;
    for (l = 0; l < model->n_layers; l++) {
        const mbnn_layer *L = &model->layers[l];
        size_t weights = (size_t)L->n_out * L->n_in;
        if (!L->learns) {
            continue;
        }
        memcpy(L->hidden, p + pos, weights);
        pos += (weights + 3u) & ~(size_t)3u;
        for (i = 0; i < L->n_out; i++) {
            uint32_t *row = L->bits_rw + (size_t)i * L->words;
            const int8_t *h = L->hidden + (size_t)i * L->n_in;
            memset(row, 0, 4u * (size_t)L->words);
            for (j = 0; j < L->n_in; j++) {
                if (h[j] < 0) {
                    row[j / 32u] |= 1u << (j % 32u);
                }
            }
            L->rms[i] = mbnn_rd32(p + pos);
            pos += 4;
        }
    }
    model->step = mbnn_rd32(p + MBNN_ST_STEP);
    return MBNN_OK;
}
