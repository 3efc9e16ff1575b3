/* The runtime against the golden data of the integer reference
 * (pyruntime/reference.py through tests/data/make_golden.py): logits,
 * predictions, the learning sequence and the learned state. */
#include <string.h>

#include "mbnn_test.h"
#include "mbnn_format.h" /* layer-entry offsets (generated) */

#define arena mbnn_test_arena_a
#define blob_words mbnn_test_blob_buf
#define state mbnn_test_state_buf[0]
#define state2 mbnn_test_state_buf[1]

static int has_learning_layer(const mbnn_golden *g)
{
    size_t n;
    return mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_LEARN, &n) == MBNN_OK;
}

/* argmax with ties to the lowest index. */
static uint16_t argmax(const int32_t *z, uint32_t n)
{
    uint32_t i, best = 0;
    for (i = 1; i < n; i++) {
        best = z[i] > z[best] ? i : best;
    }
    return (uint16_t)best;
}

/* The work buffer of mbnn_infer_batch: none on the boards (their samples go
 * one by one; a batch of 2 is enough there, and RAM is short), room for the
 * blocked kernels of x86-64 hosts and 16 samples. */
#if defined(__x86_64__)
static uint32_t batch_work[16384];
#define BATCH_SAMPLES 16u
#else
#define batch_work mbnn_test_arena_b
#define BATCH_SAMPLES 2u
#endif

/* mbnn_infer_batch gives the logits of mbnn_infer, on all the inputs at once
 * and on all but the last (blocks of 3 samples with a remainder). */
static void check_batch(const mbnn_golden *g, mbnn_model *m)
{
    static int32_t batch[BATCH_SAMPLES * MBNN_GOLDEN_MAX_CLASSES];
    int32_t one[MBNN_GOLDEN_MAX_CLASSES];
    size_t need = 0;
    uint32_t n, i, bad = 0, count, total = g->n_infer < BATCH_SAMPLES ? g->n_infer : BATCH_SAMPLES;

    CHECK_STATUS(mbnn_batch_work_size(m, &need), MBNN_OK);
    CHECK(need <= sizeof(batch_work));
    if (need > sizeof(batch_work)) {
        return;
    }
    for (count = total; count + 1u >= total && count > 0u; count--) {
        memset(batch, 0x5A, sizeof(batch));
        CHECK_STATUS(mbnn_infer_batch(m, g->infer_inputs, count, batch, batch_work, need), MBNN_OK);
        for (n = 0; n < count; n++) {
            CHECK_STATUS(mbnn_infer(m, g->infer_inputs + (size_t)n * g->n_inputs, one), MBNN_OK);
            for (i = 0; i < g->n_classes; i++) {
                bad += batch[(size_t)n * g->n_classes + i] != one[i];
            }
        }
    }
    CHECK_EQ(bad, 0);
    if (need > 0u) {
        CHECK_STATUS(mbnn_infer_batch(m, g->infer_inputs, 2, batch, batch_work, need - 1u),
                     MBNN_ERR_ARENA_TOO_SMALL);
        CHECK_STATUS(mbnn_infer_batch(m, g->infer_inputs, 2, batch, NULL, need), MBNN_ERR_NULL);
    }
}

/* Logits and predictions of every infer input equal the expected ones
 * (want_preds NULL: the argmax of want_logits). */
