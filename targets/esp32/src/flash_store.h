/*
 * The stream learner's flash on the ESP32 boards (docs/STORAGE.md):
 * - ESP-IDF (flash_idf.c): the data partition named "mbnn" of partitions.csv;
 * - Arduino-ESP32 (flash_preferences.cpp): the Preferences (NVS) namespace
 *   "mbnn", one key per 1 KiB block, NOR rules kept in software.
 * Returns the flash, or NULL when there is none (the learner then runs
 * without saving). It declares struct mbnn_flash only, so that it does not
 * need mbnn.h.
 */
#ifndef FLASH_STORE_H
#define FLASH_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mbnn_flash;

const struct mbnn_flash *flash_store_open(void);

/* Save every LEARNER_SAVE_EVERY learning steps; the page buffer of the store. */
#ifndef LEARNER_SAVE_EVERY
#define LEARNER_SAVE_EVERY 1000u
#endif
#define FLASH_STORE_PAGE_BYTES 64u

#ifdef __cplusplus
}
#endif
#endif
