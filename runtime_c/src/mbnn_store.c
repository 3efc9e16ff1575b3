/*
 * The learned state on NOR flash (docs/STORAGE.md): records with a write
 * sequence number and CRCs, rotated over the region's slots, written page by
 * page straight from the model, loaded newest intact first.
 *
 * A slot is blocks_per_slot erase blocks. A record in a slot:
 *   [0, page)        record header (one page): see mbnn_store_head
 *   [page, page + S) the learned state (docs/FORMAT.md), S bytes, then 0xFF
 * A save erases the slot after the newest intact record (first block first),
 * programs the state page by page and programs the header last: until the
 * header is whole the slot holds no valid record, and the previous record, in
 * another slot, is never touched. So a power cut at any point leaves either
 * the old newest record or the new one.
 */
#include <string.h>

#include "mbnn_internal.h"

#define MBNN_STORE_VERSION 1u
#define MBNN_STORE_HEAD 32u     /* bytes of the header that carry fields */
#define MBNN_STORE_MIN_PAGE 64u /* the page holds the header and state chunks */

/* Record header, little-endian:
 *   0 "MBSR", 4 version, 8 seq, 12 erases (region total after this record's
 *   erases), 16 state bytes, 20 crc32 of the state bytes, 24 reserved 0,
 *   28 crc32 of [0, 28). The rest of the header page stays 0xFF. */
typedef struct {
    uint32_t seq, erases, len, crc;
} mbnn_store_head;

typedef struct {
    uint32_t page, slot_bytes, slots, state_len;
} mbnn_store_layout;

static mbnn_status mbnn_store_geometry(const mbnn_model *model, const mbnn_flash *f,
                                       mbnn_store_layout *lay)
{
    size_t state_len;
    uint32_t blocks, per_slot;
    mbnn_status status;

    if (model == NULL || f == NULL || f->read == NULL || f->prog == NULL || f->erase == NULL) {
        return MBNN_ERR_NULL;
    }
    status = mbnn_state_size(model, &state_len);
    if (status != MBNN_OK) {
        return status;
    }
    if (f->prog_size == 0u || f->block_size == 0u || f->block_size % f->prog_size != 0u ||
        f->region_size % f->block_size != 0u || state_len > 0x7FFFFFFFu) {
        return MBNN_ERR_FLASH_GEOMETRY;
    }
    lay->page = (MBNN_STORE_MIN_PAGE + f->prog_size - 1u) / f->prog_size * f->prog_size;
    lay->state_len = (uint32_t)state_len;
    blocks = f->region_size / f->block_size;
    /* Header page, then the state programmed in whole pages. */
    per_slot = (uint32_t)((lay->page + (state_len + lay->page - 1u) / lay->page * lay->page +
                           f->block_size - 1u) / f->block_size);
    if (blocks / per_slot < 2u) {
        return MBNN_ERR_FLASH_GEOMETRY;
    }
    lay->slots = blocks / per_slot;
    lay->slot_bytes = per_slot * f->block_size;
    return MBNN_OK;
}

mbnn_status mbnn_store_page_size(const mbnn_model *model, const mbnn_flash *flash, size_t *page_len)
{
    mbnn_store_layout lay;
    mbnn_status status = page_len == NULL ? MBNN_ERR_NULL : mbnn_store_geometry(model, flash, &lay);
    if (status == MBNN_OK) {
        *page_len = lay.page;
    }
    return status;
}

static int mbnn_store_erased(const uint8_t *p, uint32_t len)
{
    uint32_t i;
    for (i = 0; i < len; i++) {
        if (p[i] != 0xFFu) {
            return 0;
        }
    }
    return 1;
}

/* Read slot k's header: 1 valid (fields in *h), 0 not valid, -1 read failed. */
static int mbnn_store_read_head(const mbnn_flash *f, const mbnn_store_layout *lay, uint32_t k,
                                uint8_t *page, mbnn_store_head *h)
{
    if (f->read(f->ctx, k * lay->slot_bytes, page, MBNN_STORE_HEAD) != 0) {
        return -1;
    }
    if (memcmp(page, "MBSR", 4) != 0 || mbnn_rd32(page + 4) != MBNN_STORE_VERSION ||
        mbnn_rd32(page + 24) != 0u || mbnn_crc32(0, page, 28) != mbnn_rd32(page + 28)) {
        return 0;
    }
    h->seq = mbnn_rd32(page + 8);
    h->erases = mbnn_rd32(page + 12);
    h->len = mbnn_rd32(page + 16);
    h->crc = mbnn_rd32(page + 20);
    return 1;
}

