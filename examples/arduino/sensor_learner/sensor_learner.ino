// metabnn on an Arduino board: resume from the state saved in flash, predict
// every sensor reading, learn when a label arrives, save what it learned every
// 100 steps, print the running accuracy over Serial. On ESP32 boards the
// state goes to the "mbnn" data partition (a partition table with one, as in
// examples/esp-idf/partitions.csv); elsewhere to a RAM stand-in that a reset
// clears: give flash_ram's callbacks your board's flash driver.
//
// Shipped in the Arduino library (python -m targets arduino-lib): File >
// Examples > metabnn > sensor_learner. model.h beside this sketch is a small
// demo model; put yours there (python -m export model.pt --board NAME
// --header model.h). Replace sensor_sim_read() with your sensor.
#include <Arduino.h>
#include <string.h>

#include <mbnn.h>
#include <sensor_app.h>
#include <sensor_sim.h>

#include "model.h"

#define SAVE_EVERY 100u

#if defined(ARDUINO_ARCH_ESP32)
#include <flash_esp.h>
static bool open_flash(mbnn_flash *flash) { return flash_esp_open(flash) == 0; }
#else
// Two 4 KiB blocks of RAM standing in for flash (lost at reset).
static uint8_t flash_ram[2 * 4096u + ((METABNN_STATE_BYTES + 64u + 4095u) / 4096u) * 8192u];
static int ram_read(void *, uint32_t addr, void *dst, uint32_t len)
{
    memcpy(dst, flash_ram + addr, len);
    return 0;
}
static int ram_prog(void *, uint32_t addr, const void *src, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        flash_ram[addr + i] &= static_cast<const uint8_t *>(src)[i];
    }
    return 0;
}
static int ram_erase(void *, uint32_t block)
{
    memset(flash_ram + block, 0xFF, 4096u);
    return 0;
}
static bool open_flash(mbnn_flash *flash)
{
    memset(flash_ram, 0xFF, sizeof flash_ram);
    *flash = mbnn_flash{nullptr, ram_read, ram_prog, ram_erase, 16u, 4096u, sizeof flash_ram / 4096u * 4096u};
    return true;
}
#endif

static uint8_t arena[METABNN_ARENA_LEARN] __attribute__((aligned(4)));
static uint8_t page[256] __attribute__((aligned(4)));
static mbnn_flash flash;
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
    if (!open_flash(&flash)) {
        Serial.println("no \"mbnn\" partition: nothing is saved");
    } else if ((st = sensor_app_use_flash(&app, &flash, page, sizeof page, SAVE_EVERY)) != MBNN_OK) {
        Serial.print("flash: ");
        Serial.println(mbnn_strerror(st));  // starts from the blob, overwrites at the next save
    }
    rng += app.resumed_step;
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
