/*
 * The device link: a framed request/response protocol over a serial port
 * (docs/LINK.md). The host sends a request frame, the device answers with
 * exactly one frame: the response (type | 0x80) or an error frame (0xFF).
 *
 *   frame = 0xA5 0x5A | type u8 | seq u8 | len u16 | payload[len] | crc32 u32
 *
 * little-endian; the CRC-32 (IEEE, as zlib) covers type, seq, len and the
 * payload. A frame with a bad CRC, a length over LINK_MAX_PAYLOAD, an unknown
 * type or a payload of the wrong size gets an error frame and changes nothing.
 *
 * Portable C99, no malloc, no globals: the caller owns every buffer (in
 * link_memory) and the session (link_session).
 */
#ifndef TARGETS_LINK_H
#define TARGETS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "mbnn.h"

#define LINK_SYNC0 0xA5u
#define LINK_SYNC1 0x5Au
#define LINK_VERSION 1u
#define LINK_MAX_PAYLOAD 2048u
#define LINK_HEADER 4u /* type, seq, len u16 after the two sync bytes */

/* Requests (host -> device); the response has type | LINK_RESPONSE. */
enum {
    LINK_INFO = 0x01,        /* -> version, sizes, model CRC, step, state bytes */
    LINK_SAMPLE = 0x02,      /* int8[n_inputs]: predict (counted in the statistics) -> class */
    LINK_LABELLED = 0x03,    /* u16 label, int8[n_inputs]: predict, then learn -> class, loss, step */
    LINK_PREDICT = 0x04,     /* int8[n_inputs] -> class and the logits (not counted) */
    LINK_STATS = 0x05,       /* -> counts, running accuracy and loss */
    LINK_PULL_STATE = 0x06,  /* u32 offset, u16 max -> u32 total, u32 offset, bytes */
    LINK_PUSH_STATE = 0x07,  /* u32 total, u32 offset, bytes -> u32 received (loads at the last chunk) */
    LINK_PUSH_MODEL = 0x08,  /* u32 total, u32 offset, bytes -> u32 received (switches at the last chunk) */
    LINK_RESET = 0x09,       /* -> nothing: the model forgets what it learned, statistics restart */
    LINK_RESPONSE = 0x80,
    LINK_ERROR = 0xFF        /* u8 code, u8 mbnn_status, text */
};

/* Error codes of an error frame. */
enum {
    LINK_ERR_CRC = 1,       /* the frame's CRC does not match: it was not acted on */
    LINK_ERR_LENGTH = 2,    /* payload longer than LINK_MAX_PAYLOAD */
    LINK_ERR_TYPE = 3,      /* unknown request type */
    LINK_ERR_PAYLOAD = 4,   /* payload of the wrong size or a chunk out of order */
    LINK_ERR_RUNTIME = 5,   /* the runtime returned an error status (second byte) */
    LINK_ERR_NO_ROOM = 6    /* a pushed state or model is larger than the device's buffer */
};

typedef struct {
    /* Block until one byte arrives; return it (0..255). */
    int (*read_byte)(void *ctx);
    /* Write len bytes. */
    void (*write)(void *ctx, const uint8_t *data, size_t len);
    void *ctx;
} link_io;

typedef struct {
    const uint8_t *blob; /* the compiled-in model, 4-byte aligned */
    size_t blob_len;
    uint8_t *arena; /* 4-byte aligned */
    size_t arena_len;
    uint8_t *state; /* staging buffer for pulled and pushed states */
    size_t state_len;
    uint8_t *model_buf; /* room for a pushed model (4-byte aligned); NULL: push model disabled */
    size_t model_buf_len;
    uint8_t *frame; /* LINK_MAX_PAYLOAD + 16 bytes, 4-byte aligned */
} link_memory;

typedef struct {
    mbnn_model model;
    const uint8_t *blob; /* the model in use: mem->blob or mem->model_buf */
    size_t blob_len;
    uint32_t samples, labelled, correct;
    uint32_t acc_q16;  /* running accuracy, exponential average (1/32) of correct, Q16 */
    uint32_t loss_q15; /* running loss, exponential average (1/32) of 32768 - p(label), Q15 */
    uint32_t staged;   /* bytes of a state or model received so far */
    uint8_t staging;   /* 0, LINK_PUSH_STATE or LINK_PUSH_MODEL: what the staged bytes are */
} link_session;

/* Bind the compiled-in model; MBNN_OK or the runtime's status. */
mbnn_status link_init(link_session *s, const link_memory *mem);

/* Read one request frame and answer it; returns the request's type, or 0 when
 * the frame was rejected (an error frame was sent). */
int link_serve_one(link_session *s, const link_memory *mem, const link_io *io);

#endif
