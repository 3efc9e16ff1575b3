/* The examples' application (see sensor_app.h). */
#include "sensor_app.h"

#include <string.h>

mbnn_status sensor_app_init(sensor_app *app, const void *blob, size_t blob_len, void *arena, size_t arena_len)
{
    memset(app, 0, sizeof *app);
    mbnn_status st = mbnn_model_init(&app->model, blob, blob_len, arena, arena_len);
    if (st == MBNN_OK && !app->model.can_learn)
        st = MBNN_ERR_NO_LEARN; /* export with layers that learn, and size the arena for learning */
    return st;
}

mbnn_status sensor_app_use_flash(sensor_app *app, const mbnn_flash *flash, void *page, size_t page_len,
                                 uint32_t save_every)
{
    size_t need = 0;
    mbnn_status st = mbnn_store_page_size(&app->model, flash, &need);
    if (st == MBNN_OK && page_len < need)
        st = MBNN_ERR_BUFFER_TOO_SMALL;
    if (st != MBNN_OK)
        return st;
    app->flash = flash;
    app->page = page;
    app->page_len = page_len;
    app->save_every = save_every;
    st = mbnn_store_load(&app->model, flash, page, page_len, NULL);
    if (st == MBNN_OK)
        app->resumed_step = app->model.step;
    return st == MBNN_ERR_STORE_EMPTY ? MBNN_OK : st;
}

mbnn_status sensor_app_step(sensor_app *app, const int8_t *x, int label, uint16_t *prediction)
{
    if (label >= (int)app->model.n_classes)
        return MBNN_ERR_BAD_LABEL;
    mbnn_status st = mbnn_predict(&app->model, x, prediction);
    if (st != MBNN_OK)
        return st;
    if (label >= 0) {
        st = mbnn_learn(&app->model, x, (uint16_t)label, NULL, NULL);
        if (st != MBNN_OK)
            return st;
        app->labelled++;
        app->correct += *prediction == (uint16_t)label;
    }
    app->readings++;
    /* Save when the call's steps (one, or two with a rehearsal set) passed a multiple of save_every. */
    if (label >= 0 && app->flash && app->save_every &&
        app->model.step % app->save_every < (app->model.rehearsal_count > 0u ? 2u : 1u)) {
        st = mbnn_store_save(&app->model, app->flash, app->page, app->page_len, NULL);
        app->saves += st == MBNN_OK;
    }
    return st;
}

uint32_t sensor_app_accuracy_pct(const sensor_app *app)
{
    return app->labelled ? (uint32_t)((100u * (uint64_t)app->correct + app->labelled / 2u) / app->labelled) : 0u;
}
