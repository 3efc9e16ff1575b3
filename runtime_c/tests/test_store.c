/* The flash store on the simulated NOR flash (sim/mbnn_flashsim.h): empty and
 * torn regions, newest record wins by write order (not by step), a power cut
 * at every program and erase of a save leaves the state before or after it,
 * damaged records are skipped, injected failures change nothing, and the
 * streaming state save/load in chunks of any size. The flash is the three
 * state buffers of the other tests, so this fits a small board's RAM. */
#include <string.h>

#include "mbnn_flashsim.h"
#include "mbnn_test.h"

#define arena_a mbnn_test_arena_a
#define arena_b mbnn_test_arena_b
#define flash_mem (&mbnn_test_state_buf[0][0])
#define FLASH_BYTES (3u * MBNN_GOLDEN_MAX_STATE)
#define BLOCK 64u
#define PROG 16u

static uint8_t page[128];

/* The CRC field of the model's state: the same for the same state. */
static uint32_t fingerprint(const mbnn_model *m)
{
    mbnn_state_stream s;
    return mbnn_state_save_begin(m, &s) == MBNN_OK ? s.crc : 0u;
}

static void learn_some(const mbnn_golden *g, mbnn_model *m, uint32_t from, uint32_t n)
{
    uint32_t i, bad = 0;
    for (i = from; i < from + n; i++) {
        bad += mbnn_learn(m, g->learn_inputs + (size_t)(i % g->n_learn) * g->n_inputs,
                          g->learn_labels[i % g->n_learn], NULL, NULL) != MBNN_OK;
    }
    CHECK_EQ(bad, 0);
}

/* A blank simulated flash holding `slots` records of this model (at least 2). */
static void blank(mbnn_flashsim *sim, mbnn_flash *f, size_t state_len, uint32_t slots)
{
    uint32_t per = (uint32_t)((64u + (state_len + 63u) / 64u * 64u + BLOCK - 1u) / BLOCK) * BLOCK;
    uint32_t region = per * slots;
    while (region > FLASH_BYTES) {
        region -= per;
    }
    CHECK_EQ(mbnn_flashsim_init(sim, flash_mem, NULL, PROG, BLOCK, region), 0);
    mbnn_flashsim_flash(sim, f);
}

