/*
 * metabnn: a binarized neural network that keeps learning on a microcontroller
 * with synaptic metaplasticity (Laborieux et al., Nature Communications 12:2549,
 * 2021).
 *
 * The format of the blob is docs/FORMAT.md; the arithmetic is docs/ARITHMETIC.md.
 * C99, no malloc, no globals: the caller owns the model struct and the arena.
 *
 * Compile-time options (define before including, or with -D):
 *   MBNN_POPCOUNT_BUILTIN  1: use __builtin_popcount (gcc, clang) for popcount;
 *                          0: portable SWAR popcount. Default: 1 on gcc/clang.
 *                          (Used by the reference kernels; the optimized ones
 *                          never call a library popcount.)
 *   MBNN_KERNELS           1: the optimized forward kernels (carry-save
 *                          popcount, partial-sum tables for int8 input; on
 *                          x86-64 a POPCNT kernel chosen at run time by CPU
 *                          feature); 0: the plain reference kernels. Both
 *                          give the same numbers bit for bit. Default: 1.
 *   MBNN_X86_DISPATCH      1: on x86-64 with gcc/clang, pick the POPCNT kernel
 *                          at run time (__builtin_cpu_supports). Default: 1
 *                          there when MBNN_KERNELS is 1, else 0.
 */
#ifndef MBNN_H
#define MBNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MBNN_FORMAT_VERSION 1u
#define MBNN_STATE_VERSION 1u
#define MBNN_MAX_LAYERS 8
#define MBNN_MAX_WIDTH 8192

typedef enum {
    MBNN_OK = 0,
    MBNN_ERR_NULL,             /* a required pointer is NULL */
    MBNN_ERR_TRUNCATED,        /* blob shorter than its header says */
    MBNN_ERR_BAD_MAGIC,        /* not a .mbnn blob */
    MBNN_ERR_VERSION,          /* blob format version not supported (newer) */
    MBNN_ERR_CRC,              /* blob CRC mismatch */
    MBNN_ERR_BAD_HEADER,       /* header field out of range */
    MBNN_ERR_BAD_LAYER,        /* layer kind, flags or sizes invalid */
    MBNN_ERR_BAD_OFFSET,       /* array offset misaligned or out of range */
    MBNN_ERR_BAD_WEIGHTS,      /* table values out of range or bits != sign(hidden) */
    MBNN_ERR_ARENA_TOO_SMALL,  /* arena smaller than mbnn_arena_size says */
    MBNN_ERR_ALIGN,            /* blob or arena not 4-byte aligned */
    MBNN_ERR_NO_LEARN,         /* no layer learns, or the arena was sized for inference */
    MBNN_ERR_BAD_LABEL,        /* label >= number of classes */
    MBNN_ERR_BUFFER_TOO_SMALL, /* output buffer smaller than needed */
    MBNN_ERR_STATE_CORRUPT,    /* learned state: bad size, magic, version, CRC or value */
    MBNN_ERR_STATE_MODEL,      /* learned state belongs to another model */
    MBNN_STATUS_COUNT
} mbnn_status;

typedef enum { MBNN_MODE_INFER = 0, MBNN_MODE_LEARN = 1 } mbnn_mode;

/* One layer as bound by mbnn_model_init: pointers into the blob (flash) and
 * the arena (RAM). Read-only for the caller. */
typedef struct {
    uint8_t input_kind; /* 0 int8 features, 1 bits */
    uint8_t learns;
    uint8_t bwd_shift;
    uint16_t n_in, n_out;
    uint16_t words; /* u32 words per row */
    uint32_t lr_q16;
    uint32_t base; /* index of weight (0, 0) in the generator's numbering */
    const uint32_t *bits;  /* blob bits, or arena copy when learning */
    uint32_t *bits_rw;     /* arena copy of the bits (learning only) */
    int8_t *hidden;        /* arena copy of the hidden weights (learning only) */
    uint32_t *rms;         /* running mean square of each neuron's error (learning only) */
    const int32_t *p0, *p1, *p2; /* hidden: threshold, lo, hi; output: scale, offset, NULL */
    const int32_t *gscale;
    const uint16_t *meta;
} mbnn_layer;

