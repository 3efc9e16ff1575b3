/*
 * The examples' application (examples/c, examples/arduino, examples/esp-idf):
 * a model that predicts every sensor reading and learns from it when a label
 * arrives, with running statistics. Portable C99 on top of mbnn.h, no malloc,
 * no globals: the caller owns the struct and the arena. See docs/C_API.md.
 */
#ifndef SENSOR_APP_H
#define SENSOR_APP_H

#include <stddef.h>
#include <stdint.h>

#include "mbnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    mbnn_model model;
    uint32_t readings; /* readings predicted since start */
    uint32_t labelled; /* readings that came with a label (learned from) */
    uint32_t correct;  /* of those, predicted right before learning */
    uint32_t resumed_step; /* the learning step loaded at start (0: fresh) */
} sensor_app;

/* Bind the blob with the arena (sized with mbnn_arena_size for learning,
 * e.g. the header's METABNN_ARENA_LEARN). */
mbnn_status sensor_app_init(sensor_app *app, const void *blob, size_t blob_len, void *arena, size_t arena_len);

/* One quantized reading x (n_inputs int8): *prediction receives the class the
 * model predicts; with label >= 0 the model then learns from it. On error
 * nothing changes. */
mbnn_status sensor_app_step(sensor_app *app, const int8_t *x, int label, uint16_t *prediction);

/* Accuracy of the predictions made before learning, in percent (0 when no label came). */
uint32_t sensor_app_accuracy_pct(const sensor_app *app);

#ifdef __cplusplus
}
#endif

#endif
