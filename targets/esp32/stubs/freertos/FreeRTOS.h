/* Host stand-in for ESP-IDF's FreeRTOS.h (compile check of examples/esp-idf only). */
#pragma once
#include <stdint.h>
typedef uint32_t TickType_t;
#define pdMS_TO_TICKS(ms) ((TickType_t)(ms))
