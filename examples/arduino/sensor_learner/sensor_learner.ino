// metabnn on an Arduino board: predict every sensor reading, learn when a
// label arrives, print the running accuracy over Serial.
//
// Shipped in the Arduino library (python -m targets arduino-lib): File >
// Examples > metabnn > sensor_learner. model.h beside this sketch is a small
// demo model; put yours there (python -m export model.pt --board NAME
// --header model.h). Replace sensor_sim_read() with your sensor.
#include <Arduino.h>

#include <mbnn.h>
#include <sensor_app.h>
#include <sensor_sim.h>

#include "model.h"

static uint8_t arena[METABNN_ARENA_LEARN] __attribute__((aligned(4)));
static sensor_app app;
static uint32_t rng = 12345u;
static bool ready = false;

void setup()
{
    Serial.begin(115200);
    while (!Serial) {
        delay(10);
    }
    mbnn_status st = sensor_app_init(&app, METABNN_MODEL, METABNN_MODEL_LEN, arena, sizeof arena);
    if (st != MBNN_OK) {
        Serial.print("model: ");
        Serial.println(mbnn_strerror(st));
        return;
    }
    ready = true;
    Serial.println("metabnn sensor learner ready");
}

void loop()
{
    if (!ready) {
        delay(1000);
        return;
    }
    static float reading[METABNN_N_INPUTS];
    static int8_t x[METABNN_N_INPUTS];
    int label = sensor_sim_read(&rng, reading, METABNN_N_INPUTS, METABNN_N_CLASSES);
    for (unsigned k = 0; k < METABNN_N_INPUTS; k++) {
        x[k] = METABNN_QUANTIZE(reading[k]);
    }
    uint16_t pred = 0;
    mbnn_status st = sensor_app_step(&app, x, label, &pred);
    if (st != MBNN_OK) {
        Serial.print("step: ");
        Serial.println(mbnn_strerror(st));
        return;
    }
    if (app.readings % 100u == 0) {
        char line[80];
        snprintf(line, sizeof line, "step %lu accuracy %lu%%", (unsigned long)app.model.step,
                 (unsigned long)sensor_app_accuracy_pct(&app));
        Serial.println(line);
    }
}
