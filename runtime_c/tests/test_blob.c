/* Malformed blobs (docs/FORMAT.md "What the runtime checks"), arenas that are
 * too small or misaligned, and NULL arguments: each gets its specific status,
 * and a failed mbnn_model_init leaves the model zeroed. */
#include <string.h>

#include "mbnn_format.h"
#include "mbnn_test.h"

#define arena mbnn_test_arena_a
#define edit_words mbnn_test_blob_buf

static int model_is_zero(const mbnn_model *m)
{
    const unsigned char *p = (const unsigned char *)m;
    size_t i;
    for (i = 0; i < sizeof(*m); i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* Also check mbnn_arena_size on every blob (off for the long loops over the
 * extra goldens, to keep the run short on boards). */
static int thorough = 1;

/* Init a model with blob b and a large arena; the model is zeroed on error. */
static mbnn_status init_status(const void *b, size_t len)
{
    mbnn_model m;
    size_t n = 12345;
    mbnn_status st, st2;
    memset(&m, 0xA5, sizeof(m));
    st = mbnn_model_init(&m, b, len, arena, sizeof(arena));
    if (st != MBNN_OK && thorough) {
        CHECK(model_is_zero(&m));
        /* mbnn_arena_size validates the same way and leaves n alone. */
        st2 = mbnn_arena_size(b, len, MBNN_MODE_INFER, &n);
        CHECK(st2 == st && n == 12345);
    }
    return st;
}

/* The expected status for blob bytes [0, 16) changed; CRC for the rest. */
static mbnn_status expected_for_flip(const uint8_t *b, uint32_t pos, uint32_t len)
{
    if (pos < 4u) {
        return MBNN_ERR_BAD_MAGIC;
    }
    if (pos < 8u) {
        return MBNN_ERR_VERSION;
    }
    if (pos < 12u) {
        uint32_t total = mbnn_test_rd32(b + 8);
        if (total > len) {
            return MBNN_ERR_TRUNCATED;
        }
        if (total < 32u) {
            return MBNN_ERR_BAD_HEADER;
        }
    }
    return MBNN_ERR_CRC;
}

/* Every truncation and every flipped byte: three flips of each byte (all
 * bits, the lowest, the highest) for the main golden, one for the others. */
static void test_truncated_and_flipped(const mbnn_golden *g, unsigned n_masks)
{
    uint32_t len, pos, bad_trunc = 0, bad_flip = 0;
    unsigned m;
    static const uint8_t masks[3] = {0xFF, 0x01, 0x80};
    uint8_t *b = mbnn_test_copy_blob(g, edit_words);

    CHECK_STATUS(init_status(b, g->blob_len), MBNN_OK);
    for (len = 0; len < g->blob_len; len++) {
        bad_trunc += init_status(b, len) != MBNN_ERR_TRUNCATED;
    }
    CHECK_EQ(bad_trunc, 0);
    for (m = 0; m < n_masks; m++) {
        for (pos = 0; pos < g->blob_len; pos++) {
            mbnn_status want;
            b[pos] ^= masks[m];
            want = expected_for_flip(b, pos, g->blob_len);
            if (init_status(b, g->blob_len) != want) {
                bad_flip++;
                if (bad_flip < 5) {
                    printf("     flip 0x%02X at %u: got %s, want %s\n", masks[m], (unsigned)pos,
                           mbnn_strerror(init_status(b, g->blob_len)), mbnn_strerror(want));
                }
            }
            b[pos] ^= masks[m];
        }
    }
    CHECK_EQ(bad_flip, 0);
    /* The blob is intact again, and a longer buffer is fine. */
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_OK);
    CHECK_STATUS(init_status(b, g->blob_len + 4u), MBNN_OK);
}

static void test_header(const mbnn_golden *g)
{
    uint8_t *b = mbnn_test_copy_blob(g, edit_words);
    uint32_t version = mbnn_test_rd32(b + 4);

    memcpy(b, "MBNM", 4);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_MAGIC);
    memcpy(b, "MBNN", 4);
    mbnn_test_wr32(b + 4, MBNN_FORMAT_VERSION + 1u);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_VERSION);
    mbnn_test_wr32(b + 4, 0);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_VERSION);
    mbnn_test_wr32(b + 4, 0xFFFFFFFFu);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_VERSION);
    mbnn_test_wr32(b + 4, version);
    /* Version is checked before the size: a newer blob of any length. */
    mbnn_test_wr32(b + 4, MBNN_FORMAT_VERSION + 1u);
    CHECK_STATUS(init_status(b, 16), MBNN_ERR_VERSION);
    mbnn_test_wr32(b + 4, version);
    mbnn_test_wr32(b + 8, 31);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_HEADER);
    mbnn_test_wr32(b + 8, 16);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_HEADER);
    mbnn_test_wr32(b + 8, g->blob_len + 1u);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_TRUNCATED);
    mbnn_test_wr32(b + 8, g->blob_len);

    /* Header fields out of range, with a correct CRC. */