static void check_inference(const mbnn_golden *g, mbnn_model *m, const int32_t *want_logits,
                            const uint16_t *want_preds)
{
    uint32_t n, i, bad_logits = 0, bad_pred = 0;
    for (n = 0; n < g->n_infer; n++) {
        int32_t logits[MBNN_GOLDEN_MAX_CLASSES];
        uint16_t pred = 0xFFFF;
        const int8_t *x = g->infer_inputs + (size_t)n * g->n_inputs;
        CHECK_STATUS(mbnn_infer(m, x, logits), MBNN_OK);
        CHECK_STATUS(mbnn_predict(m, x, &pred), MBNN_OK);
        for (i = 0; i < g->n_classes; i++) {
            bad_logits += want_logits != NULL && logits[i] != want_logits[(size_t)n * g->n_classes + i];
        }
        if (want_preds != NULL) {
            bad_pred += pred != want_preds[n];
        } else if (want_logits != NULL) {
            bad_pred += pred != argmax(want_logits + (size_t)n * g->n_classes, g->n_classes);
        }
    }
    CHECK_EQ(bad_logits, 0);
    CHECK_EQ(bad_pred, 0);
    check_batch(g, m);
}


/* Learn the golden sequence; predictions and losses equal the expected ones. */
static void learn_sequence(const mbnn_golden *g, mbnn_model *m, uint32_t from, uint32_t to)
{
    uint32_t n, bad_pred = 0, bad_loss = 0;
    for (n = from; n < to; n++) {
        uint16_t pred = 0xFFFF;
        uint32_t loss = 0xFFFFFFFFu;
        CHECK_STATUS(mbnn_learn(m, g->learn_inputs + (size_t)n * g->n_inputs, g->learn_labels[n], &pred,
                                &loss),
                     MBNN_OK);
        bad_pred += g->learn_predictions != NULL && pred != g->learn_predictions[n];
        bad_loss += g->learn_losses != NULL && loss != g->learn_losses[n];
    }
    CHECK_EQ(bad_pred, 0);
    CHECK_EQ(bad_loss, 0);
}

