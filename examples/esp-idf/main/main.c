/*
 * metabnn under ESP-IDF: predict every sensor reading, learn when a label
 * arrives, log the running accuracy. Replace sensor_sim_read() with your
 * sensor; the model is model.h (python -m export model.pt --board esp32
 * --header model.h).
 */
#include <stdint.h>
#include <stdio.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "mbnn.h"
#include "model.h"
#include "sensor_app.h"
#include "sensor_sim.h"

static uint8_t arena[METABNN_ARENA_LEARN] __attribute__((aligned(4)));
static sensor_app app;
static float reading[METABNN_N_INPUTS];
static int8_t x[METABNN_N_INPUTS];

void app_main(void)
{
    mbnn_status st = sensor_app_init(&app, METABNN_MODEL, METABNN_MODEL_LEN, arena, sizeof arena);
    if (st != MBNN_OK) {
        printf("model: %s\n", mbnn_strerror(st));
        return;
    }
    uint32_t rng = 12345u;
    for (;;) {
        int label = sensor_sim_read(&rng, reading, METABNN_N_INPUTS, METABNN_N_CLASSES);
        for (unsigned k = 0; k < METABNN_N_INPUTS; k++)
            x[k] = METABNN_QUANTIZE(reading[k]);
        uint16_t pred = 0;
        st = sensor_app_step(&app, x, label, &pred);
        if (st != MBNN_OK) {
            printf("step: %s\n", mbnn_strerror(st));
            return;
        }
        if (app.readings % 100u == 0)
            printf("step %lu accuracy %lu%%\n", (unsigned long)app.model.step,
                   (unsigned long)sensor_app_accuracy_pct(&app));
        vTaskDelay(pdMS_TO_TICKS(10)); /* one reading every 10 ms */
    }
}
