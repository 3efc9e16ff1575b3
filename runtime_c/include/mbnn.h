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
    MBNN_ERR_STORE_EMPTY,      /* flash region erased: no state was ever saved there */
    MBNN_ERR_STORE_TORN,       /* flash region holds no intact record (torn or damaged writes) */
    MBNN_ERR_FLASH_IO,         /* a flash read, program or erase callback failed */
    MBNN_ERR_FLASH_GEOMETRY,   /* flash geometry invalid, or the region cannot hold two records */
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

/* Streaming save and load: the learned state produced or consumed in chunks of
 * any size, straight from or into the model, so no buffer of the state's size
 * is needed (the flash store below writes it page by page). The bytes are
 * exactly those of mbnn_state_save. The caller owns the cursor; it holds no
 * pointer, so chunks may come from anywhere. */
typedef struct {
    uint32_t size;    /* bytes of the whole state (as mbnn_state_size) */
    uint32_t pos;     /* bytes produced or consumed so far */
    uint32_t crc;     /* save: the state's CRC; load: running CRC of [16, pos) */
    uint32_t part;    /* load: the rms value being read */
    uint8_t apply;    /* load: 1 writes into the model, 0 only checks */
    uint8_t bad;      /* load: an rms value above 2^30 was seen */
    uint8_t head[32]; /* load: the state's header as read so far */
} mbnn_state_stream;

/* Start a save: computes the state's CRC in one pass over the model (no
 * buffer). Then call mbnn_state_save_next until s->pos == s->size. The model
 * must not learn between the calls. */
mbnn_status mbnn_state_save_begin(const mbnn_model *model, mbnn_state_stream *s);

/* The next min(len, size - pos) bytes of the state into dst; *produced (may be
 * NULL) receives their number, 0 at the end. */
mbnn_status mbnn_state_save_next(const mbnn_model *model, mbnn_state_stream *s,
                                 void *dst, size_t len, size_t *produced);

/* Start a load. apply = 0: a check pass, the model is never changed. apply = 1:
 * every chunk is written into the model as it comes, so run a check pass over
 * the same bytes first (mbnn_store_load does): if a chunk of an applying pass
 * is bad the model is left with a mixture (its step is kept, the weights not). */
mbnn_status mbnn_state_load_begin(const mbnn_model *model, mbnn_state_stream *s, int apply);

/* Consume the next len bytes (the header is checked as soon as it is whole;
 * bytes beyond the state's size are an error: MBNN_ERR_STATE_CORRUPT). */
mbnn_status mbnn_state_load_next(mbnn_model *model, mbnn_state_stream *s,
                                 const void *src, size_t len);

/* After the last chunk: the verdict of mbnn_state_load on the same bytes
 * (short, CRC, model, values); an applying pass also sets the step. */
mbnn_status mbnn_state_load_end(mbnn_model *model, mbnn_state_stream *s);

/* Deprecated: use the flash store (mbnn_store_save / mbnn_store_load). Of two
 * buffers holding saved states (either may be NULL), *slot receives the one
 * with the larger learning step (mod 2^32; at a difference of exactly 2^31 the
 * larger raw step). The step is not a write order: a model reset to its blob
 * that saves at step 10 loses to an older slot at step 1000, which is why the
 * store keeps its own write sequence number. Kept for existing callers. */
mbnn_status mbnn_state_pick(const mbnn_model *model, const void *slot_a, size_t len_a,
                            const void *slot_b, size_t len_b, unsigned *slot);

/* Learned state on NOR flash (docs/STORAGE.md). The application supplies the
 * callbacks and the geometry of a region reserved for the state; addresses are
 * relative to the region's start. Each callback returns 0 on success.
 *   read:  len bytes at addr into dst (any addr and len inside the region)
 *   prog:  program len bytes at addr (addr and len multiples of prog_size, the
 *          bytes erased before; programming only clears bits)
 *   erase: set the block at block_addr (a multiple of block_size) to 0xFF
 * region_size must be a multiple of block_size, block_size of prog_size. */
typedef struct {
    void *ctx;
    int (*read)(void *ctx, uint32_t addr, void *dst, uint32_t len);
    int (*prog)(void *ctx, uint32_t addr, const void *src, uint32_t len);
    int (*erase)(void *ctx, uint32_t block_addr);
    uint32_t prog_size, block_size, region_size;
} mbnn_flash;

/* What the store found or did. */
typedef struct {
    uint32_t seq;             /* write sequence number of the record loaded or written */
    uint32_t step;            /* the learning step saved in it */
    uint32_t erases;          /* block erases in the region over its life (kept in the records) */
    uint32_t slots;           /* records the region holds, written in turn (wear levelling) */
    uint32_t blocks_per_slot; /* erase blocks per record */
} mbnn_store_info;

/* Bytes of the page buffer that mbnn_store_save and _load need for this model
 * and flash (a multiple of prog_size, at least 64); checks the geometry:
 * MBNN_ERR_FLASH_GEOMETRY when it is invalid or the region holds fewer than two
 * records of this model's state. */
mbnn_status mbnn_store_page_size(const mbnn_model *model, const mbnn_flash *flash,
                                 size_t *page_len);

/* Save the learned state as a new record (sequence number one above the newest
 * record in the region) into the slot after the newest, erasing only that
 * slot: a power cut at any point leaves the previous record intact. The state
 * is written page by page straight from the model through page[page_len].
 * info (may be NULL) receives what was written. */
mbnn_status mbnn_store_save(const mbnn_model *model, const mbnn_flash *flash,
                            void *page, size_t page_len, mbnn_store_info *info);

/* Load the newest intact record of this model (records checked by CRC before
 * anything changes). MBNN_ERR_STORE_EMPTY: the region is erased;
 * MBNN_ERR_STORE_TORN: it holds only torn or damaged records;
 * MBNN_ERR_STATE_MODEL: its only intact records belong to another model;
 * MBNN_ERR_FLASH_IO: a read failed. On error the model keeps its state. info
 * (may be NULL) receives what was loaded, or the region's layout on error. */
mbnn_status mbnn_store_load(mbnn_model *model, const mbnn_flash *flash,
                            void *page, size_t page_len, mbnn_store_info *info);

/* CRC-32 (IEEE 802.3, as zlib) of len bytes, continuing from crc (start: 0). */
uint32_t mbnn_crc32(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* MBNN_H */
