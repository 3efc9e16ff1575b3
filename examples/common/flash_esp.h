/*
 * The flash store (mbnn_flash, mbnn.h) on an ESP32 data partition, for the
 * ESP-IDF example and the Arduino sketch on ESP32 boards. The partition is
 * the one labelled "mbnn" (examples/esp-idf/partitions.csv: a data
 * partition of 64 KiB); erase blocks are the flash's 4 KiB sectors.
 */
#ifndef FLASH_ESP_H
#define FLASH_ESP_H

#include "esp_partition.h"
#include "mbnn.h"

static int flash_esp_read(void *ctx, uint32_t addr, void *dst, uint32_t len)
{
    return esp_partition_read((const esp_partition_t *)ctx, addr, dst, len) != ESP_OK;
}

static int flash_esp_prog(void *ctx, uint32_t addr, const void *src, uint32_t len)
{
    return esp_partition_write((const esp_partition_t *)ctx, addr, src, len) != ESP_OK;
}

static int flash_esp_erase(void *ctx, uint32_t block_addr)
{
    return esp_partition_erase_range((const esp_partition_t *)ctx, block_addr, 4096u) != ESP_OK;
}

/* The "mbnn" partition as an mbnn_flash; 0 when found, -1 when the partition table has none. */
static inline int flash_esp_open(mbnn_flash *flash)
{
    const esp_partition_t *p = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, "mbnn");
    if (p == NULL)
        return -1;
    flash->ctx = (void *)p;
    flash->read = flash_esp_read;
    flash->prog = flash_esp_prog;
    flash->erase = flash_esp_erase;
    flash->prog_size = 16u;
    flash->block_size = 4096u;
    flash->region_size = (uint32_t)p->size / 4096u * 4096u;
    return 0;
}

#endif
