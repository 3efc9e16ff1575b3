/* The device link (see link.h and docs/LINK.md). Portable C99, no stdio, no malloc. */
#include "link.h"

#include <string.h>

#define MAX_CLASSES 64u

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

/* One frame: head (len_a bytes) then data (len_b bytes) as the payload. */
static void send(const link_io *io, uint8_t type, uint8_t seq, const uint8_t *a, size_t len_a,
                 const uint8_t *b, size_t len_b)
{
    uint8_t head[2 + LINK_HEADER], tail[4];
    head[0] = LINK_SYNC0;
    head[1] = LINK_SYNC1;
    head[2] = type;
    head[3] = seq;
    wr16(head + 4, (uint16_t)(len_a + len_b));
    uint32_t crc = mbnn_crc32(0, head + 2, LINK_HEADER);
    crc = mbnn_crc32(crc, a, len_a);
    crc = mbnn_crc32(crc, b, len_b);
    wr32(tail, crc);
    io->write(io->ctx, head, sizeof head);
    if (len_a)
        io->write(io->ctx, a, len_a);
    if (len_b)
        io->write(io->ctx, b, len_b);
    io->write(io->ctx, tail, sizeof tail);
}

static int error(const link_io *io, uint8_t seq, uint8_t code, mbnn_status st, const char *text)
{
    uint8_t head[2] = {code, (uint8_t)st};
    send(io, LINK_ERROR, seq, head, 2, (const uint8_t *)text, strlen(text));
    return 0;
}

static int runtime_error(const link_io *io, uint8_t seq, mbnn_status st)
{
    return error(io, seq, LINK_ERR_RUNTIME, st, mbnn_strerror(st));
}

mbnn_status link_init(link_session *s, const link_memory *mem)
{
    memset(s, 0, sizeof *s);
    s->blob = mem->blob;
    s->blob_len = mem->blob_len;
    return mbnn_model_init(&s->model, s->blob, s->blob_len, mem->arena, mem->arena_len);
}

/* Predict one sample: the class and the logits. */
static mbnn_status predict(link_session *s, const int8_t *x, int32_t *logits, uint16_t *pred)
{
    mbnn_status st = mbnn_infer(&s->model, x, logits);
    *pred = 0;
    for (uint16_t k = 1; st == MBNN_OK && k < s->model.n_classes; k++)
        if (logits[k] > logits[*pred])
            *pred = k;
    return st;
}

/* A chunk of a pushed state or model into buf; at the last chunk, returns 1. */
static int stage(link_session *s, const link_io *io, uint8_t seq, uint8_t type, const uint8_t *p, uint16_t len,
                 uint8_t *buf, size_t buf_len)
{
    if (len < 8)
        return error(io, seq, LINK_ERR_PAYLOAD, MBNN_OK, "a push chunk starts with u32 total, u32 offset"), -1;
    uint32_t total = rd32(p), offset = rd32(p + 4), n = (uint32_t)len - 8u;
    if (buf == NULL || total > buf_len)
        return error(io, seq, LINK_ERR_NO_ROOM, MBNN_OK, "larger than the device's buffer"), -1;
    if (offset != (s->staging == type ? s->staged : 0u) || n > total - offset)
        return error(io, seq, LINK_ERR_PAYLOAD, MBNN_OK, "chunk out of order: start again at offset 0"), -1;
    if (offset == 0)
        s->staging = type;
    memcpy(buf + offset, p + 8, n);
    s->staged = offset + n;
    uint8_t out[4];
    wr32(out, s->staged);
    if (s->staged < total) {
        send(io, (uint8_t)(type | LINK_RESPONSE), seq, out, 4, NULL, 0);
        return 0;
    }
    s->staging = 0;
    s->staged = 0;
    return 1;
}

