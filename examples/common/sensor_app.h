/*
 * The examples' application (examples/c, examples/arduino, examples/esp-idf):
 * a model that predicts every sensor reading and learns from it when a label
 * arrives, with running statistics; what it learned is saved to flash every N
 * learning steps through the runtime's flash store (mbnn_store_save), and
 * loaded back at start, so that a reset loses at most N steps. Portable C99
 * on top of mbnn.h, no malloc, no globals: the caller owns the struct, the
 * arena and the page buffer. See docs/C_API.md.
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
    uint32_t resumed_step; /* the learning step loaded from flash at start (0: fresh) */
    uint32_t saves;        /* records written to flash since start */
    uint32_t save_every;   /* learning steps between two saves (0: never) */
    const mbnn_flash *flash; /* NULL: nothing is saved */
    void *page;
    size_t page_len;
} sensor_app;

/* Bind the blob with the arena (sized with mbnn_arena_size for learning,
 * e.g. the header's METABNN_ARENA_LEARN). */
mbnn_status sensor_app_init(sensor_app *app, const void *blob, size_t blob_len, void *arena, size_t arena_len);

/* Keep what the model learns in flash: load the newest saved state (an
 * erased region means a fresh start, MBNN_OK with resumed_step 0), then save
 * every save_every learning steps. page (page_len bytes, 4-byte aligned) is
 * the store's buffer, at least mbnn_store_page_size. Another status (a region
 * with only torn records, or a state of another model) is returned; the app
 * then goes on from the blob and overwrites the region at the next save. */
mbnn_status sensor_app_use_flash(sensor_app *app, const mbnn_flash *flash, void *page, size_t page_len,
                                 uint32_t save_every);

/* One quantized reading x (n_inputs int8): *prediction receives the class the
 * model predicts; with label >= 0 the model then learns from it, and saves to
 * flash when its steps passed a multiple of save_every (a call is one step, or
 * two with a rehearsal set). A bad label changes
 * nothing; a failed save is returned after the learning step. */
mbnn_status sensor_app_step(sensor_app *app, const int8_t *x, int label, uint16_t *prediction);

/* Accuracy of the predictions made before learning, in percent (0 when no label came). */
uint32_t sensor_app_accuracy_pct(const sensor_app *app);

#ifdef __cplusplus
}
#endif

#endif
