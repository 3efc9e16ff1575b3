/* Learned state: save and load, continuing after a load, corrupt and foreign
 * states refused with the model unchanged, bad labels, and two models side by
 * side. */
#include <string.h>

#include "mbnn_test.h"

#define arena_a mbnn_test_arena_a
#define arena_b mbnn_test_arena_b
#define arena_c mbnn_test_arena_c
#define blob_words mbnn_test_blob_buf
#define saved mbnn_test_state_buf[0]
#define edit mbnn_test_state_buf[1]
#define scratch mbnn_test_state_buf[2]

static const int8_t *sample(const mbnn_golden *g, uint32_t n)
{
    return g->learn_inputs + (size_t)(n % g->n_learn) * g->n_inputs;
}

static uint16_t label(const mbnn_golden *g, uint32_t n)
{
    return g->learn_labels[n % g->n_learn];
}

/* Learn samples [from, to) (wrapping around the golden sequence). */
static void learn_range(const mbnn_golden *g, mbnn_model *m, uint32_t from, uint32_t to)
{
    uint32_t n, bad = 0;
    for (n = from; n < to; n++) {
        bad += mbnn_learn(m, sample(g, n), label(g, n), NULL, NULL) != MBNN_OK;
    }
    CHECK_EQ(bad, 0);
}

/* CRC of a model's whole learned state (0 if it cannot be saved). */
static uint32_t state_crc(const mbnn_model *m, size_t size)
{
    if (mbnn_state_save(m, scratch, size) != MBNN_OK) {
        return 0;
    }
    return mbnn_crc32(0, scratch, size);
}

static int same_state(const mbnn_model *a, const mbnn_model *b, size_t size)
{
    uint32_t crc_a = state_crc(a, size);
    return crc_a != 0 && crc_a == state_crc(b, size);
}

