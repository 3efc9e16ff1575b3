// The device link (docs/LINK.md) on an Arduino board (ESP32, ESP32-C3, STM32
// Nucleo): the same protocol as the emulated boards' link firmware
// (targets/common/link_qemu.c), over Serial at 115200 baud. The host side:
//   python -m targets link monitor /dev/ttyUSB0 --stream stream.npz
//   python -m targets link pull /dev/ttyUSB0 -o state.bin
// The model and buffer sizes come from include/learner_config.h.
#include <Arduino.h>

extern "C" {
#include "learner_config.h"
#include "link.h"
}

static uint8_t arena[LEARNER_ARENA_BYTES] __attribute__((aligned(4)));
static uint8_t state[LEARNER_STATE_BYTES] __attribute__((aligned(4)));
static uint8_t frame[LINK_MAX_PAYLOAD + 16u] __attribute__((aligned(4)));
static link_session session;
static const link_memory mem = {LEARNER_BLOB, LEARNER_BLOB_LEN, arena, sizeof arena, state, sizeof state,
                                nullptr, 0, frame};

static int serial_read_byte(void *)
{
    int c;
    while ((c = Serial.read()) < 0) {
        delay(1);  // wait for the host: requests come when it sends them
    }
    return c;
}

static void serial_write(void *, const uint8_t *data, size_t len)
{
    Serial.write(data, len);
}

static const link_io io = {serial_read_byte, serial_write, nullptr};
static bool ready = false;

void setup()
{
    Serial.begin(115200);
    while (!Serial) {
        delay(10);
    }
    ready = link_init(&session, &mem) == MBNN_OK;  // the host's INFO request fails until it is
}

void loop()
{
    if (ready) {
        link_serve_one(&session, &mem, &io);
    } else {
        delay(1000);
    }
}