static void test_stream(const mbnn_golden *g, mbnn_model *m, size_t size)
{
    static const size_t chunks[4] = {1u, 7u, 32u, 100u};
    uint8_t *whole = mbnn_test_state_buf[0], *parts = mbnn_test_state_buf[1];
    mbnn_model b;
    size_t learn_size = 0, k, done, n;
    uint32_t bad = 0;
    mbnn_state_stream s;

    learn_some(g, m, 0, 7);
    CHECK_STATUS(mbnn_state_save(m, whole, size), MBNN_OK);
    CHECK_STATUS(mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_LEARN, &learn_size), MBNN_OK);
    for (k = 0; k < 4; k++) {
        CHECK_STATUS(mbnn_state_save_begin(m, &s), MBNN_OK);
        for (done = 0; done < size; done += n) {
            n = 0;
            bad += mbnn_state_save_next(m, &s, parts + done, chunks[k], &n) != MBNN_OK || n == 0u;
        }
        bad += s.pos != size || memcmp(whole, parts, size) != 0;
        CHECK_STATUS(mbnn_state_save_next(m, &s, parts, 8, &n), MBNN_OK);
        bad += n != 0u;
        /* Load it back in the same chunks: a check pass, then the applying one. */
        CHECK_STATUS(mbnn_model_init(&b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
        for (n = 0; n < 2; n++) {
            CHECK_STATUS(mbnn_state_load_begin(&b, &s, (int)n), MBNN_OK);
            for (done = 0; done < size; done += chunks[k]) {
                size_t c = size - done < chunks[k] ? size - done : chunks[k];
                bad += mbnn_state_load_next(&b, &s, parts + done, c) != MBNN_OK;
            }
            CHECK_STATUS(mbnn_state_load_end(&b, &s), MBNN_OK);
            bad += n == 0u ? b.step != 0u : b.step != m->step;
        }
        bad += fingerprint(&b) != fingerprint(m);
    }
    CHECK_EQ(bad, 0);
    /* A check pass over a damaged copy fails at the end, changing nothing. */
    parts[size - 1u] ^= 0x40u;
    CHECK_STATUS(mbnn_state_load_begin(&b, &s, 0), MBNN_OK);
    CHECK_STATUS(mbnn_state_load_next(&b, &s, parts, size), MBNN_OK);
    CHECK_STATUS(mbnn_state_load_end(&b, &s), MBNN_ERR_STATE_CORRUPT);
    CHECK_STATUS(mbnn_state_load_next(&b, &s, parts, 1), MBNN_ERR_STATE_CORRUPT);
    /* The reserved word must be 0 (docs/FORMAT.md), with an intact CRC. */
    memcpy(parts, whole, size);
    mbnn_test_wr32(parts + 28, 1u);
    mbnn_test_wr32(parts + 12, mbnn_crc32(0, parts + 16, size - 16u));
    CHECK_STATUS(mbnn_state_load(&b, parts, size), MBNN_ERR_STATE_CORRUPT);
    CHECK(fingerprint(&b) == fingerprint(m));
}

static void test_geometry(mbnn_model *m, size_t size)
{
    mbnn_flashsim sim;
    mbnn_flash f;
    size_t len = 0;

    blank(&sim, &f, size, 2);
    CHECK_STATUS(mbnn_store_page_size(m, &f, &len), MBNN_OK);
    CHECK_EQ(len, 64);
    f.region_size -= BLOCK; /* room for one record only */
    CHECK_STATUS(mbnn_store_page_size(m, &f, &len), MBNN_ERR_FLASH_GEOMETRY);
    f.region_size += BLOCK;
    f.prog_size = 24u; /* does not divide the block */
    CHECK_STATUS(mbnn_store_page_size(m, &f, &len), MBNN_ERR_FLASH_GEOMETRY);
    f.prog_size = PROG;
    f.region_size += 1u;
    CHECK_STATUS(mbnn_store_save(m, &f, page, sizeof(page), NULL), MBNN_ERR_FLASH_GEOMETRY);
    f.region_size -= 1u;
    CHECK_STATUS(mbnn_store_save(m, &f, page, 63u, NULL), MBNN_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(mbnn_store_save(m, &f, NULL, 64u, NULL), MBNN_ERR_NULL);
    f.erase = NULL;
    CHECK_STATUS(mbnn_store_load(m, &f, page, 64u, NULL), MBNN_ERR_NULL);
}

static void test_records(const mbnn_golden *g, mbnn_model *a, mbnn_model *b, size_t learn_size,
                         size_t size)
{
    mbnn_flashsim sim;
    mbnn_flash f;
    mbnn_store_info info;
    uint32_t fp_old, fp_new, i;

    blank(&sim, &f, size, 3);
    CHECK_STATUS(mbnn_model_init(b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
    fp_old = fingerprint(b);
    CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), &info), MBNN_ERR_STORE_EMPTY);
    CHECK(fingerprint(b) == fp_old);
    /* a learns 30 steps and saves; then is reset to the blob, learns 2 and
     * saves: the later save wins although its step is smaller. */
    CHECK_STATUS(mbnn_model_init(a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    learn_some(g, a, 0, 30);
    CHECK_STATUS(mbnn_store_save(a, &f, page, sizeof(page), &info), MBNN_OK);
    CHECK_EQ(info.seq, 1);
    CHECK_EQ(info.step, MBNN_TEST_STEPS(a, 30));
    CHECK_STATUS(mbnn_model_init(a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    learn_some(g, a, 5, 2);
    CHECK_STATUS(mbnn_store_save(a, &f, page, sizeof(page), &info), MBNN_OK);
    CHECK_EQ(info.seq, 2);
    CHECK(info.slots == 2u || info.slots == 3u);
    CHECK_EQ(info.erases, 2u * info.blocks_per_slot);
    CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), &info), MBNN_OK);
    CHECK_EQ(b->step, MBNN_TEST_STEPS(b, 2));
    CHECK_EQ(info.seq, 2);
    CHECK(fingerprint(b) == fingerprint(a));
    /* Many saves rotate over the slots: every block erased evenly. */
    for (i = 0; i < 7; i++) {
        learn_some(g, a, i, 1);
        CHECK_STATUS(mbnn_store_save(a, &f, page, sizeof(page), &info), MBNN_OK);
    }
    CHECK_EQ(info.seq, 9);
    CHECK_EQ(info.erases, 9u * info.blocks_per_slot);
    CHECK_EQ(sim.erases, 9u * info.blocks_per_slot);
    /* The newest record damaged (a bit of its state): the one before loads. */
    fp_new = fingerprint(a);
    flash_mem[((9u - 1u) % info.slots) * info.blocks_per_slot * BLOCK + 64u + 40u] ^= 0x01u; /* bit rot */
    CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), &info), MBNN_OK);
    CHECK_EQ(info.seq, 8);
    CHECK(fingerprint(b) != fp_new);
    CHECK_EQ(b->step, a->step - MBNN_TEST_STEPS(a, 1));
    /* Injected failures: a failing read or program changes nothing. */
    fp_old = fingerprint(b);
    sim.fail_read = sim.reads + 2u;
    CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), &info), MBNN_ERR_FLASH_IO);
    CHECK(fingerprint(b) == fp_old);
    sim.fail_prog = sim.progs + 3u;
    CHECK_STATUS(mbnn_store_save(a, &f, page, sizeof(page), &info), MBNN_ERR_FLASH_IO);
    sim.fail_erase = sim.erases + 1u;
    CHECK_STATUS(mbnn_store_save(a, &f, page, sizeof(page), &info), MBNN_ERR_FLASH_IO);
    CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), &info), MBNN_OK);
    CHECK_EQ(info.seq, 8);
    CHECK(fingerprint(b) == fp_old);
    /* Garbage without any record: torn, never garbage loaded. */
    memset(flash_mem, 0x5A, f.region_size);
    CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), &info), MBNN_ERR_STORE_TORN);
    CHECK(fingerprint(b) == fp_old);
    CHECK_EQ(sim.violations, 0);
}

