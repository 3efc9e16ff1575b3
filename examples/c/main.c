/*
 * A plain C program that learns on the host as it would on a board:
 * init from the exported header, read a (simulated) sensor, quantize,
 * predict, learn when a label arrives.
 *
 *   cmake -S examples/c -B build/example-c && cmake --build build/example-c
 *   build/example-c/sensor_learner [READINGS] [LABEL_EVERY]
 *
 * The model is model.h from METABNN_MODEL_DIR (CMake option; default: the
 * demo model of targets/esp32/include): write yours with
 *   python -m export model.pt --board NAME --header DIR/model.h
 */
#include <stdio.h>
#include <stdlib.h>

#include "mbnn.h"
#include "model.h"
#include "sensor_app.h"
#include "sensor_sim.h"

static unsigned char arena[METABNN_ARENA_LEARN] __attribute__((aligned(4)));

int main(int argc, char **argv)
{
    unsigned long readings = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000u;
    unsigned long label_every = argc > 2 ? strtoul(argv[2], NULL, 10) : 1u; /* 1: every reading has a label */
    sensor_app app;
    mbnn_status st = sensor_app_init(&app, METABNN_MODEL, METABNN_MODEL_LEN, arena, sizeof arena);
    if (st != MBNN_OK) {
        fprintf(stderr, "model: %s\n", mbnn_strerror(st));
        return 1;
    }
    printf("model: %u inputs, %u classes, arena %u bytes, state %u bytes\n", (unsigned)METABNN_N_INPUTS,
           (unsigned)METABNN_N_CLASSES, (unsigned)sizeof arena, (unsigned)METABNN_STATE_BYTES);

    uint32_t rng = 12345u;
    float reading[METABNN_N_INPUTS];
    int8_t x[METABNN_N_INPUTS];
    for (unsigned long i = 1; i <= readings; i++) {
        int label = sensor_sim_read(&rng, reading, METABNN_N_INPUTS, METABNN_N_CLASSES);
        for (unsigned k = 0; k < METABNN_N_INPUTS; k++)
            x[k] = METABNN_QUANTIZE(reading[k]);
        uint16_t pred = 0;
        st = sensor_app_step(&app, x, label_every && i % label_every == 0 ? label : -1, &pred);
        if (st != MBNN_OK) {
            fprintf(stderr, "reading %lu: %s\n", i, mbnn_strerror(st));
            return 1;
        }
        if (i % 500u == 0)
            printf("reading %lu: step %u, accuracy so far %u%%\n", i, (unsigned)app.model.step,
                   (unsigned)sensor_app_accuracy_pct(&app));
    }
    printf("done: %u readings, %u labelled, %u correct (%u%%), step %u\n", (unsigned)app.readings,
           (unsigned)app.labelled, (unsigned)app.correct, (unsigned)sensor_app_accuracy_pct(&app),
           (unsigned)app.model.step);
    return 0;
}
