/*
 * Host benchmark of the runtime (not part of the portable tests: it reads a
 * file). Times inference and learning steps on random int8 samples:
 *
 *   make -C runtime_c bench BENCH_BLOB=path/to/model.mbnn
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mbnn.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    FILE *f;
    long len;
    uint32_t *blob, *arena;
    int8_t *x;
    size_t arena_len, n_samples = 256, i, j;
    mbnn_model m;
    mbnn_status st;
    uint32_t rnd = 12345;
    int32_t logits[8192];
    double t0, t1;
    long n_infer = 2000, n_learn = 1000, k;

    if (argc < 2 || (f = fopen(argv[1], "rb")) == NULL) {
        fprintf(stderr, "usage: bench MODEL.mbnn\n");
        return 2;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    blob = malloc((size_t)len + 4);
    if (blob == NULL || fread(blob, 1, (size_t)len, f) != (size_t)len) {
        return 2;
    }
    fclose(f);
    st = mbnn_arena_size(blob, (size_t)len, MBNN_MODE_LEARN, &arena_len);
    if (st == MBNN_ERR_NO_LEARN) {
        st = mbnn_arena_size(blob, (size_t)len, MBNN_MODE_INFER, &arena_len);
        n_learn = 0;
    }
    if (st != MBNN_OK) {
        fprintf(stderr, "%s\n", mbnn_strerror(st));
        return 1;
    }
    arena = malloc(arena_len + 4);
    t0 = now();
    st = mbnn_model_init(&m, blob, (size_t)len, arena, arena_len);
    t1 = now();
    if (st != MBNN_OK) {
        fprintf(stderr, "%s\n", mbnn_strerror(st));
        return 1;
    }
    printf("%s: %ld bytes, arena %zu bytes, init %.3f ms\n", argv[1], len, arena_len, 1e3 * (t1 - t0));
    x = malloc(n_samples * m.n_inputs);
    for (i = 0; i < n_samples; i++) {
        for (j = 0; j < m.n_inputs; j++) {
            rnd = rnd * 1664525u + 1013904223u;
            x[i * m.n_inputs + j] = (int8_t)(rnd >> 24);
        }
    }
    t0 = now();
    for (k = 0; k < n_infer; k++) {
        mbnn_infer(&m, x + (size_t)(k % (long)n_samples) * m.n_inputs, logits);
    }
    t1 = now();
    printf("infer: %.1f us/sample\n", 1e6 * (t1 - t0) / (double)n_infer);
    if (n_learn > 0) {
        t0 = now();
        for (k = 0; k < n_learn; k++) {
            mbnn_learn(&m, x + (size_t)(k % (long)n_samples) * m.n_inputs, (uint16_t)(k % m.n_classes),
                       NULL, NULL);
        }
        t1 = now();
        printf("learn: %.1f us/step\n", 1e6 * (t1 - t0) / (double)n_learn);
    }
    free(x);
    free(arena);
    free(blob);
    return 0;
}
