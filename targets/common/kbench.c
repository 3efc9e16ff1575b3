/*
 * Instruction-count benchmark firmware (bench/kernels.py): loads the model
 * "model.mbnn" and the samples "input.bin" (n_inputs int8 features then one
 * label byte each) through semihosting, and runs, between the marks
 * kbench_begin / kbench_end that the counting plugin
 * (targets/plugin/insncount.c) records:
 *   an empty pair (the marks' own cost); one mbnn_infer per sample in an
 *   inference arena and, with KBENCH_LAYERS, the reference and optimized
 *   kernel of a dense int8 first layer on the first sample; one
 *   mbnn_infer per sample in the learning arena and, with KBENCH_LAYERS,
 *   each layer's kernels on the inputs of the first sample (a dense int8
 *   first layer's read the signs of its hidden weights there); one
 *   mbnn_learn per sample.
 * Each measurement's label goes to the console, one line each, in order.
 * Built with a benchmark-only memory map (4 MiB RAM; mps2_bench.ld,
 * rv32_bench.ld) so that models larger than a board's RAM fit.
 */
#include <stdint.h>
#include <string.h>

#include "mbnn.h"
#include "semihost.h"
#ifdef KBENCH_LAYERS
#include "mbnn_internal.h"
#endif

#define KBENCH_BLOB_MAX (1024u * 1024u)
#define KBENCH_ARENA_MAX (2u * 1024u * 1024u)
#define KBENCH_INPUT_MAX (64u * 1024u)

static uint32_t blob[KBENCH_BLOB_MAX / 4u];
static uint32_t arena[KBENCH_ARENA_MAX / 4u];
static int8_t input[KBENCH_INPUT_MAX];

__attribute__((noinline)) void kbench_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void kbench_end(void) { __asm__ volatile("" ::: "memory"); }

static int console;

static void say(const char *text)
{
    sh_write(console, text, strlen(text));
}