static int handle(link_session *s, const link_memory *mem, const link_io *io, uint8_t type, uint8_t seq,
                  const uint8_t *p, uint16_t len)
{
    uint8_t out[8 + 4 * MAX_CLASSES + 24];
    int32_t logits[MAX_CLASSES];
    uint8_t *o = out;
    uint16_t n_in = s->model.n_inputs, pred = 0;
    mbnn_status st;
    uint8_t rtype = (uint8_t)(type | LINK_RESPONSE);

    if (s->model.n_classes > MAX_CLASSES && (type == LINK_SAMPLE || type == LINK_LABELLED || type == LINK_PREDICT))
        return runtime_error(io, seq, MBNN_ERR_BUFFER_TOO_SMALL);
    if (s->staging && type != s->staging) /* another request ends an unfinished push */
        s->staging = 0, s->staged = 0;

    switch (type) {
    case LINK_INFO: {
        size_t state_len = 0;
        if (s->model.can_learn)
            (void)mbnn_state_size(&s->model, &state_len);
        *o++ = LINK_VERSION;
        *o++ = s->model.can_learn;
        o = wr16(o, n_in);
        o = wr16(o, s->model.n_classes);
        o = wr32(o, s->model.blob_crc);
        o = wr32(o, s->model.step);
        o = wr32(o, (uint32_t)state_len);
        o = wr16(o, LINK_MAX_PAYLOAD);
        o = wr32(o, (uint32_t)mem->model_buf_len);
        break;
    }
    case LINK_SAMPLE:
    case LINK_PREDICT:
        if (len != n_in)
            return error(io, seq, LINK_ERR_PAYLOAD, MBNN_OK, "a sample is n_inputs int8 features");
        st = predict(s, (const int8_t *)p, logits, &pred);
        if (st != MBNN_OK)
            return runtime_error(io, seq, st);
        o = wr16(o, pred);
        if (type == LINK_SAMPLE) {
            s->samples++;
        } else {
            for (uint16_t k = 0; k < s->model.n_classes; k++)
                o = wr32(o, (uint32_t)logits[k]);
        }
        break;
    case LINK_LABELLED: {
        if (len != 2u + n_in)
            return error(io, seq, LINK_ERR_PAYLOAD, MBNN_OK, "a labelled sample is u16 label + n_inputs int8 features");
        uint16_t label = rd16(p), before = 0;
        uint32_t loss = 0;
        st = predict(s, (const int8_t *)(p + 2), logits, &pred);
        if (st == MBNN_OK)
            st = mbnn_learn(&s->model, (const int8_t *)(p + 2), label, &before, &loss);
        if (st != MBNN_OK)
            return runtime_error(io, seq, st);
        uint32_t hit = pred == label;
        s->samples++;
        s->labelled++;
        s->correct += hit;
        /* exponential averages with weight 1/32, started at the first value */
        if (s->labelled == 1) {
            s->acc_q16 = hit << 16;
            s->loss_q15 = loss;
        } else {
            s->acc_q16 = s->acc_q16 - (s->acc_q16 >> 5) + ((hit << 16) >> 5);
            s->loss_q15 = s->loss_q15 - (s->loss_q15 >> 5) + (loss >> 5);
        }
        o = wr16(o, pred);
        o = wr32(o, loss);
        o = wr32(o, s->model.step);
        break;
    }
    case LINK_STATS:
        if (len != 0)
            return error(io, seq, LINK_ERR_PAYLOAD, MBNN_OK, "stats takes no payload");
        o = wr32(o, s->samples);
        o = wr32(o, s->labelled);
        o = wr32(o, s->correct);
        o = wr32(o, s->model.step);
        o = wr32(o, s->acc_q16);
        o = wr32(o, s->loss_q15);
        break;
    case LINK_PULL_STATE: {
        size_t state_len = 0;
        if (len != 6)
            return error(io, seq, LINK_ERR_PAYLOAD, MBNN_OK, "pull state takes u32 offset, u16 max");
        st = mbnn_state_size(&s->model, &state_len);
        if (st == MBNN_OK && state_len > mem->state_len)
            st = MBNN_ERR_BUFFER_TOO_SMALL;
        uint32_t offset = rd32(p), max = rd16(p + 4);
        if (st == MBNN_OK && offset == 0) /* a snapshot, served chunk by chunk */
            st = mbnn_state_save(&s->model, mem->state, state_len);
        if (st != MBNN_OK)
            return runtime_error(io, seq, st);
        if (offset > state_len)
            return error(io, seq, LINK_ERR_PAYLOAD, MBNN_OK, "offset past the end of the state");
        uint32_t n = (uint32_t)state_len - offset;
        if (n > max)
            n = max;
        if (n > LINK_MAX_PAYLOAD - 8u)
            n = LINK_MAX_PAYLOAD - 8u;
        o = wr32(o, (uint32_t)state_len);
        o = wr32(o, offset);
        send(io, rtype, seq, out, (size_t)(o - out), mem->state + offset, n);
        return type;
    }
    case LINK_PUSH_STATE: {
        int done = stage(s, io, seq, LINK_PUSH_STATE, p, len, mem->state, mem->state_len);
        if (done <= 0)
            return done < 0 ? 0 : type;
        st = mbnn_state_load(&s->model, mem->state, rd32(p)); /* checked first: on error nothing changes */
        if (st != MBNN_OK)
            return runtime_error(io, seq, st);
        o = wr32(o, rd32(p));
        break;
    }
    case LINK_PUSH_MODEL: {
        if (len >= 8 && rd32(p + 4) == 0 && s->blob == mem->model_buf && mem->model_buf != NULL) {
            /* the buffer is about to be overwritten: back to the compiled-in model meanwhile */
            st = link_init(s, mem);
            if (st != MBNN_OK)
                return runtime_error(io, seq, st);
        }
        int done = stage(s, io, seq, LINK_PUSH_MODEL, p, len, mem->model_buf, mem->model_buf_len);
        if (done <= 0)
            return done < 0 ? 0 : type;
        uint32_t total = rd32(p);
        size_t need = 0;
        mbnn_model fresh;
        st = mbnn_arena_size(mem->model_buf, total, MBNN_MODE_LEARN, &need);
        if (st == MBNN_OK && need > mem->arena_len)
            st = MBNN_ERR_ARENA_TOO_SMALL;
        if (st == MBNN_OK)
            st = mbnn_model_init(&fresh, mem->model_buf, total, mem->arena, mem->arena_len);
        if (st != MBNN_OK) {
            /* the model buffer was overwritten: a model that lived there is gone, go back to the compiled-in one */
            if (s->blob == mem->model_buf)
                (void)link_init(s, mem);
            return runtime_error(io, seq, st);
        }
        memset(s, 0, sizeof *s);
        s->model = fresh;
        s->blob = mem->model_buf;
        s->blob_len = total;
        o = wr32(o, total);
        break;
    }
    case LINK_RESET: {
        const uint8_t *blob = s->blob;
        size_t blob_len = s->blob_len;
        memset(s, 0, sizeof *s);
        s->blob = blob;
        s->blob_len = blob_len;
        st = mbnn_model_init(&s->model, blob, blob_len, mem->arena, mem->arena_len);
        if (st != MBNN_OK)
            return runtime_error(io, seq, st);
        break;
    }
    default:
        return error(io, seq, LINK_ERR_TYPE, MBNN_OK, "unknown request type");
    }
    send(io, rtype, seq, out, (size_t)(o - out), NULL, 0);
    return type;
}