#define HEADER_CASE(off, value)                                            \
    do {                                                                   \
        uint8_t keep = b[off];                                             \
        b[off] = (uint8_t)(value);                                         \
        mbnn_test_fix_crc(b);                                              \
        CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_HEADER);    \
        b[off] = keep;                                                     \
    } while (0)
    HEADER_CASE(16, 0);   /* n_layers 0 */
    HEADER_CASE(16, 9);   /* n_layers 9 */
    HEADER_CASE(17, 1);   /* n_layers 257 */
    HEADER_CASE(18, b[18] ^ 1u); /* flags: the rehearsal bit against the version */
    HEADER_CASE(18, 2);   /* flags: an unknown bit */
    HEADER_CASE(19, 0x80); /* flags */
    HEADER_CASE(25, 31);  /* out_frac_bits */
    HEADER_CASE(26, 25);  /* rms_shift */
    HEADER_CASE(27, 1);   /* reserved */
#undef HEADER_CASE
    mbnn_test_fix_crc(b);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_OK);
    /* The layer table does not fit in total_size. */
    {
        uint32_t n_layers = mbnn_test_n_layers(b);
        uint32_t short_total = (uint32_t)(mbnn_test_entry(b, n_layers) - b) - 4u;
        mbnn_test_wr32(b + 8, short_total);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_HEADER);
        mbnn_test_wr32(b + 8, g->blob_len);
        mbnn_test_fix_crc(b);
    }
    /* Values the device never reads may be anything. */
    b[20] ^= 0x5A; /* input_scale */
    b[24] ^= 0x5A; /* zero point */
    b[28] ^= 0x5A; /* seed */
    mbnn_test_fix_crc(b);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_OK);
}

/* Layer l's entry field at byte off set to value (size 1, 2 or 4), CRC fixed;
 * the status of init; the field restored. */
static mbnn_status layer_case(uint8_t *b, uint32_t len, unsigned l, unsigned off, unsigned size,
                              uint32_t value)
{
    uint8_t *e = mbnn_test_entry(b, l) + off;
    uint8_t keep[4];
    mbnn_status st;
    memcpy(keep, e, 4);
    if (size == 1) {
        e[0] = (uint8_t)value;
    } else if (size == 2) {
        e[0] = (uint8_t)value;
        e[1] = (uint8_t)(value >> 8);
    } else {
        mbnn_test_wr32(e, value);
    }
    mbnn_test_fix_crc(b);
    st = init_status(b, len);
    memcpy(e, keep, 4);
    mbnn_test_fix_crc(b);
    return st;
}

