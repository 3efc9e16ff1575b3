/*
 * Private helpers of the metabnn runtime: not part of the public API.
 *
 * Everything here is shared between the runtime's source files: the integer
 * helpers of docs/ARITHMETIC.md ("Notation"), little-endian readers for the
 * blob header, and the map of the arena. Functions shared between files are
 * named mbnn_i_* (internal); the static inline helpers mbnn_*.
 *
 * The arrays of a blob are read in place as uint32_t/int32_t/uint16_t, so
 * the runtime assumes a little-endian machine (every target is).
 */
#ifndef MBNN_INTERNAL_H
#define MBNN_INTERNAL_H

#include "mbnn.h"
#include "mbnn_format.h" /* offsets, limits, status texts (generated) */

#ifndef MBNN_POPCOUNT_BUILTIN
#if defined(__GNUC__) || defined(__clang__)
#define MBNN_POPCOUNT_BUILTIN 1
#else
#define MBNN_POPCOUNT_BUILTIN 0
#endif
#endif

#ifndef MBNN_KERNELS
#define MBNN_KERNELS 1
#endif

/* x86-64 hosts built with gcc or clang: the bit kernel picks a POPCNT
 * version at run time (__builtin_cpu_supports), so one build runs on every
 * x86-64 CPU. Off with the reference kernels. */
#ifndef MBNN_X86_DISPATCH
#if MBNN_KERNELS && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MBNN_X86_DISPATCH 1
#else
#define MBNN_X86_DISPATCH 0
#endif
#endif

#if MBNN_X86_DISPATCH
/* The level of the x86 kernels (MBNN_HOST_*) a layer runs: the highest the
 * CPU supports (__builtin_cpu_supports), at most L->host_cap when that is
 * not 0 (mbnn_host_kernels). AVX-512 needs F, BW, VNNI and VPOPCNTDQ
 * (Ice Lake, Zen 4 and later). */
static inline unsigned mbnn_i_x86_level(unsigned cap)
{
    unsigned level = MBNN_HOST_PLAIN;

    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt")) {
        level = MBNN_HOST_POPCNT;
        if (__builtin_cpu_supports("avx2")) {
            level = MBNN_HOST_AVX2;
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vpopcntdq")) {
                level = MBNN_HOST_AVX512;
            }
        }
    }
    return cap != 0u && cap < level ? cap : level;
}

#include <immintrin.h>

/* The AVX-512 kernels (mbnn_kernels.c; mbnn_batch.c uses them too), called
 * only at level MBNN_HOST_AVX512. */
#define MBNN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vpopcntdq,popcnt")))
#endif

/* Inlining of the per-weight step of the learning loop. */
#if defined(__GNUC__) || defined(__clang__)
#define MBNN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MBNN_ALWAYS_INLINE inline
#endif

/* Entries of the partial-sum table of one group of 4 int8 inputs. */
#define MBNN_TABLE_ENTRIES 16u

/* The optimized int8 x binary kernel of a large first layer
 * (mbnn_i_int8_bytes: at least 512 inputs and 64 outputs): with
 * MBNN_INT8_BYTES 1 (default), 256-entry tables per group of 8 inputs,
 * built for MBNN_INT8_CHUNK inputs at a time; with 0 (the micro:bit build,
 * whose 16 KiB cannot spare the 8 KiB of one chunk), and for every smaller
 * layer, 16-entry tables per group of 4 inputs over the whole layer (8 B per
 * input). The arena plan (mbnn_i_int8_table_size) is the same on every
 * build: room for either. */
#ifndef MBNN_INT8_BYTES
#define MBNN_INT8_BYTES 1
#endif
#define MBNN_INT8_CHUNK 128u


/* asr(x, k) = floor(x / 2^k). C99 leaves the shift of a negative signed
 * value to the implementation; GCC and clang define it as the arithmetic
 * shift (GCC manual, "Integers implementation"), so with them it is x >> k
 * (one instruction; the portable form below costs gcc 12 two to four on
 * Cortex-M, with a branch). Elsewhere: for x < 0, floor(x / 2^k) =
 * -(floor((-x - 1) / 2^k)) - 1, and -x - 1 >= 0. k is 0 .. 31. */
#if defined(__GNUC__)
#define MBNN_ASR_NATIVE 1
#else
#define MBNN_ASR_NATIVE 0
#endif
static inline int32_t mbnn_asr32(int32_t x, unsigned k)
{
    if (MBNN_ASR_NATIVE) {
        return x >> k;
    }
    if (x >= 0) {
        return (int32_t)((uint32_t)x >> k);
    }
    return -(int32_t)((uint32_t)(-(x + 1)) >> k) - 1;
}