static void say_num(uint32_t v)
{
    char buf[12];
    int n = 11;
    buf[n] = '\0';
    do {
        buf[--n] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    say(buf + n);
}

static long load(const char *name, void *buf, size_t cap)
{
    int fd = sh_open(name, SH_MODE_RB);
    long n;
    if (fd < 0) {
        return -1;
    }
    n = sh_read(fd, buf, cap);
    sh_close(fd);
    return n;
}

static int fail(const char *what, mbnn_status st)
{
    say("error ");
    say(what);
    say(": ");
    say(mbnn_strerror(st));
    say("\n");
    return 2;
}

#ifdef KBENCH_LAYERS
/* Each layer's kernels on the inputs the forward pass gave it, in the
 * learning arena (learning != 0), which keeps every layer's input; a dense
 * int8 first layer also in an inference arena (learning 0), since in the
 * learning arena its kernels read the signs of its hidden weights (label
 * suffix " learning"). */
static void layer_kernels(mbnn_model *m, const int8_t *x, int learning)
{
    /* Large enough for a conv layer's output map (at most MBNN_MAX_MAP values). */
    static uint32_t out[MBNN_MAX_MAP / 32u + 1u], win[MBNN_MAX_MAP / 32u + 1u];
    static int32_t z[MBNN_MAX_WIDTH];
    mbnn_scratch s;
    uint32_t l;

    mbnn_i_scratch_map(m, &s);
    mbnn_i_forward(m, &s, x, s.logits);
    for (l = 0; l < m->n_layers; l++) {
        const mbnn_layer *L = &m->layers[l];
        int is_out = l + 1u == m->n_layers;
        uint32_t *w = is_out ? NULL : win;
        int32_t *zz = is_out ? z : NULL;
        int variant;
        int first_int8 = l == 0u && L->op == MBNN_OP_DENSE && L->input_kind == MBNN_KIND_INT8;
        if (learning && first_int8 && L->bits != NULL) {
            continue; /* measured in the inference arena: the same kernel */
        }
        if (!learning && !first_int8) {
            continue; /* an inference arena keeps no layer's input but the features */
        }
        for (variant = 0; variant < 2; variant++) {
            memset(out, 0, sizeof(out));
            memset(win, 0, sizeof(win));
            kbench_begin();
            if (L->op != MBNN_OP_DENSE) { /* conv: the reference kernel without, the optimized with its room */
                int int8 = l == 0u && L->input_kind == MBNN_KIND_INT8;
                mbnn_i_conv_forward(L, int8 ? x : NULL, m->zero_point, s.in_bits[l], out,
                                    mbnn_i_out_stride(L, &m->layers[l + 1u]), w, NULL,
                                    variant == 0 ? NULL : s.table);
            } else if (l == 0u && L->input_kind == MBNN_KIND_INT8) {
                if (variant == 0) {
                    mbnn_i_layer_int8_ref(L, x, m->zero_point, out, w, zz);
                } else {
                    mbnn_i_layer_int8_opt(L, x, m->zero_point, s.table, out, w, zz);
                }
            } else if (variant == 0) {
                mbnn_i_layer_bits_ref(L, s.in_bits[l], out, w, zz);
            } else {
                mbnn_i_layer_bits_opt(L, s.in_bits[l], out, w, zz);
            }
            kbench_end();
            say("layer ");
            say_num(l);
            say(variant == 0 ? " ref" : " opt");
            say(learning && first_int8 ? " learning\n" : "\n"); /* signs of the hidden weights */
        }
    }
}
#endif

int main(void)
{
    mbnn_model m;
    mbnn_status st;
    size_t need = 0;
    long blob_len, in_len;
    uint32_t n = 0, i, stride = 1;
    int mode;

    console = sh_open(":tt", SH_MODE_WB);
    blob_len = load("model.mbnn", blob, sizeof(blob));
    in_len = load("input.bin", input, sizeof(input));
    if (blob_len <= 0 || in_len <= 0) {
        say("error: cannot read model.mbnn and input.bin\n");
        return 2;
    }
    st = mbnn_arena_size(blob, (size_t)blob_len, MBNN_MODE_LEARN, &need);
    if (st != MBNN_OK) {
        return fail("arena size", st);
    }
    if (need > sizeof(arena)) {
        say("error: the learning arena is larger than the benchmark's\n");
        return 2;
    }
    say("arena ");
    say_num((uint32_t)need);
    say("\n");
    kbench_begin();
    kbench_end();
    say("empty\n");

    /* Inference in an inference arena ("infer"), then in the learning
     * arena ("infer learning"), then the learning steps. */
    for (mode = 0; mode < 2; mode++) {
        size_t len = need;
        if (mode == 0 && (st = mbnn_arena_size(blob, (size_t)blob_len, MBNN_MODE_INFER, &len)) != MBNN_OK) {
            return fail("arena size", st);
        }
        st = mbnn_model_init_mode(&m, blob, (size_t)blob_len, arena, len,
                                  mode == 0 ? MBNN_MODE_INFER : MBNN_MODE_LEARN);
        if (st != MBNN_OK) {
            return fail("init", st);
        }
        stride = (uint32_t)m.n_inputs + 1u;
        n = (uint32_t)in_len / stride;
        for (i = 0; i < n; i++) {
            int32_t logits[16];
            if (m.n_classes > 16u) {
                return fail("classes", MBNN_ERR_BUFFER_TOO_SMALL);
            }
            kbench_begin();
            st = mbnn_infer(&m, input + (size_t)i * stride, logits);
            kbench_end();
            if (st != MBNN_OK) {
                return fail("infer", st);
            }
            say(mode == 0 ? "infer\n" : "infer learning\n");
        }
#ifdef KBENCH_LAYERS
        layer_kernels(&m, input, mode);
#endif
    }
    for (i = 0; i < n; i++) {
        const int8_t *x = input + (size_t)i * stride;
        uint16_t label = (uint16_t)((uint8_t)x[m.n_inputs] % m.n_classes);
        kbench_begin();
        st = mbnn_learn(&m, x, label, NULL, NULL);
        kbench_end();
        if (st != MBNN_OK) {
            return fail("learn", st);
        }
        say("learn\n");
    }
    say("done\n");
    return 0;
}
