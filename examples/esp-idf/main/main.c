/*
 * metabnn under ESP-IDF: resume from the state saved in flash, predict every
 * sensor reading, learn when a label arrives, save what it learned every 100
 * steps to the "mbnn" data partition (partitions.csv), log the running
 * accuracy. After a reset it goes on from the last save. Replace
 * sensor_sim_read() with your sensor; the model is model.h (python -m export
 * model.pt --board esp32 --header model.h).
 */
#include <stdint.h>
#include <stdio.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "flash_esp.h"
#include "mbnn.h"
#include "model.h"
#include "sensor_app.h"
#include "sensor_sim.h"

static uint8_t arena[METABNN_ARENA_LEARN] __attribute__((aligned(4)));
static sensor_app app;
static float reading[METABNN_N_INPUTS];
static int8_t x[METABNN_N_INPUTS];
static uint8_t page[256] __attribute__((aligned(4)));
static mbnn_flash flash;

#define SAVE_EVERY 100u

void app_main(void)
{
    mbnn_status st = sensor_app_init(&app, METABNN_MODEL, METABNN_MODEL_LEN, arena, sizeof arena);
    if (st != MBNN_OK) {
        printf("model: %s\n", mbnn_strerror(st));
        return;
    }
    if (flash_esp_open(&flash) != 0) {
        printf("no \"mbnn\" partition: flash the partition table of partitions.csv\n");
        return;
    }
    st = sensor_app_use_flash(&app, &flash, page, sizeof page, SAVE_EVERY);
    if (st != MBNN_OK)
        printf("flash: %s; starting from the blob\n", mbnn_strerror(st));
    printf("resumed at step %lu; saving every %u steps\n", (unsigned long)app.resumed_step, SAVE_EVERY);
    uint32_t rng = 12345u + app.resumed_step;
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
            printf("step %lu accuracy %lu%% saves %lu\n", (unsigned long)app.model.step,
                   (unsigned long)sensor_app_accuracy_pct(&app), (unsigned long)app.saves);
        vTaskDelay(pdMS_TO_TICKS(10)); /* one reading every 10 ms */
    }
}