static void test_layers(const mbnn_golden *g)
{
    uint8_t *b = mbnn_test_copy_blob(g, edit_words);
    uint32_t len = g->blob_len;
    unsigned l, n_layers = mbnn_test_n_layers(b), learning = 99, plain = 99;

    for (l = 0; l < n_layers; l++) {
        if (mbnn_test_entry(b, l)[1] & 1u) {
            learning = learning == 99 ? l : learning;
        } else {
            plain = plain == 99 ? l : plain;
        }
    }
    /* 7: kind, flags, sizes, shift, learning rate. */
    CHECK_STATUS(layer_case(b, len, 0, 0, 1, 2), MBNN_ERR_BAD_LAYER);
    CHECK_STATUS(layer_case(b, len, n_layers - 1u, 0, 1, 2), MBNN_ERR_BAD_LAYER);
    if (n_layers > 1) {
        CHECK_STATUS(layer_case(b, len, 1, 0, 1, 0), MBNN_ERR_BAD_LAYER);
    }
    CHECK_STATUS(layer_case(b, len, 0, 1, 1, 2), MBNN_ERR_BAD_LAYER);
    CHECK_STATUS(layer_case(b, len, 0, 1, 1, 0x81), MBNN_ERR_BAD_LAYER);
    CHECK_STATUS(layer_case(b, len, 0, 3, 1, 32), MBNN_ERR_BAD_LAYER);
    CHECK_STATUS(layer_case(b, len, 0, 3, 1, 31), MBNN_OK);
    CHECK_STATUS(layer_case(b, len, 0, 4, 2, 0), MBNN_ERR_BAD_LAYER);      /* n_in 0 */
    CHECK_STATUS(layer_case(b, len, 0, 4, 2, 8193), MBNN_ERR_BAD_LAYER);   /* n_in > max */
    CHECK_STATUS(layer_case(b, len, n_layers - 1u, 6, 2, 0), MBNN_ERR_BAD_LAYER); /* n_out 0 */
    CHECK_STATUS(layer_case(b, len, 0, 6, 2, 8193), MBNN_ERR_BAD_LAYER);
    CHECK_STATUS(layer_case(b, len, 0, 8, 4, (1u << 24) + 1u), MBNN_ERR_BAD_LAYER);
    CHECK_STATUS(layer_case(b, len, 0, 8, 4, 1u << 24), MBNN_OK);
    if (n_layers > 1) {
        /* Sizes that do not chain. */
        uint32_t n_out0 = (uint32_t)mbnn_test_entry(b, 0)[6] | ((uint32_t)mbnn_test_entry(b, 0)[7] << 8);
        CHECK_STATUS(layer_case(b, len, 1, 4, 2, n_out0 + 1u), MBNN_ERR_BAD_LAYER);
        CHECK_STATUS(layer_case(b, len, 0, 6, 2, n_out0 - 1u), MBNN_ERR_BAD_LAYER);
    }
    /* 8: offsets of the arrays every layer needs: bits 12, params 20, gscale 24. */
    for (l = 0; l < n_layers; l++) {
        static const unsigned offs[3] = {12, 20, 24};
        unsigned k;
        for (k = 0; k < 3; k++) {
            uint32_t off = mbnn_test_rd32(mbnn_test_entry(b, l) + offs[k]);
            CHECK_STATUS(layer_case(b, len, l, offs[k], 4, 0), MBNN_ERR_BAD_OFFSET);
            CHECK_STATUS(layer_case(b, len, l, offs[k], 4, off + 2u), MBNN_ERR_BAD_OFFSET);
            CHECK_STATUS(layer_case(b, len, l, offs[k], 4, 16), MBNN_ERR_BAD_OFFSET);
            CHECK_STATUS(layer_case(b, len, l, offs[k], 4, 32u + 32u * n_layers - 4u), MBNN_ERR_BAD_OFFSET);
            CHECK_STATUS(layer_case(b, len, l, offs[k], 4, len), MBNN_ERR_BAD_OFFSET);
            CHECK_STATUS(layer_case(b, len, l, offs[k], 4, (len - 4u) & ~3u), MBNN_ERR_BAD_OFFSET);
            CHECK_STATUS(layer_case(b, len, l, offs[k], 4, 0xFFFFFFFCu), MBNN_ERR_BAD_OFFSET);
        }
    }
    if (learning != 99) {
        /* hidden 16 and meta 28 are needed by a layer that learns. */
        CHECK_STATUS(layer_case(b, len, learning, 16, 4, 0), MBNN_ERR_BAD_OFFSET);
        CHECK_STATUS(layer_case(b, len, learning, 16, 4, 0xFFFFFFFCu), MBNN_ERR_BAD_OFFSET);
        CHECK_STATUS(layer_case(b, len, learning, 28, 4, 0), MBNN_ERR_BAD_OFFSET);
        CHECK_STATUS(layer_case(b, len, learning, 28, 4, len - 4u), MBNN_ERR_BAD_OFFSET);
        CHECK_STATUS(layer_case(b, len, learning, 28, 4, 1u + mbnn_test_rd32(mbnn_test_entry(b, learning) + 28)),
                     MBNN_ERR_BAD_OFFSET);
    }
    if (plain != 99) {
        /* ...and ignored by a layer that does not. */
        CHECK_STATUS(layer_case(b, len, plain, 16, 4, 0xFFFFFFF1u), MBNN_OK);
        CHECK_STATUS(layer_case(b, len, plain, 28, 4, 3), MBNN_OK);
    }
    CHECK_STATUS(init_status(b, len), MBNN_OK);
}