static void mbnn_store_report(mbnn_store_info *info, const mbnn_store_layout *lay,
                              const mbnn_flash *f, const mbnn_store_head *h, uint32_t step)
{
    if (info != NULL) {
        info->seq = h->seq;
        info->step = step;
        info->erases = h->erases;
        info->slots = lay->slots;
        info->blocks_per_slot = lay->slot_bytes / f->block_size;
    }
}

/* The valid header with the largest seq below `below` (any model): 1 found
 * (slot in *k), 0 none, -1 a read failed. Sequence numbers never repeat: each
 * save takes the newest + 1, and a region's life ends long before 2^32. */
static int mbnn_store_newest(const mbnn_flash *f, const mbnn_store_layout *lay, uint32_t below,
                             uint8_t *page, mbnn_store_head *best, uint32_t *k)
{
    mbnn_store_head h;
    uint32_t i;
    int found = 0;
    for (i = 0; i < lay->slots; i++) {
        int r = mbnn_store_read_head(f, lay, i, page, &h);
        if (r < 0) {
            return -1;
        }
        if (r == 1 && h.seq < below && (!found || h.seq > best->seq)) {
            *best = h;
            *k = i;
            found = 1;
        }
    }
    return found;
}

/* 1 when the state bytes of slot k match the header's CRC, 0 not, -1 read failed. */
static int mbnn_store_body_ok(const mbnn_flash *f, const mbnn_store_layout *lay, uint32_t k,
                              const mbnn_store_head *h, uint8_t *page)
{
    uint32_t done, crc = 0u, base = k * lay->slot_bytes + lay->page;
    if (h->len > lay->slot_bytes - lay->page) {
        return 0;
    }
    for (done = 0; done < h->len; done += lay->page) {
        uint32_t n = h->len - done < lay->page ? h->len - done : lay->page;
        if (f->read(f->ctx, base + done, page, n) != 0) {
            return -1;
        }
        crc = mbnn_crc32(crc, page, n);
    }
    return crc == h->crc ? 1 : 0;
}

mbnn_status mbnn_store_save(const mbnn_model *model, const mbnn_flash *flash, void *page,
                            size_t page_len, mbnn_store_info *info)
{
    uint8_t *buf = (uint8_t *)page;
    mbnn_store_layout lay;
    mbnn_store_head newest = {0u, 0u, 0u, 0u}, h;
    mbnn_state_stream s;
    uint32_t k = 0u, target = 0u, base, at, crc = 0u, seq, below, erases = 0u;
    int found;
    mbnn_status status = mbnn_store_geometry(model, flash, &lay);

    if (status == MBNN_OK && page == NULL) {
        status = MBNN_ERR_NULL;
    }
    if (status == MBNN_OK && page_len < lay.page) {
        status = MBNN_ERR_BUFFER_TOO_SMALL;
    }
    if (status != MBNN_OK) {
        return status;
    }
    /* The number: one above every valid header. The slot: the one after the
     * newest intact record (of any model), so that record is never erased. */
    found = mbnn_store_newest(flash, &lay, 0xFFFFFFFFu, buf, &newest, &k);
    seq = newest.seq + 1u;
    below = found == 1 ? newest.seq + 1u : 0u;
    while (found == 1) {
        found = mbnn_store_newest(flash, &lay, below, buf, &h, &k);
        if (found == 1) {
            int ok = mbnn_store_body_ok(flash, &lay, k, &h, buf);
            if (ok == 1) {
                target = (k + 1u) % lay.slots;
                erases = h.erases;
                break;
            }
            found = ok < 0 ? -1 : 1;
            below = h.seq;
        }
    }
    if (found < 0) {
        return MBNN_ERR_FLASH_IO;
    }
    if (newest.erases > erases) {
        erases = newest.erases;
    }
    base = target * lay.slot_bytes;
    for (at = 0; at < lay.slot_bytes; at += flash->block_size) {
        if (flash->erase(flash->ctx, base + at) != 0) {
            return MBNN_ERR_FLASH_IO;
        }
    }
    /* The state, page by page after the header page. */
    status = mbnn_state_save_begin(model, &s);
    for (at = lay.page; status == MBNN_OK && s.pos < s.size; at += lay.page) {
        size_t n = 0;
        status = mbnn_state_save_next(model, &s, buf, lay.page, &n);
        if (status != MBNN_OK) {
            break;
        }
        crc = mbnn_crc32(crc, buf, n);
        memset(buf + n, 0xFF, lay.page - n);
        if (flash->prog(flash->ctx, base + at, buf, lay.page) != 0) {
            return MBNN_ERR_FLASH_IO;
        }
    }
    if (status != MBNN_OK) {
        return status;
    }
    /* The header last: the commit. */
    h.seq = seq;
    h.erases = erases + lay.slot_bytes / flash->block_size;
    h.len = s.size;
    h.crc = crc;
    memset(buf, 0xFF, lay.page);
    memcpy(buf, "MBSR", 4);
    mbnn_wr32(buf + 4, MBNN_STORE_VERSION);
    mbnn_wr32(buf + 8, h.seq);
    mbnn_wr32(buf + 12, h.erases);
    mbnn_wr32(buf + 16, h.len);
    mbnn_wr32(buf + 20, h.crc);
    mbnn_wr32(buf + 24, 0u);
    mbnn_wr32(buf + 28, mbnn_crc32(0, buf, 28));
    if (flash->prog(flash->ctx, base, buf, lay.page) != 0) {
        return MBNN_ERR_FLASH_IO;
    }
    mbnn_store_report(info, &lay, flash, &h, model->step);
    return MBNN_OK;
}

