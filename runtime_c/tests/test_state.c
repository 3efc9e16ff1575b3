/* Learned state: save and load, continuing after a load, corrupt and foreign
 * states refused with the model unchanged, bad labels, two models side by
 * side, and the memory of a blob with memory slots (state version 2). */
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

/* Bytes of the memory section that ends the state of a model with memory
 * slots (docs/FORMAT.md "Learned state"): seen (u32), slots rows of n_inputs
 * i8 padded to 4, slots u16 labels padded to 4; 0 without memory slots. */
static size_t memory_bytes(const mbnn_model *m)
{
    size_t rows = (size_t)m->memory_slots * m->n_inputs, labels = 2u * (size_t)m->memory_slots;
    return m->memory_slots == 0u ? 0u : 4u + ((rows + 3u) & ~(size_t)3u) + ((labels + 3u) & ~(size_t)3u);
}

/* The state version a model saves: 2 with memory slots, else 1. */
static uint32_t state_version(const mbnn_model *m)
{
    return m->memory_slots > 0u ? 2u : 1u;
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
    CHECK_EQ(mbnn_test_rd32(saved + 4), state_version(&a));
    CHECK_EQ(mbnn_test_rd32(saved + 8), size);
    CHECK_EQ(mbnn_test_rd32(saved + 16), a.blob_crc);
    CHECK_EQ(mbnn_test_rd32(saved + 20), MBNN_TEST_STEPS(&a, half));
    /* Load into a fresh model: the same state, the same step. */
    CHECK_STATUS(mbnn_state_load(&b, saved, size), MBNN_OK);
    CHECK_EQ(b.step, MBNN_TEST_STEPS(&b, half));
    CHECK_EQ(b.memory_seen, a.memory_seen);
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
    /* Intact CRC but bad content: a version newer than this runtime's, an
     * rms above 2^30; the other version (with or without memory) is another
     * model's. */
    memcpy(edit, saved, size);
    mbnn_test_wr32(edit + 4, MBNN_STATE_VERSION + 1u);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    expect_refused(&m, edit, size, size, MBNN_ERR_STATE_CORRUPT, &bad);
    mbnn_test_wr32(edit + 4, m.memory_slots > 0u ? 1u : 2u);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    expect_refused(&m, edit, size, size, MBNN_ERR_STATE_MODEL, &bad);
    /* the last rms value: the state's last word, or the one before the memory */
    memcpy(edit, saved, size);
    mbnn_test_wr32(edit + size - memory_bytes(&m) - 4u, (1u << 30) + 1u);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    expect_refused(&m, edit, size, size, MBNN_ERR_STATE_CORRUPT, &bad);
    mbnn_test_wr32(edit + size - memory_bytes(&m) - 4u, 1u << 30);
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

/* A streaming load of buf in chunks of `chunk` bytes (a check pass, or with
 * apply an applying one): the first error of load_next, else load_end's. */
static mbnn_status stream_load(mbnn_model *m, const uint8_t *buf, size_t size, size_t chunk, int apply)
{
    mbnn_state_stream s;
    size_t done;
    mbnn_status st = mbnn_state_load_begin(m, &s, apply);
    for (done = 0; st == MBNN_OK && done < size; done += chunk) {
        st = mbnn_state_load_next(m, &s, buf + done, size - done < chunk ? size - done : chunk);
    }
    return st == MBNN_OK ? mbnn_state_load_end(m, &s) : st;
}

/* Memory label `slot` of a state of size bytes of model m (the labels end the
 * state, padded to 4) set to v, the CRC fixed. */
static void set_memory_label(const mbnn_model *m, uint8_t *state, size_t size, uint32_t slot, uint32_t v)
{
    size_t at = size - ((2u * (size_t)m->memory_slots + 3u) & ~(size_t)3u) + 2u * (size_t)slot;
    state[at] = (uint8_t)(v & 0xFFu);
    state[at + 1u] = (uint8_t)(v >> 8);
    mbnn_test_wr32(state + 12, mbnn_crc32(0, state + 16, size - 16u));
}

/* The memory of a blob with memory slots: it fills in the order of the
 * samples, then keeps only samples learned; the state (version 2) carries
 * seen, the rows and the labels, and a model that loads it continues as the
 * one that saved it, whole or streamed a byte at a time; a label not below
 * n_classes is refused as corrupt, wherever it lies and however the bytes
 * are chunked; seen saturates at 2^32 - 1 and is what says how many rows
 * hold samples. */
static void test_memory(const mbnn_golden *g, size_t learn_size, size_t size)
{
    static const uint32_t values[4] = {0u, 1u, 0x0100u, 0xFFFFu}; /* added to n_classes - 1 but the last */
    mbnn_model a, b;
    uint32_t slots, n, i, j, k, bad = 0, cuts[5];
    size_t seen_at, rows_at, n_in = g->n_inputs;

    CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    slots = a.memory_slots;
    if (slots == 0u) {
        return;
    }
    CHECK(g->n_learn > 2u * slots + 6u);
    seen_at = size - memory_bytes(&a);
    rows_at = seen_at + 4u;
    CHECK_EQ(a.memory_seen, 0);
    /* While rows are free, sample n goes to row n; the rows beyond stay 0. */
    for (n = 0; n < slots + 3u; n++) {
        learn_range(g, &a, n, n + 1u);
        bad += a.memory_seen != n + 1u;
        if (n < slots) {
            bad += memcmp(a.memory_x + (size_t)n * n_in, sample(g, n), n_in) != 0 || a.memory_labels[n] != label(g, n);
            for (i = n + 1u; i < slots; i++) {
                bad += a.memory_labels[i] != 0u;
                for (j = 0; j < n_in; j++) {
                    bad += a.memory_x[(size_t)i * n_in + j] != 0;
                }
            }
        }
    }
    CHECK_EQ(bad, 0);
    /* Then every row holds a sample learned, with its label. */
    learn_range(g, &a, slots + 3u, g->n_learn);
    CHECK_EQ(a.memory_seen, g->n_learn);
    for (i = 0; i < slots; i++) {
        for (n = 0; n < g->n_learn; n++) {
            if (memcmp(a.memory_x + (size_t)i * n_in, sample(g, n), n_in) == 0 && a.memory_labels[i] == label(g, n)) {
                break;
            }
        }
        bad += n == g->n_learn;
    }
    CHECK_EQ(bad, 0);

    /* Save, load into a model that learned something else, continue: as the
     * model that saved, for a memory empty, partly filled, just full and
     * replacing rows. */
    cuts[0] = 0u;
    cuts[1] = 2u;
    cuts[2] = slots;
    cuts[3] = slots + 5u;
    cuts[4] = g->n_learn / 2u;
    for (k = 0; k < 5; k++) {
        uint32_t diff = 0;
        CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
        CHECK_STATUS(mbnn_model_init(&b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
        learn_range(g, &a, 0, cuts[k]);
        learn_range(g, &b, 40, 47);
        CHECK_STATUS(mbnn_state_save(&a, saved, size), MBNN_OK);
        CHECK_EQ(mbnn_test_rd32(saved + 4), 2);
        CHECK_EQ(mbnn_test_rd32(saved + seen_at), cuts[k]);
        CHECK(memcmp(saved + rows_at, a.memory_x, (size_t)slots * n_in) == 0);
        for (i = 0; i < slots; i++) {
            const uint8_t *at = saved + size - ((2u * slots + 3u) & ~3u) + 2u * i; /* labels end the state */
            diff += (uint32_t)(at[0] | (at[1] << 8)) != a.memory_labels[i];
        }
        CHECK_EQ(diff, 0);
        /* whole, then streamed a byte at a time (check pass, applying pass) */
        CHECK_STATUS(mbnn_state_load(&b, saved, size), MBNN_OK);
        CHECK_EQ(b.memory_seen, cuts[k]);
        CHECK(same_state(&a, &b, size));
        learn_range(g, &b, 40, 43);
        CHECK_STATUS(stream_load(&b, saved, size, 1u, 0), MBNN_OK);
        CHECK(!same_state(&a, &b, size)); /* a check pass changes nothing */
        CHECK_STATUS(stream_load(&b, saved, size, 1u, 1), MBNN_OK);
        CHECK_EQ(b.memory_seen, cuts[k]);
        CHECK_EQ(b.step, a.step);
        CHECK(same_state(&a, &b, size));
        for (n = cuts[k]; n < cuts[k] + 2u * slots + 6u; n++) {
            uint16_t pa = 0, pb = 1;
            uint32_t la = 0, lb = 1;
            mbnn_learn(&a, sample(g, n), label(g, n), &pa, &la);
            mbnn_learn(&b, sample(g, n), label(g, n), &pb, &lb);
            bad += pa != pb || la != lb;
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(b.memory_seen, a.memory_seen);
        CHECK(same_state(&a, &b, size));
    }

    /* Memory labels not below n_classes, in the first and the last slot, of
     * a memory partly filled (the slot unused) and full: refused whole and
     * streamed in chunks of 1 and 3 bytes (a label straddles two), the model
     * unchanged by the checks; n_classes - 1 loads. */
    for (k = 0; k < 2; k++) {
        CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
        learn_range(g, &a, 0, k == 0u ? 2u : g->n_learn / 2u);
        CHECK_STATUS(mbnn_state_save(&a, saved, size), MBNN_OK);
        for (i = 0; i < 2; i++) {
            uint32_t slot = i == 0u ? 0u : slots - 1u;
            for (j = 0; j < 4; j++) {
                uint32_t v = j == 3u ? values[j] : g->n_classes - 1u + values[j];
                mbnn_status want = v < g->n_classes ? MBNN_OK : MBNN_ERR_STATE_CORRUPT;
                uint32_t before;
                size_t chunk;
                CHECK_STATUS(mbnn_model_init(&b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
                learn_range(g, &b, 40, 45);
                before = state_crc(&b, size);
                memcpy(edit, saved, size);
                set_memory_label(&a, edit, size, slot, v);
                for (chunk = 1; chunk <= 3u; chunk += 2u) {
                    mbnn_status st = stream_load(&b, edit, size, chunk, 0);
                    if (st != want || state_crc(&b, size) != before) {
                        printf("     memory label %lu in slot %lu, check pass in chunks of %lu: %s\n",
                               (unsigned long)v, (unsigned long)slot, (unsigned long)chunk, mbnn_strerror(st));
                        bad++;
                    }
                    bad += stream_load(&b, edit, size, chunk, 1) != want;
                    for (n = 0; n < slots; n++) { /* an applying pass alone leaves only classes */
                        bad += b.memory_labels[n] >= g->n_classes;
                    }
                    CHECK_STATUS(mbnn_state_load(&b, saved, size), MBNN_OK); /* an applying pass may write */
                    learn_range(g, &b, 40, 45);
                    before = state_crc(&b, size);
                }
                if (want == MBNN_OK) {
                    CHECK_STATUS(mbnn_state_load(&b, edit, size), MBNN_OK);
                    CHECK_EQ(b.memory_labels[slot], v);
                } else {
                    expect_refused(&b, edit, size, size, want, &bad);
                }
            }
        }
    }
    CHECK_EQ(bad, 0);

    /* seen saturates at 2^32 - 1; seen 0 makes the rows free again. */
    CHECK_STATUS(mbnn_model_init(&a, g->blob, g->blob_len, arena_a, learn_size), MBNN_OK);
    learn_range(g, &a, 0, g->n_learn / 2u);
    CHECK_STATUS(mbnn_state_save(&a, edit, size), MBNN_OK);
    mbnn_test_wr32(edit + seen_at, 0xFFFFFFFEu);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    CHECK_STATUS(mbnn_model_init(&b, g->blob, g->blob_len, arena_b, learn_size), MBNN_OK);
    CHECK_STATUS(mbnn_state_load(&b, edit, size), MBNN_OK);
    CHECK_EQ(b.memory_seen, 0xFFFFFFFEu);
    learn_range(g, &b, 0, 1);
    CHECK_EQ(b.memory_seen, 0xFFFFFFFFu);
    learn_range(g, &b, 1, 3);
    CHECK_EQ(b.memory_seen, 0xFFFFFFFFu);
    CHECK_STATUS(mbnn_state_save(&b, scratch, size), MBNN_OK);
    CHECK_EQ(mbnn_test_rd32(scratch + seen_at), 0xFFFFFFFFu);
    mbnn_test_wr32(edit + seen_at, 0u);
    mbnn_test_wr32(edit + 12, mbnn_crc32(0, edit + 16, size - 16u));
    CHECK_STATUS(mbnn_state_load(&b, edit, size), MBNN_OK);
    CHECK_EQ(b.memory_seen, 0);
    learn_range(g, &b, 7, 8);
    CHECK_EQ(b.memory_seen, 1);
    CHECK(memcmp(b.memory_x, sample(g, 7), n_in) == 0);
    CHECK_EQ(b.memory_labels[0], label(g, 7));
    /* the other rows as the state had them */
    CHECK(memcmp(b.memory_x + n_in, edit + rows_at + n_in, (size_t)(slots - 1u) * n_in) == 0);
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
        test_memory(g, learn_size, size);
    }
}