int link_serve_one(link_session *s, const link_memory *mem, const link_io *io)
{
    uint8_t *head = mem->frame, *payload = mem->frame + 8;
    int prev = -1, c;
    /* hunt for the sync bytes: anything else between frames is skipped */
    while ((c = io->read_byte(io->ctx)) >= 0) {
        if (prev == LINK_SYNC0 && c == LINK_SYNC1)
            break;
        prev = c;
    }
    for (unsigned i = 0; i < LINK_HEADER; i++)
        head[i] = (uint8_t)io->read_byte(io->ctx);
    uint8_t type = head[0], seq = head[1];
    uint16_t len = rd16(head + 2);
    if (len > LINK_MAX_PAYLOAD) /* not read on: the host starts over with the next frame */
        return error(io, seq, LINK_ERR_LENGTH, MBNN_OK, "payload longer than the link's maximum");
    for (uint16_t i = 0; i < len + 4u; i++)
        payload[i] = (uint8_t)io->read_byte(io->ctx);
    uint32_t crc = mbnn_crc32(mbnn_crc32(0, head, 4), payload, len);
    if (crc != rd32(payload + len))
        return error(io, seq, LINK_ERR_CRC, MBNN_OK, "frame CRC mismatch: not acted on");
    return handle(s, mem, io, type, seq, payload, len);
}
