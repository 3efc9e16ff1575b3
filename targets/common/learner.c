/* The stream learner (see learner.h). Portable C99, no stdio, no malloc. */
#include "learner.h"

#include <string.h>

#include "mbnn.h"

__attribute__((noinline)) void learner_mark_infer(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void learner_mark_learn(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void learner_mark_done(void) { __asm__ volatile("" ::: "memory"); }

/* A line of log text, built without printf. */
typedef struct {
    char buf[120];
    size_t len;
} line;

static void put_str(line *l, const char *s)
{
    while (*s && l->len < sizeof l->buf)
        l->buf[l->len++] = *s++;
}

static void put_u32(line *l, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n && l->len < sizeof l->buf)
        l->buf[l->len++] = tmp[--n];
}

static void put_hex(line *l, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int shift = 28; shift >= 0 && l->len < sizeof l->buf; shift -= 4)
        l->buf[l->len++] = digits[(v >> shift) & 0xFu];
}

static void emit(const learner_io *io, line *l)
{
    put_str(l, "\n");
    io->write(io->ctx, l->buf, l->len);
    l->len = 0;
}

static int fail(const learner_io *io, const char *what, mbnn_status st)
{
    line l = {{0}, 0};
    put_str(&l, "error ");
    put_str(&l, what);
    put_str(&l, ": ");
    put_str(&l, mbnn_strerror(st));
    emit(io, &l);
    return 1;
}

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int learner_run(const learner_io *io, const learner_memory *mem)
{
    mbnn_model model;
    line l = {{0}, 0};
    uint8_t head[LEARNER_STREAM_HEADER];
    int32_t logits[64];

    mbnn_status st = mbnn_model_init_mode(&model, mem->blob, mem->blob_len, mem->arena, mem->arena_len,
                                          MBNN_MODE_LEARN);
    if (st != MBNN_OK)
        return fail(io, "model", st);
    if (model.n_classes > sizeof logits / sizeof logits[0] || model.n_inputs > mem->features_len)
        return fail(io, "model", MBNN_ERR_BUFFER_TOO_SMALL);

    if (io->read(io->ctx, head, sizeof head) != sizeof head || memcmp(head, LEARNER_STREAM_MAGIC, 4) != 0 ||
        rd_u32(head + 4) != LEARNER_STREAM_VERSION) {
        put_str(&l, "error stream: not a metabnn stream (magic MBSM, version 1)");
        emit(io, &l);
        return 2;
    }
    uint32_t n_samples = rd_u32(head + 8);
    uint32_t n_features = (uint32_t)head[12] | (uint32_t)head[13] << 8;
    if (n_features != model.n_inputs) {
        put_str(&l, "error stream: ");
        put_u32(&l, n_features);
        put_str(&l, " features per sample, the model takes ");
        put_u32(&l, model.n_inputs);
        emit(io, &l);
        return 2;
    }

    put_str(&l, "metabnn-log 1 model ");
    put_hex(&l, model.blob_crc);
    put_str(&l, " inputs ");
    put_u32(&l, model.n_inputs);
    put_str(&l, " classes ");
    put_u32(&l, model.n_classes);
    put_str(&l, " samples ");
    put_u32(&l, n_samples);
    emit(io, &l);

    /* Resume from the flash: the labelled samples the saved state learned are
     * skipped, one per step, or one per two steps with a rehearsal set (each
     * mbnn_learn then takes a second step, on a sample of the set or memory). */
    uint32_t skip = 0;
    if (io->flash != NULL) {
        mbnn_store_info info;
        st = mbnn_store_load(&model, io->flash, mem->page, mem->page_len, &info);
        if (st == MBNN_OK) {
            skip = model.rehearsal_count > 0u ? model.step / 2u : model.step;
            put_str(&l, "boot resume seq ");
            put_u32(&l, info.seq);
            put_str(&l, " step ");
            put_u32(&l, info.step);
        } else if (st == MBNN_ERR_STORE_EMPTY || st == MBNN_ERR_STORE_TORN || st == MBNN_ERR_STATE_MODEL) {
            put_str(&l, "boot new: ");
            put_str(&l, mbnn_strerror(st));
        } else {
            return fail(io, "store", st);
        }
        emit(io, &l);
    }

    /* Calibration: the cost of the markers themselves, for bench/. */
    learner_mark_infer();
    learner_mark_done();

    uint32_t labelled = 0, correct = 0;
    for (uint32_t i = 0; i < n_samples; i++) {
        uint8_t lab[2];
        if (io->read(io->ctx, lab, 2) != 2 || io->read(io->ctx, mem->features, n_features) != n_features) {
            put_str(&l, "error stream: ends at sample ");
            put_u32(&l, i);
            emit(io, &l);
            return 2;
        }
        uint16_t label = (uint16_t)(lab[0] | lab[1] << 8);
        if (skip > 0u) { /* learned before the reset */
            skip -= label != LEARNER_NO_LABEL;
            continue;
        }

        learner_mark_infer();
        st = mbnn_infer(&model, mem->features, logits);
        learner_mark_done();
        if (st != MBNN_OK)
            return fail(io, "infer", st);
        uint16_t pred = 0;
        for (uint16_t k = 1; k < model.n_classes; k++)
            if (logits[k] > logits[pred])
                pred = k;
        /* CRC-32 of the logits' bytes, little-endian int32, as the host sees them. */
        uint32_t zcrc = 0;
        for (uint16_t k = 0; k < model.n_classes; k++) {
            uint32_t v = (uint32_t)logits[k];
            uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
            zcrc = mbnn_crc32(zcrc, b, 4);
        }
        put_str(&l, "s ");
        put_u32(&l, i);
        put_str(&l, " p ");
        put_u32(&l, pred);
        put_str(&l, " z ");
        put_hex(&l, zcrc);

        if (label != LEARNER_NO_LABEL) {
            uint16_t pred_learn = 0;
            uint32_t loss = 0;
            learner_mark_learn();
            st = mbnn_learn(&model, mem->features, label, &pred_learn, &loss);
            learner_mark_done();
            if (st != MBNN_OK) {
                emit(io, &l);
                return fail(io, "learn", st);
            }
            labelled++;
            correct += pred == label;
            put_str(&l, " y ");
            put_u32(&l, label);
            put_str(&l, " l ");
            put_u32(&l, loss);
            if (pred_learn != pred)
                put_str(&l, " learn-prediction-differs");
        }
        emit(io, &l);
        /* Save when the call's steps (one, or two with a rehearsal set) passed a
         * multiple of save_every. */
        if (io->flash != NULL && io->save_every != 0u && label != LEARNER_NO_LABEL &&
            model.step % io->save_every < (model.rehearsal_count > 0u ? 2u : 1u)) {
            mbnn_store_info info;
            st = mbnn_store_save(&model, io->flash, mem->page, mem->page_len, &info);
            if (st != MBNN_OK)
                return fail(io, "store", st);
            put_str(&l, "saved seq ");
            put_u32(&l, info.seq);
            put_str(&l, " step ");
            put_u32(&l, info.step);
            emit(io, &l);
        }
    }

    size_t state_len = 0;
    st = mbnn_state_size(&model, &state_len);
    if (st == MBNN_OK && state_len > mem->state_len)
        st = MBNN_ERR_BUFFER_TOO_SMALL;
    if (st == MBNN_OK)
        st = mbnn_state_save(&model, mem->state, state_len);
    if (st != MBNN_OK)
        return fail(io, "state", st);

    /* Accuracy in hundredths of a percent, rounded half up. */
    uint32_t acc = labelled ? (uint32_t)(((uint64_t)correct * 10000u + labelled / 2u) / labelled) : 0u;
    put_str(&l, "end steps ");
    put_u32(&l, model.step);
    put_str(&l, " labelled ");
    put_u32(&l, labelled);
    put_str(&l, " correct ");
    put_u32(&l, correct);
    put_str(&l, " accuracy ");
    put_u32(&l, acc / 100u);
    put_str(&l, ".");
    put_u32(&l, acc / 10u % 10u);
    put_u32(&l, acc % 10u);
    put_str(&l, "% state ");
    put_hex(&l, mbnn_crc32(0, mem->state, state_len));
    emit(io, &l);

    if (io->save_state && io->save_state(io->ctx, mem->state, state_len) != 0) {
        put_str(&l, "error state: cannot be saved");
        emit(io, &l);
        return 3;
    }
    return 0;
}