/* 9: table values and bits == sign(hidden). */
static void test_weights(const mbnn_golden *g)
{
    uint8_t *b = mbnn_test_copy_blob(g, edit_words);
    unsigned l, n_layers = mbnn_test_n_layers(b);

    for (l = 0; l < n_layers; l++) {
        uint8_t *e = mbnn_test_entry(b, l);
        uint8_t *gscale = b + mbnn_test_rd32(e + 24);
        uint32_t keep = mbnn_test_rd32(gscale);
        mbnn_test_wr32(gscale, 32768u);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_WEIGHTS);
        mbnn_test_wr32(gscale, (uint32_t)-32768);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_WEIGHTS);
        mbnn_test_wr32(gscale, (uint32_t)-32767);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(init_status(b, g->blob_len), MBNN_OK);
        mbnn_test_wr32(gscale, keep);
        if (e[1] & 1u) {
            uint8_t *meta = b + mbnn_test_rd32(e + 28) + 2u * 127u;
            uint8_t *bits = b + mbnn_test_rd32(e + 12);
            int8_t *hidden = (int8_t *)(b + mbnn_test_rd32(e + 16));
            uint8_t m0 = meta[0], m1 = meta[1];
            meta[0] = 0x01; /* 32769 */
            meta[1] = 0x80;
            mbnn_test_fix_crc(b);
            CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_WEIGHTS);
            meta[0] = 0x00; /* 32768 */
            mbnn_test_fix_crc(b);
            CHECK_STATUS(init_status(b, g->blob_len), MBNN_OK);
            meta[0] = m0;
            meta[1] = m1;
            /* A binary weight that disagrees with its hidden weight. */
            bits[0] ^= 1u;
            mbnn_test_fix_crc(b);
            CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_WEIGHTS);
            bits[0] ^= 1u;
            hidden[0] = (int8_t)(-1 - hidden[0]);
            mbnn_test_fix_crc(b);
            CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_WEIGHTS);
            hidden[0] = (int8_t)(-1 - hidden[0]);
        }
        mbnn_test_fix_crc(b);
    }
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_OK);
}