/* One pass over the state of the record in slot k: a check pass (the record's
 * CRC and every check of mbnn_state_load) or the pass that loads it. */
static mbnn_status mbnn_store_pass(mbnn_model *model, const mbnn_flash *f,
                                   const mbnn_store_layout *lay, uint32_t k,
                                   const mbnn_store_head *h, uint8_t *page, int apply)
{
    mbnn_state_stream s;
    uint32_t done, crc = 0u, base = k * lay->slot_bytes + lay->page;
    mbnn_status status = mbnn_state_load_begin(model, &s, apply);

    for (done = 0; status == MBNN_OK && done < h->len; done += lay->page) {
        uint32_t n = h->len - done < lay->page ? h->len - done : lay->page;
        if (f->read(f->ctx, base + done, page, n) != 0) {
            return MBNN_ERR_FLASH_IO;
        }
        crc = mbnn_crc32(crc, page, n);
        status = mbnn_state_load_next(model, &s, page, n);
    }
    if (status == MBNN_OK && crc != h->crc) {
        status = MBNN_ERR_STATE_CORRUPT;
    }
    return status == MBNN_OK ? mbnn_state_load_end(model, &s) : status;
}

mbnn_status mbnn_store_load(mbnn_model *model, const mbnn_flash *flash, void *page,
                            size_t page_len, mbnn_store_info *info)
{
    uint8_t *buf = (uint8_t *)page;
    mbnn_store_layout lay;
    mbnn_store_head best = {0u, 0u, 0u, 0u};
    uint32_t best_k = 0u, below = 0xFFFFFFFFu, at;
    int other_model = 0, any = 0;
    mbnn_status status = mbnn_store_geometry(model, flash, &lay);

    if (status == MBNN_OK && page == NULL) {
        status = MBNN_ERR_NULL;
    }
    if (status == MBNN_OK && page_len < lay.page) {
        status = MBNN_ERR_BUFFER_TOO_SMALL;
    }
    if (status != MBNN_OK) {
        return status;
    }
    mbnn_store_report(info, &lay, flash, &best, 0u);
    /* Newest first, down to the oldest valid header. */
    for (;;) {
        int found = mbnn_store_newest(flash, &lay, below, buf, &best, &best_k);
        if (found < 0) {
            return MBNN_ERR_FLASH_IO;
        }
        if (found == 0) {
            break;
        }
        any = 1;
        below = best.seq;
        if (best.len != lay.state_len) {
            other_model = 1; /* a whole record, of a model with another state size */
            continue;
        }
        status = mbnn_store_pass(model, flash, &lay, best_k, &best, buf, 0);
        if (status == MBNN_ERR_FLASH_IO) {
            return status;
        }
        if (status == MBNN_ERR_STATE_MODEL) {
            other_model = 1;
        }
        if (status != MBNN_OK) {
            continue;
        }
        status = mbnn_store_pass(model, flash, &lay, best_k, &best, buf, 1);
        if (status == MBNN_OK) {
            mbnn_store_report(info, &lay, flash, &best, model->step);
        }
        return status;
    }
    if (other_model) {
        return MBNN_ERR_STATE_MODEL;
    }
    /* No intact record: an erased region, or traces of torn writes. */
    for (at = 0; !any && at < lay.slots * lay.slot_bytes; at += lay.page) {
        if (flash->read(flash->ctx, at, buf, lay.page) != 0) {
            return MBNN_ERR_FLASH_IO;
        }
        any = !mbnn_store_erased(buf, lay.page);
    }
    return any ? MBNN_ERR_STORE_TORN : MBNN_ERR_STORE_EMPTY;
}