static void test_golden_one(const mbnn_golden *g)
{
    mbnn_model m;
    size_t infer_size = 0, learn_size = 0, state_size = 0;
    int learns = has_learning_layer(g);

    printf("golden %s: %u bytes, %u inputs, %u classes, %u infer, %u learn samples\n", g->name,
           (unsigned)g->blob_len, (unsigned)g->n_inputs, (unsigned)g->n_classes, (unsigned)g->n_infer,
           (unsigned)g->n_learn);
    if (g->infer_logits == NULL || g->learn_predictions == NULL || !g->has_state) {
        printf("golden %s: NOTE: expected outputs incomplete, some checks skipped\n", g->name);
    }
    CHECK_STATUS(mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_INFER, &infer_size), MBNN_OK);
    CHECK(infer_size > 0 && infer_size <= sizeof(arena));
    CHECK_EQ(infer_size, g->arena_infer);
    CHECK_EQ(learns, g->arena_learn > 0);
    if (learns) {
        CHECK_STATUS(mbnn_arena_size(g->blob, g->blob_len, MBNN_MODE_LEARN, &learn_size), MBNN_OK);
        CHECK(learn_size > infer_size && learn_size <= sizeof(arena));
        CHECK_EQ(learn_size, g->arena_learn);
    }
    if (infer_size > sizeof(arena) || learn_size > sizeof(arena)) {
        return;
    }

    /* Inference only: exactly the inference arena. */
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, infer_size), MBNN_OK);
    CHECK_EQ(m.can_learn, 0);
    CHECK_EQ(m.n_inputs, g->n_inputs);
    CHECK_EQ(m.n_classes, g->n_classes);
    check_inference(g, &m, g->infer_logits, g->infer_predictions);
    if (g->n_learn > 0) {
        CHECK_STATUS(mbnn_learn(&m, g->learn_inputs, g->learn_labels[0], NULL, NULL), MBNN_ERR_NO_LEARN);
    }
    CHECK_STATUS(mbnn_state_size(&m, &state_size), MBNN_ERR_NO_LEARN);
    if (!learns) {
        return;
    }
    /* One byte short of the learning arena: inference only. */
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, learn_size - 1u), MBNN_OK);
    CHECK_EQ(m.can_learn, 0);

    /* Learning model: same inference, then the learning sequence. */
    CHECK_STATUS(mbnn_model_init(&m, g->blob, g->blob_len, arena, learn_size), MBNN_OK);
    CHECK_EQ(m.can_learn, 1);
    CHECK_EQ(m.step, 0);
    check_inference(g, &m, g->infer_logits, g->infer_predictions);
    learn_sequence(g, &m, 0, g->n_learn);
    CHECK_STATUS(mbnn_state_size(&m, &state_size), MBNN_OK);
    if (g->has_step) {
        CHECK_EQ(m.step, g->step_after);
    }
    if (g->has_state) {
        CHECK_EQ(state_size, g->state_size);
    }
    if (state_size <= sizeof(state)) {
        CHECK_STATUS(mbnn_state_save(&m, state, sizeof(state)), MBNN_OK);
        if (g->has_state) {
            CHECK_EQ(mbnn_crc32(0, state, state_size), g->state_crc);
        }
    }
    if (g->logits_after != NULL) {
        check_inference(g, &m, g->logits_after, NULL);
    }
    /* Inference changes nothing of the learned state. */
    if (g->has_state && state_size <= sizeof(state)) {
        CHECK_EQ(m.step, MBNN_TEST_STEPS(&m, g->n_learn));
        CHECK_STATUS(mbnn_state_save(&m, state, sizeof(state)), MBNN_OK);
        CHECK_EQ(mbnn_crc32(0, state, state_size), g->state_crc);
    }

    /* Padding bits of every row set to 1 in the blob: nothing changes. */
    {
        uint8_t *b = mbnn_test_copy_blob(g, blob_words);
        unsigned l, n_layers = mbnn_test_n_layers(b);
        mbnn_model m2;
        for (l = 0; l < n_layers; l++) {
            const uint8_t *e = mbnn_test_entry(b, l);
            uint32_t n_in = (uint32_t)e[4] | ((uint32_t)e[5] << 8);
            uint32_t n_out = (uint32_t)e[6] | ((uint32_t)e[7] << 8);
            /* A row is `groups` groups of n bits, each padded to whole words:
             * one group of n_in (dense), kh * kw groups of in_c (conv). */
            int conv = mbnn_test_rd32(b + 4) > 1u && e[MBNN_LAYER_OP] != MBNN_OP_DENSE;
            uint32_t n = conv ? ((uint32_t)e[MBNN_LAYER_IN_C] | ((uint32_t)e[MBNN_LAYER_IN_C + 1u] << 8)) : n_in;
            uint32_t groups = conv ? (uint32_t)e[MBNN_LAYER_KH] * e[MBNN_LAYER_KW] : 1u;
            uint32_t words = (n + 31u) / 32u, i;
            uint8_t *bits = b + mbnn_test_rd32(e + 12);
            if (n % 32u == 0u) {
                continue;
            }
            for (i = 0; i < n_out * groups; i++) {
                uint8_t *last = bits + 4u * (i * words + words - 1u);
                mbnn_test_wr32(last, mbnn_test_rd32(last) | ~((1u << (n % 32u)) - 1u));
            }
        }
        mbnn_test_fix_crc(b);
        CHECK_STATUS(mbnn_model_init(&m2, b, g->blob_len, arena, learn_size), MBNN_OK);
        check_inference(g, &m2, g->infer_logits, g->infer_predictions);
        learn_sequence(g, &m2, 0, g->n_learn);
        CHECK_STATUS(mbnn_state_save(&m2, state2, sizeof(state2)), MBNN_OK);
        /* Same hidden weights, statistics and step; only the model CRC and
         * the state CRC in the header differ. */
        CHECK(memcmp(state + 20, state2 + 20, state_size - 20u) == 0);
        if (g->logits_after != NULL) {
            check_inference(g, &m2, g->logits_after, NULL);
        }
    }
}

void mbnn_test_golden(void)
{
    unsigned i;
    for (i = 0; i < MBNN_GOLDEN_COUNT; i++) {
        test_golden_one(&mbnn_goldens[i]);
    }
}