static void test_arena_and_args(const mbnn_golden *g)
{
    mbnn_model m;
    size_t infer_size = 0, learn_size = 0, n = 0;
    int32_t logits[MBNN_GOLDEN_MAX_CLASSES];
    uint16_t pred;
    uint8_t *shifted = (uint8_t *)edit_words + 1;
    mbnn_status learn_st = mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_LEARN, &learn_size);

    CHECK_STATUS(mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_INFER, &infer_size), MBNN_OK);
    CHECK(learn_st == MBNN_OK || learn_st == MBNN_ERR_NO_LEARN);
    CHECK_STATUS(mbnn_arena_size(g->blob, g->blob_len, (mbnn_mode)7, &n), MBNN_OK);
    CHECK_EQ(n, infer_size);
    CHECK_STATUS(mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_INFER, NULL), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_arena_size(NULL, g->blob_len, MBNN_MODE_INFER, &n), MBNN_ERR_NULL);

    /* Arena too small, misaligned, NULL. */
    memset(&m, 0x5A, sizeof(m));
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, infer_size - 1u), MBNN_ERR_ARENA_TOO_SMALL);
    CHECK(model_is_zero(&m));
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, 0), MBNN_ERR_ARENA_TOO_SMALL);
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, (uint8_t *)arena + 2, sizeof(arena) - 2u),
                 MBNN_ERR_ALIGN);
    CHECK(model_is_zero(&m));
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, (uint8_t *)arena + 1, sizeof(arena) - 1u),
                 MBNN_ERR_ALIGN);
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, NULL, sizeof(arena)), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_model_init(&m, NULL, g->blob_len, arena, sizeof(arena)), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_model_init(NULL, g->blob, g->blob_len, arena, sizeof(arena)), MBNN_ERR_NULL);

    /* Misaligned blob. */
    memcpy(shifted, g->blob, g->blob_len);
    CHECK_STATUS(mbnn_model_init(&m, shifted, g->blob_len, arena, sizeof(arena)), MBNN_ERR_ALIGN);
    CHECK_STATUS(mbnn_arena_size(shifted, g->blob_len, MBNN_MODE_INFER, &n), MBNN_ERR_ALIGN);
    CHECK(model_is_zero(&m));

    /* A zeroed (failed) model refuses every call. */
    CHECK_STATUS(mbnn_infer(&m, g->infer_inputs, logits), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_predict(&m, g->infer_inputs, &pred), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_learn(&m, g->infer_inputs, 0, NULL, NULL), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_state_size(&m, &n), MBNN_ERR_NULL);

    /* A good model refuses NULL arguments. */
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, infer_size), MBNN_OK);
    CHECK_STATUS(mbnn_infer(NULL, g->infer_inputs, logits), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_infer(&m, NULL, logits), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_infer(&m, g->infer_inputs, NULL), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_predict(&m, g->infer_inputs, NULL), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_learn(&m, NULL, 0, NULL, NULL), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_state_size(&m, NULL), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_state_save(&m, NULL, 100), MBNN_ERR_NULL);
    CHECK_STATUS(mbnn_state_load(&m, NULL, 100), MBNN_ERR_NULL);

    /* The mode asked for: learning fails at init when the arena is short of the
     * learning size, inference stays inference with any arena; the automatic
     * mode learns exactly from the learning size up. */
    if (learn_st == MBNN_OK) {
        CHECK(learn_size > infer_size);
        memset(&m, 0x5A, sizeof(m));
        CHECK_STATUS(mbnn_model_init_mode(&m, g->blob, g->blob_len, arena, learn_size - 4u, MBNN_MODE_LEARN),
                     MBNN_ERR_ARENA_TOO_SMALL);
        CHECK(model_is_zero(&m));
        CHECK_STATUS(mbnn_model_init_mode(&m, g->blob, g->blob_len, arena, learn_size, MBNN_MODE_LEARN), MBNN_OK);
        CHECK_EQ(m.can_learn, 1);
        CHECK_EQ(m.scratch + m.scratch_len, (uint8_t *)arena + learn_size);
        CHECK_STATUS(mbnn_model_init_mode(&m, g->blob, g->blob_len, arena, sizeof(arena), MBNN_MODE_INFER), MBNN_OK);
        CHECK_EQ(m.can_learn, 0);
        CHECK_EQ(m.scratch + m.scratch_len, (uint8_t *)arena + infer_size);
        CHECK_STATUS(mbnn_learn(&m, g->infer_inputs, 0, NULL, NULL), MBNN_ERR_NO_LEARN);
        CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, learn_size - 4u), MBNN_OK);
        CHECK_EQ(m.can_learn, 0);
        CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, learn_size), MBNN_OK);
        CHECK_EQ(m.can_learn, 1);
    }
    CHECK_STATUS(mbnn_model_init_mode(&m, g->blob, g->blob_len, arena, infer_size - 4u, MBNN_MODE_INFER),
                 MBNN_ERR_ARENA_TOO_SMALL);

    /* No layer learns: the learning size is refused, the model infers. */
    {
        uint8_t *b = mbnn_test_copy_blob(g, edit_words);
        unsigned l, n_layers = mbnn_test_n_layers(b);
        for (l = 0; l < n_layers; l++) {
            mbnn_test_entry(b, l)[1] = 0;
        }
        mbnn_test_fix_crc(b);
        n = 777;
        CHECK_STATUS(mbnn_arena_size(b, g->blob_len, MBNN_MODE_LEARN, &n), MBNN_ERR_NO_LEARN);
        CHECK_EQ(n, 777);
        CHECK_STATUS(mbnn_model_init_mode(&m, b, g->blob_len, arena, sizeof(arena), MBNN_MODE_LEARN),
                     MBNN_ERR_NO_LEARN);
        CHECK(model_is_zero(&m));
        CHECK_STATUS(mbnn_model_init(&m, b, g->blob_len, arena, sizeof(arena)), MBNN_OK);
        CHECK_EQ(m.can_learn, 0);
        CHECK_STATUS(mbnn_learn(&m, g->infer_inputs, 0, NULL, NULL), MBNN_ERR_NO_LEARN);
        if (g->n_infer > 0 && g->infer_logits != NULL) {
            CHECK_STATUS(mbnn_infer(&m, g->infer_inputs, logits), MBNN_OK);
            CHECK(memcmp(logits, g->infer_logits, 4u * g->n_classes) == 0);
        }
    }
}

/* Format version 3: the rehearsal entry after the layer table. Its count
 * and reserved word (step 6), its offsets (step 8) and labels (step 9), each
 * refused with its status; a valid one is bound to the model. */
