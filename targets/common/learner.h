/*
 * The stream learner: the firmware application of every board.
 *
 * It reads a stream of samples (docs/TARGETS.md "Stream format"), predicts
 * each one, learns from it when it has a label, and writes a text log: per
 * sample the prediction and a CRC-32 of the logits, at the end the step
 * count, the accuracy and the CRC-32 of the learned state. The host writes the
 * same log through pyruntime (targets/hostlog.py); the two must be
 * byte-identical.
 *
 * The I/O is the board's: semihosting files under QEMU
 * (learner_semihost.c), the serial port on a real board (targets/esp32/),
 * stdio on the host (learner_stdio.c).
 */
#ifndef TARGETS_LEARNER_H
#define TARGETS_LEARNER_H

#include <stddef.h>
#include <stdint.h>

/* mbnn.h's flash callbacks; not included here, because a model header may
 * name its array mbnn_model, as mbnn.h names its type. */
struct mbnn_flash;

#define LEARNER_STREAM_MAGIC "MBSM"
#define LEARNER_STREAM_VERSION 1u
#define LEARNER_STREAM_HEADER 16u
#define LEARNER_NO_LABEL 0xFFFFu

typedef struct {
    /* Read exactly len bytes unless the stream ends; return the bytes read. */
    size_t (*read)(void *ctx, void *buf, size_t len);
    /* Write len bytes of log text. */
    void (*write)(void *ctx, const char *text, size_t len);
    /* Keep the learned state (a file, flash, ...); NULL: not kept. Return 0 on success. */
    int (*save_state)(void *ctx, const void *state, size_t len);
    void *ctx;
    /* Flash for the learned state (docs/STORAGE.md), or NULL: at boot the
     * newest saved state is loaded and the samples it already learned are
     * skipped; every save_every learning steps (0: never) a new record is
     * saved. Log lines: `boot resume seq S step T` or `boot new: REASON`,
     * and `saved seq S step T` after each save. */
    const struct mbnn_flash *flash;
    uint32_t save_every;
} learner_io;

typedef struct {
    const uint8_t *blob; /* 4-byte aligned */
    size_t blob_len;
    uint8_t *arena; /* 4-byte aligned */
    size_t arena_len;
    uint8_t *state; /* room for the learned state */
    size_t state_len;
    int8_t *features; /* room for one sample: n_inputs bytes */
    size_t features_len;
    uint8_t *page; /* with a flash: mbnn_store_page_size bytes */
    size_t page_len;
} learner_memory;

/* Run the whole stream; returns 0 when it ran to the end, else an exit status. */
int learner_run(const learner_io *io, const learner_memory *mem);

/* Instruction-count markers (bench/): empty functions the QEMU plugin watches. */
void learner_mark_infer(void);
void learner_mark_learn(void);
void learner_mark_done(void);

#endif