/* The same for 64-bit values; k is 0 .. 63. */
static inline int64_t mbnn_asr64(int64_t x, unsigned k)
{
    if (MBNN_ASR_NATIVE) {
        return x >> k;
    }
    if (x >= 0) {
        return (int64_t)((uint64_t)x >> k);
    }
    return -(int64_t)((uint64_t)(-(x + 1)) >> k) - 1;
}

static inline int32_t mbnn_clamp32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

static inline int64_t mbnn_clamp64(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Bits set in a 32-bit word. */
static inline uint32_t mbnn_popcount32(uint32_t v)
{
#if MBNN_POPCOUNT_BUILTIN
    return (uint32_t)__builtin_popcount(v);
#else
    /* SWAR: sums of 2, 4, 8 bits, then the four bytes added by one multiply. */
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0F0F0F0Fu;
    return (v * 0x01010101u) >> 24;
#endif
}

/* Words of 32 bits that hold n bits, and the mask of the real bits of the
 * last word (padding bits are 0 in the mask). */
static inline uint32_t mbnn_words(uint32_t n)
{
    return (n + 31u) / 32u;
}

static inline uint32_t mbnn_last_mask(uint32_t n)
{
    return (n % 32u) == 0u ? 0xFFFFFFFFu : ((1u << (n % 32u)) - 1u);
}

/* The geometry derived from a layer's fields (docs/FORMAT.md "Layer
 * geometry"), for a layer that passed validation: u32 words per pixel of a
 * conv layer's input map, the pooling window, the output map (after pooling;
 * dense: 1 x 1), the u32 words of the packed input map. */
static inline uint32_t mbnn_i_wc(const mbnn_layer *L)
{
    return mbnn_words(L->in_c);
}

static inline uint32_t mbnn_i_pool_h(const mbnn_layer *L)
{
    return L->op == 2u ? L->pool : 1u;
}

static inline uint32_t mbnn_i_out_h(const mbnn_layer *L)
{
    return L->op == 0u ? 1u : (((uint32_t)L->in_h + 2u * L->ph - L->kh) / L->sh + 1u) / mbnn_i_pool_h(L);
}

static inline uint32_t mbnn_i_out_w(const mbnn_layer *L)
{
    return L->op == 0u ? 1u : (((uint32_t)L->in_w + 2u * L->pw - L->kw) / L->sw + 1u) / L->pool;
}

static inline uint32_t mbnn_i_in_words(const mbnn_layer *L)
{
    return L->op == 0u ? L->words : (uint32_t)L->in_h * L->in_w * mbnn_i_wc(L);
}

/* Bits per pixel of the packed output map of layer L, whose next layer is N:
 * whole words per pixel for a conv layer N, n_out (no padding) for a dense one. */
static inline uint32_t mbnn_i_out_stride(const mbnn_layer *L, const mbnn_layer *N)
{
    return N->op != 0u ? 32u * mbnn_i_wc(N) : L->n_out;
}

/* Bit position, in a row of layer L's binary weights, of hidden weight j of
 * the row (docs/FORMAT.md "Channels packed into whole words"): j itself for
 * a dense layer; tap j / in_c, channel j % in_c of a conv layer. */
static inline uint32_t mbnn_i_weight_bit(const mbnn_layer *L, uint32_t j)
{
    if (L->op == 0u) {
        return j;
    }
    return (j / L->in_c) * 32u * mbnn_i_wc(L) + j % L->in_c;
}

/* Whether layer l, which learns, keeps a copy of its binary weights in a
 * learning arena. Not a large dense first layer with int8 input (at least
 * 512 inputs and 64 outputs, mbnn_i_int8_bytes): bit_ij = (hidden_ij < 0),
 * one fact that the arena holds once, in the hidden weights; that layer's
 * forward kernels read the signs there (L->bits is NULL) and nothing else
 * reads its bits (no error goes below layer 0). Every other layer keeps its
 * bits: the bit kernels and the backward pass read them, and a small first
 * layer's bits cost little RAM while reading its signs from the hidden
 * bytes measured slower on the cores without DSP (docs/PERFORMANCE.md
 * "Learning arena"). */
int mbnn_i_int8_bytes(uint32_t n_in, uint32_t n_out);
static inline int mbnn_i_keeps_bits(const mbnn_layer *L, uint32_t l)
{
    return !(l == 0u && L->op == 0u && L->input_kind == MBNN_KIND_INT8 && mbnn_i_int8_bytes(L->n_in, L->n_out));
}

/* Little-endian reads and writes of unaligned bytes (headers). */
static inline uint32_t mbnn_rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static inline uint32_t mbnn_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void mbnn_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

/* Neuron i of layer L has pre-activation a: on a hidden layer set its bit
 * in out (a < threshold) and, when win is not NULL, its window bit (lo <= a
 * <= hi), both zeroed by the caller; on the output layer (logits not NULL)
 * write its logit sat32(scale * a + offset). */
static inline void mbnn_emit(const mbnn_layer *L, uint32_t i, int32_t a, uint32_t *out,
                             uint32_t *win, int32_t *logits)
{
    if (logits != NULL) {
        int64_t z = (int64_t)L->p0[i] * a + L->p1[i];
        logits[i] = (int32_t)mbnn_clamp64(z, INT32_MIN, INT32_MAX);
        return;
    }
    if (a < L->p0[i]) {
        out[i / 32u] |= 1u << (i % 32u);
    }
    if (win != NULL && L->p1[i] <= a && a <= L->p2[i]) {
        win[i / 32u] |= 1u << (i % 32u);
    }
}

/* The kernels of one layer (mbnn_kernels.c): pre-activations of every
 * neuron, emitted as above. int8: the first layer with int8 features q and
 * zero point zp (the optimized kernel fills table, mbnn_i_int8_table_size
 * bytes, 4-byte aligned); bits: input bits u (padding bits are ignored).
 * An int8 layer with L->bits NULL (mbnn_i_keeps_bits) reads its signs from
 * L->hidden: bit_ij = (hidden_ij < 0). */
void mbnn_i_layer_int8_ref(const mbnn_layer *L, const int8_t *q, int32_t zp, uint32_t *out,
                           uint32_t *win, int32_t *logits);
void mbnn_i_layer_int8_opt(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                           uint32_t *out, uint32_t *win, int32_t *logits);
void mbnn_i_layer_bits_ref(const mbnn_layer *L, const uint32_t *u, uint32_t *out, uint32_t *win,
                           int32_t *logits);
void mbnn_i_layer_bits_opt(const mbnn_layer *L, const uint32_t *u, uint32_t *out, uint32_t *win,
                           int32_t *logits);
#if MBNN_X86_DISPATCH
/* x86-64 with AVX-512 (mbnn_i_x86_level): the int8 and bit kernels of one
 * sample, and the emission of 16 rows (i0 a multiple of 16) at once. */
MBNN_AVX512 void mbnn_i_layer_int8_avx512(const mbnn_layer *L, const int8_t *q, int32_t zp, uint32_t *out,
                                          uint32_t *win, int32_t *logits);
MBNN_AVX512 void mbnn_i_layer_bits_avx512(const mbnn_layer *L, const uint32_t *u, uint32_t *out,
                                          uint32_t *win, int32_t *logits);
/* The bit kernel on n samples (mbnn_kernels.c; win only for n = 1). */
MBNN_AVX512 void mbnn_i_bits_avx512(const mbnn_layer *L, const uint32_t *u, uint32_t n, uint32_t *out,
                                    uint32_t out_words, uint32_t *win, int32_t *logits);
MBNN_AVX512 void mbnn_i_emit16(const mbnn_layer *L, uint32_t i0, __m512i a, uint32_t *out, uint32_t *win,
                               int32_t *logits);
#endif
size_t mbnn_i_int8_table_size(uint32_t n_in, uint32_t n_out);
int mbnn_i_int8_bytes(uint32_t n_in, uint32_t n_out);
#if MBNN_INT8_BYTES
void mbnn_i_layer_int8_bytes(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                             uint32_t *out, uint32_t *win, int32_t *logits);
/* The same with the signs in L->hidden (L->bits NULL; n_in a multiple of 4). */
void mbnn_i_layer_int8_hidden_bytes(const mbnn_layer *L, const int8_t *q, int32_t zp, int16_t *table,
                                    uint32_t *out, uint32_t *win, int32_t *logits);
#endif

/* The new value of a hidden weight `old` under a proposed change D != 0 (Q16
 * hidden-weight steps) with its random number rand16 (0..65535): the
 * metaplastic damping of a change toward zero, stochastic rounding and the
 * clamp to -128..127 (ARITHMETIC.md "Update of a layer that learns", steps
 * 4-5). The damping product is taken in 64 bits. */
static inline int32_t mbnn_i_damp_round(int32_t old, int32_t D, const uint16_t *meta, uint32_t rand16)
{
    int32_t nh;
    if ((old < 0) != (D < 0)) {
        int32_t k = old >= 0 ? old : -1 - old;
        D = (int32_t)mbnn_asr64((int64_t)D * meta[k], 15);
        if (D == 0) {
            return old;
        }
    }
    nh = old + mbnn_asr32(D, 16);
    if (rand16 < ((uint32_t)D & 0xFFFFu)) {
        nh += 1;
    }
    return mbnn_clamp32(nh, -128, 127);
}

/* Conv layers (mbnn_conv.c). pack_input: int8 features (C, H, W) by sign
 * into the per-pixel words of layer 0's input map. forward: a hidden conv
 * layer with bit input u, or int8 input q (zero point zp) when q is not NULL;
 * output bits into out (zeroed by the caller, out_stride bits per pixel: the
 * packing of the next layer's input map, mbnn_i_out_stride),
 * when win is not NULL the window bit at each pooled output's position and
 * when arg is not NULL that position in the pooling window (compact index);
 * scratch: NULL for the plain reference kernel, else the optimized kernel's
 * room, mbnn_i_conv_scratch_size bytes, 4-byte aligned (int8: layer 0 with
 * int8 input). input_sum: g over the input map (compact H, W, C) of the error delta at the
 * outputs, through the weights (the transposed conv). update: the metaplastic
 * update with the error delta at the outputs (overwritten), the input (q or u). */
void mbnn_i_conv_pack_input(const mbnn_layer *L, const int8_t *q, uint32_t *u);
void mbnn_i_conv_forward(const mbnn_layer *L, const int8_t *q, int32_t zp, const uint32_t *u, uint32_t *out,
                         uint32_t out_stride, uint32_t *win, uint8_t *arg, void *scratch);
size_t mbnn_i_conv_scratch_size(const mbnn_layer *L, int int8);
void mbnn_i_conv_input_sum(const mbnn_layer *L, const int32_t *delta, const uint8_t *arg, int32_t *g,
                           int32_t *work);
void mbnn_i_conv_update(const mbnn_layer *L, unsigned rms_shift, int32_t *delta, const uint8_t *arg,
                        const int8_t *q, int32_t zp, const uint32_t *u, uint32_t key, int32_t *work);

/* The sums of 16 input channels of the learning step's conv kernels
 * (input_sum, update: their `work`), in the arena of a learning model with
 * conv layers (not on the stack: the micro:bit's is 2 KiB): i32 entries. */
#define MBNN_CONV_WORK 80u

/* The scratch part of the arena, carved from model->scratch on every call
 * (the model holds no more than the pointer and the length).
 *
 * The layout is in mbnn_model.c. */
typedef struct {
    int32_t *logits;                          /* n_classes */
    uint32_t *act[2];                         /* inference only */
    uint32_t *in_bits[MBNN_MAX_LAYERS];       /* learning: words(n_in) per layer */
    uint32_t *window[MBNN_MAX_LAYERS];        /* learning: a bit per output of each hidden layer */
    uint8_t *arg[MBNN_MAX_LAYERS];            /* learning: conv with pooling: position in the window */
    int32_t *err[2];                          /* learning: the most outputs of a layer, each */
    int16_t *table;                           /* int8 tables (learning: over err) */
    int32_t *conv_work;                       /* learning, conv layers: MBNN_CONV_WORK i32 */
} mbnn_scratch;

/* Point s at the parts of model->scratch. */
void mbnn_i_scratch_map(const mbnn_model *model, mbnn_scratch *s);

/* Validate a blob (docs/FORMAT.md "What the runtime checks") and fill the
 * blob-derived fields of *model (layers point into the blob). Does not touch
 * anything else; *model may be partly written on error. */
mbnn_status mbnn_i_parse_blob(mbnn_model *model, const void *blob, size_t blob_len);

/* Forward pass on one sample. Writes logits (n_classes) and, on a learning
 * model, keeps every layer's input bits and every hidden layer's window bits
 * in the scratch. */
void mbnn_i_forward(const mbnn_model *model, const mbnn_scratch *s, const int8_t *x,
                  int32_t *logits);

/* argmax of n logits, ties to the lowest index. */
uint16_t mbnn_i_argmax(const int32_t *logits, uint32_t n);

/* Integer square root: the largest s with s * s <= r. */
uint32_t mbnn_i_isqrt(uint32_t r);

/* The lowbias32 hash of the random generator (ARITHMETIC.md). */
uint32_t mbnn_i_mix32(uint32_t x);

/* 65536 * exp(-d / 2^frac_bits) for d >= 0 (ARITHMETIC.md step 2). */
uint32_t mbnn_i_exp2neg(int64_t d, unsigned frac_bits);

#endif /* MBNN_INTERNAL_H */