/* A record of another model of the same shape: refused as such. */
static void test_other_model(const mbnn_golden *g, mbnn_model *a, mbnn_model *b, size_t learn_size,
                             size_t size)
{
    mbnn_flashsim sim;
    mbnn_flash f;
    uint8_t *blob = mbnn_test_copy_blob(g, mbnn_test_blob_buf);
    uint32_t fp;

    blank(&sim, &f, size, 2);
    blob[28] ^= 1u; /* another seed */
    mbnn_test_fix_crc(blob);
    CHECK_STATUS(mbnn_model_init(a, blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    CHECK_STATUS(mbnn_store_save(a, &f, page, sizeof(page), NULL), MBNN_OK);
    CHECK_STATUS(mbnn_model_init(b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
    fp = fingerprint(b);
    CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), NULL), MBNN_ERR_STATE_MODEL);
    CHECK(fingerprint(b) == fp);
}

/* Power cut at every program and erase of a save, at the start, the end or
 * a point inside the operation, with and without scattered bits: the load
 * gives the state before or after that save, never an error. */
static void test_power_cuts(const mbnn_golden *g, mbnn_model *a, mbnn_model *b, size_t learn_size,
                            size_t size)
{
    mbnn_flashsim sim;
    mbnn_flash f;
    uint32_t op, ops, variant, lost = 0, torn = 0, cuts = 0, n = 0;

    CHECK_STATUS(mbnn_model_init(a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    CHECK_STATUS(mbnn_model_init(b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
    blank(&sim, &f, size, 2);
    CHECK_STATUS(mbnn_store_save(a, &f, page, sizeof(page), NULL), MBNN_OK);
    ops = sim.ops; /* program and erase operations of one save */
    for (variant = 0; variant < 6; variant++) {
        for (op = 1; op <= ops; op++) {
            uint32_t before, after, got;
            mbnn_status st;
            CHECK_STATUS(mbnn_store_load(b, &f, page, sizeof(page), NULL), MBNN_OK);
            before = fingerprint(b);
            learn_some(g, a, n++, 1);
            after = fingerprint(a);
            sim.cut_op = sim.ops + op;
            sim.cut_at = variant % 3u == 0u ? 0u : (variant % 3u == 1u ? 0xFFFFFFFFu : op * 7919u);
            sim.scatter = variant >= 3u;
            cuts += mbnn_store_save(a, &f, page, sizeof(page), NULL) == MBNN_ERR_FLASH_IO;
            mbnn_flashsim_power_on(&sim);
            st = mbnn_store_load(b, &f, page, sizeof(page), NULL);
            got = fingerprint(b);
            torn += st != MBNN_OK;
            lost += st == MBNN_OK && got != before && got != after;
        }
    }
    CHECK_EQ(cuts, 6u * ops);
    CHECK_EQ(torn, 0);
    CHECK_EQ(lost, 0);
    CHECK_EQ(sim.violations, 0);
}

void mbnn_test_store(void)
{
    unsigned i;
    for (i = 0; i < MBNN_GOLDEN_COUNT; i++) {
        const mbnn_golden *g = &mbnn_goldens[i];
        size_t learn_size = 0, size = 0;
        mbnn_model a, b;
        if (g->n_learn < 2 || mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_LEARN, &learn_size) != MBNN_OK) {
            continue;
        }
        CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
        CHECK_STATUS(mbnn_state_size(&a, &size), MBNN_OK);
        test_stream(g, &a, size);
        test_geometry(&a, size);
        test_records(g, &a, &b, learn_size, size);
        test_other_model(g, &a, &b, learn_size, size);
        test_power_cuts(g, &a, &b, learn_size, size);
    }
}