static void test_round_trip(const mbnn_golden *g, size_t learn_size, size_t size)
{
    mbnn_model a, b;
    uint32_t half = g->n_learn / 2u, n, bad = 0;

    CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    CHECK_STATUS(mbnn_model_init(&b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
    learn_range(g, &a, 0, half);
    CHECK_STATUS(mbnn_state_save(&a, saved, size - 1u), MBNN_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(mbnn_state_save(&a, saved, size), MBNN_OK);
    CHECK(memcmp(saved, "MBST", 4) == 0);
    CHECK_EQ(mbnn_test_rd32(saved + 4), 1);
    CHECK_EQ(mbnn_test_rd32(saved + 8), size);
    CHECK_EQ(mbnn_test_rd32(saved + 16), a.blob_crc);
    CHECK_EQ(mbnn_test_rd32(saved + 20), MBNN_TEST_STEPS(&a, half));
    /* Load into a fresh model: the same state, the same step. */
    CHECK_STATUS(mbnn_state_load(&b, saved, size), MBNN_OK);
    CHECK_EQ(b.step, MBNN_TEST_STEPS(&b, half));
    CHECK(same_state(&a, &b, size));
    /* Both continue identically (a buffer longer than the state is fine). */
    CHECK_STATUS(mbnn_state_load(&b, saved, MBNN_GOLDEN_MAX_STATE), MBNN_OK);
    for (n = half; n < g->n_learn + half; n++) {
        uint16_t pa = 0, pb = 1;
        uint32_t la = 0, lb = 1;
        mbnn_learn(&a, sample(g, n), label(g, n), &pa, &la);
        mbnn_learn(&b, sample(g, n), label(g, n), &pb, &lb);
        bad += pa != pb || la != lb;
        if (g->learn_predictions != NULL && n < g->n_learn) {
            bad += pa != g->learn_predictions[n];
        }
    }
    CHECK_EQ(bad, 0);
    CHECK(same_state(&a, &b, size));
    /* Loading the earlier state takes the model back to it. */
    CHECK_STATUS(mbnn_state_load(&a, saved, size), MBNN_OK);
    CHECK_EQ(state_crc(&a, size), mbnn_crc32(0, saved, size));
    /* The state after the full golden sequence, through a load. */
    if (g->has_state) {
        CHECK_STATUS(mbnn_state_load(&b, saved, size), MBNN_OK);
        learn_range(g, &b, half, g->n_learn);
        CHECK_EQ(state_crc(&b, size), g->state_crc);
    }
}

/* A load that must fail leaves the model exactly as it was. */
static void expect_refused(mbnn_model *m, const uint8_t *buf, size_t len, size_t size, mbnn_status want,
                           uint32_t *bad)
{
    uint32_t step = m->step, crc = state_crc(m, size);
    mbnn_status st = mbnn_state_load(m, buf, len);
    if (st != want || m->step != step || state_crc(m, size) != crc) {
        if (*bad < 3) {
            printf("     state load: got %s, want %s\n", mbnn_strerror(st), mbnn_strerror(want));
        }
        (*bad)++;
    }
}

/* Two slots: saved (older) and edit (newer); a write of edit cut short by a
 * reset leaves it failing its CRC, and the older slot is picked. */
static void test_two_slots(const mbnn_golden *g, size_t learn_size, size_t size)
{
    mbnn_model a;
    unsigned slot = 9u;
    size_t cut;
    uint32_t bad = 0;

    CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    learn_range(g, &a, 0, 5);
    CHECK_STATUS(mbnn_state_save(&a, saved, size), MBNN_OK);
    learn_range(g, &a, 5, 9);
    CHECK_STATUS(mbnn_state_save(&a, edit, size), MBNN_OK);
    CHECK_STATUS(mbnn_state_pick(&a, saved, size, edit, size, &slot), MBNN_OK);
    CHECK_EQ(slot, 1);
    CHECK_STATUS(mbnn_state_pick(&a, edit, size, saved, size, &slot), MBNN_OK);
    CHECK_EQ(slot, 0);
    CHECK_STATUS(mbnn_state_pick(&a, NULL, 0, saved, size, &slot), MBNN_OK);
    CHECK_EQ(slot, 1);
    for (cut = 1; cut < size; cut += 7u) {
        memcpy(scratch, edit, cut); /* the new state, written up to the reset */
        memcpy(scratch + cut, saved, size - cut);
        slot = 9u;
        bad += mbnn_state_pick(&a, saved, size, scratch, size, &slot) != MBNN_OK || slot != 0u;
    }
    CHECK_EQ(bad, 0);
    CHECK_STATUS(mbnn_state_pick(&a, NULL, 0, saved, size - 1u, &slot), MBNN_ERR_STATE_CORRUPT);
}

static void test_corrupt(const mbnn_golden *g, size_t learn_size, size_t size)
{
    mbnn_model a, m;
    uint32_t pos, bad = 0, len;
    static const uint8_t masks[2] = {0xFF, 0x01};
    unsigned k;

    /* saved: a state after some learning; m: a model that learned other samples. */
    CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    learn_range(g, &a, 0, g->n_learn / 2u + 1u);
    CHECK_STATUS(mbnn_state_save(&a, saved, size), MBNN_OK);
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
    learn_range(g, &m, 3, 10);

    for (k = 0; k < 2; k++) {
        for (pos = 0; pos < size; pos++) {
            memcpy(edit, saved, size);
            edit[pos] ^= masks[k];
            expect_refused(&m, edit, size, size, MBNN_ERR_STATE_CORRUPT, &bad);
        }
    }
    CHECK_EQ(bad, 0);
    bad = 0;
    for (len = 0; len < size; len++) {
        expect_refused(&m, saved, len, size, MBNN_ERR_STATE_CORRUPT, &bad);
    }
    CHECK_EQ(bad, 0);
    bad = 0;
    /* Intact CRC but bad content: newer version, an rms above 2^30. */
    memcpy(edit, saved, size);
    mbnn_test_wr32(edit + 4, 2);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    expect_refused(&m, edit, size, size, MBNN_ERR_STATE_CORRUPT, &bad);
    memcpy(edit, saved, size);
    mbnn_test_wr32(edit + size - 4u, (1u << 30) + 1u);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    expect_refused(&m, edit, size, size, MBNN_ERR_STATE_CORRUPT, &bad);
    mbnn_test_wr32(edit + size - 4u, 1u << 30);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    CHECK_STATUS(mbnn_state_load(&m, edit, size), MBNN_OK);
    /* Intact, but of another model: another model CRC, another size. */
    memcpy(edit, saved, size);
    mbnn_test_wr32(edit + 16, a.blob_crc ^ 1u);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    expect_refused(&m, edit, size, size, MBNN_ERR_STATE_MODEL, &bad);
    memcpy(edit, saved, size - 4u);
    mbnn_test_wr32(edit + 8, (uint32_t)size - 4u);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 20u));
    expect_refused(&m, edit, size - 4u, size, MBNN_ERR_STATE_MODEL, &bad);
    CHECK_EQ(bad, 0);

    /* A state saved by a model of another blob (same shape, another seed). */
    {
        uint8_t *b = mbnn_test_copy_blob(g, blob_words);
        mbnn_model other;
        b[28] ^= 1u;
        mbnn_test_fix_crc(b);
        CHECK_STATUS(mbnn_model_init(&other, b, g->blob_len, arena_a, learn_size), MBNN_OK);
        learn_range(g, &other, 0, 5);
        CHECK_STATUS(mbnn_state_save(&other, edit, size), MBNN_OK);
        bad = 0;
        expect_refused(&m, edit, size, size, MBNN_ERR_STATE_MODEL, &bad);
        CHECK_EQ(bad, 0);
        CHECK_STATUS(mbnn_state_load(&other, saved, size), MBNN_ERR_STATE_MODEL);
    }
}

static void test_bad_label(const mbnn_golden *g, size_t learn_size, size_t size)
{
    mbnn_model m;
    uint16_t pred = 0xBEEF;
    uint32_t loss = 0xDEADBEEFu, step, crc;

    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    learn_range(g, &m, 0, 3);
    step = m.step;
    crc = state_crc(&m, size);
    CHECK_STATUS(mbnn_learn(&m, sample(g, 3), (uint16_t)g->n_classes, &pred, &loss), MBNN_ERR_BAD_LABEL);
    CHECK_STATUS(mbnn_learn(&m, sample(g, 3), 0xFFFF, &pred, &loss), MBNN_ERR_BAD_LABEL);
    CHECK_EQ(state_crc(&m, size), crc);
    CHECK_EQ(m.step, step);
    CHECK_EQ(pred, 0xBEEF);
    CHECK_EQ(loss, 0xDEADBEEFu);
    CHECK_STATUS(mbnn_learn(&m, sample(g, 3), (uint16_t)(g->n_classes - 1u), &pred, &loss), MBNN_OK);
    CHECK_EQ(m.step, step + MBNN_TEST_STEPS(&m, 1));
}

/* Two models of one blob, each with its arena, learning and inferring in
 * turns: neither sees the other. */
static void test_side_by_side(const mbnn_golden *g, size_t learn_size, size_t infer_size)
{
    mbnn_model a, b, c;
    uint32_t n, i, bad = 0;

    CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    CHECK_STATUS(mbnn_model_init(&b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
    CHECK_STATUS(mbnn_model_init(&c, g->blob, g->blob_len, arena_c, infer_size), MBNN_OK);
    for (n = 0; n < g->n_learn; n++) {
        uint16_t pa, pb;
        uint32_t la, lb;
        int32_t logits[MBNN_GOLDEN_MAX_CLASSES];
        /* a learns the golden sequence; b learns it backwards. */
        mbnn_learn(&a, sample(g, n), label(g, n), &pa, &la);
        mbnn_learn(&b, sample(g, g->n_learn - 1u - n), label(g, g->n_learn - 1u - n), &pb, &lb);
        if (g->learn_predictions != NULL) {
            bad += pa != g->learn_predictions[n];
        }
        if (g->learn_losses != NULL) {
            bad += la != g->learn_losses[n];
        }
        /* c never learns: its logits stay those of the blob. */
        if (g->n_infer > 0 && g->infer_logits != NULL) {
            i = n % g->n_infer;
            mbnn_infer(&c, g->infer_inputs + (size_t)i * g->n_inputs, logits);
            bad += memcmp(logits, g->infer_logits + (size_t)i * g->n_classes, 4u * g->n_classes) != 0;
        }
    }
    CHECK_EQ(bad, 0);
    if (g->has_state) {
        size_t size = 0;
        mbnn_state_size(&a, &size);
        CHECK_EQ(state_crc(&a, size), g->state_crc);
    }
}

void mbnn_test_state(void)
{
    unsigned i;
    for (i = 0; i < MBNN_GOLDEN_COUNT; i++) {
        const mbnn_golden *g = &mbnn_goldens[i];
        size_t learn_size = 0, infer_size = 0, size = 0;
        mbnn_model m;
        if (g->n_learn < 2 || mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_LEARN, &learn_size) != MBNN_OK) {
            continue;
        }
        CHECK_STATUS(mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_INFER, &infer_size), MBNN_OK);
        CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
        CHECK_STATUS(mbnn_state_size(&m, &size), MBNN_OK);
        CHECK(size >= 32u && size <= MBNN_GOLDEN_MAX_STATE);
        if (size > MBNN_GOLDEN_MAX_STATE) {
            continue;
        }
        test_round_trip(g, learn_size, size);
        test_corrupt(g, learn_size, size);
        test_two_slots(g, learn_size, size);
        test_bad_label(g, learn_size, size);
        test_side_by_side(g, learn_size, infer_size);
    }
}