static void test_rehearsal(const mbnn_golden *g)
{
    uint8_t *b = mbnn_test_copy_blob(g, mbnn_test_blob_buf);
    uint8_t *r = mbnn_test_entry(b, mbnn_test_n_layers(b));
    uint32_t total = mbnn_test_rd32(b + MBNN_HDR_TOTAL_SIZE), count, labels, x, i;
    static const uint32_t bad_count[] = {0u, 65536u, 0xFFFFFFFFu};
    mbnn_model m;

    if (mbnn_test_rd32(b + MBNN_HDR_VERSION) < 3u) {
        return;
    }
    count = mbnn_test_rd32(r + MBNN_REH_COUNT);
    x = mbnn_test_rd32(r + MBNN_REH_OFF_X);
    labels = mbnn_test_rd32(r + MBNN_REH_OFF_LABELS);
    CHECK_STATUS(mbnn_model_init(&m, b, g->blob_len, arena, sizeof(arena)), MBNN_OK);
    CHECK_EQ(m.rehearsal_count, count);
    CHECK(m.rehearsal_x == (const int8_t *)(const void *)(b + x));
    CHECK(m.rehearsal_labels == (const uint16_t *)(const void *)(b + labels));
    for (i = 0; i < 3u; i++) {
        mbnn_test_wr32(r + MBNN_REH_COUNT, bad_count[i]);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_HEADER);
    }
    mbnn_test_wr32(r + MBNN_REH_COUNT, count);
    /* memory slots: above 65535 refused; 3 slots of n_inputs rows and labels
     * more in the learning arena, none in the inference arena */
    {
        size_t learn0, learn3, infer0, infer3;
        uint32_t keep = mbnn_test_rd32(r + MBNN_REH_MEMORY);
        mbnn_test_wr32(r + MBNN_REH_MEMORY, 65536u);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_HEADER);
        mbnn_test_wr32(r + MBNN_REH_MEMORY, 0u);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(mbnn_arena_size(b, g->blob_len, MBNN_MODE_LEARN, &learn0), MBNN_OK);
        CHECK_STATUS(mbnn_arena_size(b, g->blob_len, MBNN_MODE_INFER, &infer0), MBNN_OK);
        mbnn_test_wr32(r + MBNN_REH_MEMORY, 3u);
        mbnn_test_fix_crc(b);
        CHECK_STATUS(mbnn_arena_size(b, g->blob_len, MBNN_MODE_LEARN, &learn3), MBNN_OK);
        CHECK_STATUS(mbnn_arena_size(b, g->blob_len, MBNN_MODE_INFER, &infer3), MBNN_OK);
        CHECK_EQ(learn3 - learn0, ((3u * g->n_inputs + 3u) & ~3u) + 8u);
        CHECK_EQ(infer3, infer0);
        CHECK_STATUS(mbnn_model_init(&m, b, g->blob_len, arena, sizeof(arena)), MBNN_OK);
        CHECK_EQ(m.memory_slots, 3u);
        CHECK_EQ(m.memory_seen, 0u);
        mbnn_test_wr32(r + MBNN_REH_MEMORY, keep);
        mbnn_test_fix_crc(b);
    }
    /* offsets: misaligned, 0, inside the tables, past the end, overflowing */
    {
        static const unsigned fields[] = {MBNN_REH_OFF_X, MBNN_REH_OFF_LABELS};
        uint32_t bad_off[5];
        unsigned f, k;
        bad_off[0] = 2u;
        bad_off[1] = 0u;
        bad_off[2] = (uint32_t)(r - b);
        bad_off[3] = total;
        bad_off[4] = 0xFFFFFFFCu;
        for (f = 0; f < 2u; f++) {
            uint32_t keep = mbnn_test_rd32(r + fields[f]);
            for (k = 0; k < 5u; k++) {
                mbnn_test_wr32(r + fields[f], bad_off[k]);
                mbnn_test_fix_crc(b);
                CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_OFFSET);
            }
            mbnn_test_wr32(r + fields[f], keep);
        }
    }
    /* the last label not a class */
    b[labels + 2u * (count - 1u)] = (uint8_t)g->n_classes;
    b[labels + 2u * (count - 1u) + 1u] = 0u;
    mbnn_test_fix_crc(b);
    CHECK_STATUS(init_status(b, g->blob_len), MBNN_ERR_BAD_WEIGHTS);
}

void mbnn_test_blob(void)
{
    unsigned i;
    for (i = 0; i < MBNN_GOLDEN_COUNT; i++) {
        const mbnn_golden *g = &mbnn_goldens[i];
        thorough = i == 0;
        test_truncated_and_flipped(g, i == 0 ? 3u : 1u);
        thorough = 1;
        test_header(g);
        test_layers(g);
        test_weights(g);
        test_arena_and_args(g);
        test_rehearsal(g);
    }
}
