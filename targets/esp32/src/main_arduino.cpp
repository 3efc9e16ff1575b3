// The stream learner on an Arduino board (ESP32, ESP32-C3, STM32 Nucleo):
// the stream comes over the serial port in the stream format of
// docs/TARGETS.md (python -m targets serial sends it), the log goes back over
// the same port, one line per sample. After each stream the learner starts
// over, waiting for the next one. On the ESP32 boards the learned state is
// kept in Preferences (flash_preferences.cpp, docs/STORAGE.md): loaded at the
// start of each stream, saved every LEARNER_SAVE_EVERY learning steps; on
// other boards it lives in RAM only.
#include <Arduino.h>

extern "C" {
#include "learner.h"
#include "learner_config.h"
}

#if defined(ARDUINO_ARCH_ESP32) || defined(LEARNER_FLASH_PREFERENCES)
#include "flash_store.h"
#define LEARNER_HAS_FLASH 1
static uint8_t page[FLASH_STORE_PAGE_BYTES];
#endif

static uint8_t arena[LEARNER_ARENA_BYTES] __attribute__((aligned(4)));
static uint8_t state[LEARNER_STATE_BYTES] __attribute__((aligned(4)));
static int8_t features[LEARNER_N_INPUTS];

static size_t serial_read(void *, void *buf, size_t len)
{
    uint8_t *p = static_cast<uint8_t *>(buf);
    size_t got = 0;
    while (got < len) {
        int c = Serial.read();
        if (c < 0) {
            delay(1);  // wait for the host: a stream has no time limit
            continue;
        }
        p[got++] = static_cast<uint8_t>(c);
    }
    return got;
}

static void serial_write(void *, const char *text, size_t len)
{
    Serial.write(reinterpret_cast<const uint8_t *>(text), len);
}

void setup()
{
    Serial.begin(115200);
    while (!Serial) {
        delay(10);
    }
    Serial.println("metabnn stream learner ready");
}

void loop()
{
#ifdef LEARNER_HAS_FLASH
    learner_io io = {serial_read, serial_write, nullptr, nullptr, flash_store_open(), LEARNER_SAVE_EVERY};
    learner_memory mem = {LEARNER_BLOB, LEARNER_BLOB_LEN, arena, sizeof arena,
                          state, sizeof state, features, sizeof features, page, sizeof page};
#else
    learner_io io = {serial_read, serial_write, nullptr, nullptr, nullptr, 0};
    learner_memory mem = {LEARNER_BLOB, LEARNER_BLOB_LEN, arena, sizeof arena,
                          state, sizeof state, features, sizeof features, nullptr, 0};
#endif
    int rc = learner_run(&io, &mem);
    Serial.print("done ");
    Serial.println(rc);
}