/* A model bound to a blob and an arena. Allocate it yourself (stack, static,
 * anywhere); it holds no pointer to itself, so it may be copied only together
 * with its arena. */
typedef struct {
    const uint8_t *blob;
    uint32_t blob_crc;
    uint32_t seed;
    uint32_t step;
    int8_t zero_point;
    uint8_t out_frac_bits;
    uint8_t rms_shift;
    uint8_t n_layers;
    uint8_t can_learn; /* the arena was large enough for learning and a layer learns */
    uint16_t n_inputs, n_classes;
    mbnn_layer layers[MBNN_MAX_LAYERS];
    uint8_t *scratch; /* arena space for activations and errors */
    size_t scratch_len;
} mbnn_model;

/* Human-readable name of a status ("blob CRC mismatch"); never NULL. */
const char *mbnn_strerror(mbnn_status status);

/* Validate a blob and report the arena bytes needed for a mode. For
 * MBNN_MODE_LEARN on a blob in which no layer learns: MBNN_ERR_NO_LEARN (and
 * *arena_len is left alone). A mode other than MBNN_MODE_LEARN counts as
 * MBNN_MODE_INFER. */
mbnn_status mbnn_arena_size(const void *blob, size_t blob_len, mbnn_mode mode,
                            size_t *arena_len);

/* Validate the blob and bind it with a caller-owned, 4-byte aligned arena. The
 * blob must stay valid and unchanged while the model is used. If the arena holds
 * the MBNN_MODE_LEARN size and a layer learns, the model can learn; else it is
 * inference only. On error nothing is bound and *model is zeroed. */
mbnn_status mbnn_model_init(mbnn_model *model, const void *blob, size_t blob_len,
                            void *arena, size_t arena_len);

/* Logits (n_classes int32, fixed point with out_frac_bits fraction bits) for
 * one sample of n_inputs int8 features. */
mbnn_status mbnn_infer(mbnn_model *model, const int8_t *x, int32_t *logits);

/* The argmax of the logits (ties: lowest index). */
mbnn_status mbnn_predict(mbnn_model *model, const int8_t *x, uint16_t *prediction);

/* One learning step on one labelled sample. *prediction receives the class
 * predicted before the update, *loss the Q15 figure 32768 - p(label). Either
 * output pointer may be NULL. On error nothing changes. */
mbnn_status mbnn_learn(mbnn_model *model, const int8_t *x, uint16_t label,
                       uint16_t *prediction, uint32_t *loss);

/* Bytes of the learned state (docs/FORMAT.md "Learned state"). */
mbnn_status mbnn_state_size(const mbnn_model *model, size_t *size);

/* Write the learned state into buf (buf_len >= mbnn_state_size). */
mbnn_status mbnn_state_save(const mbnn_model *model, void *buf, size_t buf_len);

/* Replace the learned state with a saved one. Everything is checked first; on
 * error the model keeps the state it had. */
mbnn_status mbnn_state_load(mbnn_model *model, const void *buf, size_t buf_len);

/* Two-slot persistence that survives a reset in the middle of a write: of two
 * buffers holding saved states (either may be NULL: never written), *slot
 * receives 0 or 1, the one to load: the valid state of this model with the
 * larger step (compared mod 2^32, so the count may wrap). Save the next state
 * over the other slot. When neither is valid: slot a's status, *slot unchanged. */
mbnn_status mbnn_state_pick(const mbnn_model *model, const void *slot_a, size_t len_a,
                            const void *slot_b, size_t len_b, unsigned *slot);

/* CRC-32 (IEEE 802.3, as zlib) of len bytes, continuing from crc (start: 0). */
uint32_t mbnn_crc32(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* MBNN_H */
