/* Host stand-in for ESP-IDF's freertos/task.h (compile check of examples/esp-idf only):
 * app_main's loop ends after MBNN_STUB_TICKS delays so that a host run terminates. */
#pragma once
#include <stdlib.h>
#include "FreeRTOS.h"
#ifndef MBNN_STUB_TICKS
#define MBNN_STUB_TICKS 1000
#endif
static inline void vTaskDelay(TickType_t t)
{
    static unsigned calls;
    (void)t;
    if (++calls >= MBNN_STUB_TICKS)
        exit(0);
}
