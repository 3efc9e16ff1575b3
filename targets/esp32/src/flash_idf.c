/* The learned state in the ESP-IDF data partition "mbnn" (flash_store.h).
 * esp_partition_write only clears bits and esp_partition_erase_range sets a
 * sector to 0xFF: the NOR rules the store expects. Program unit 16 bytes
 * (what flash encryption needs), erase block one 4 KiB sector. */
#include "flash_store.h"

#include "esp_partition.h"
#include "mbnn.h"

#define SECTOR 4096u

static int idf_read(void *ctx, uint32_t addr, void *dst, uint32_t len)
{
    return esp_partition_read((const esp_partition_t *)ctx, addr, dst, len) == ESP_OK ? 0 : -1;
}

static int idf_prog(void *ctx, uint32_t addr, const void *src, uint32_t len)
{
    return esp_partition_write((const esp_partition_t *)ctx, addr, src, len) == ESP_OK ? 0 : -1;
}

static int idf_erase(void *ctx, uint32_t block_addr)
{
    return esp_partition_erase_range((const esp_partition_t *)ctx, block_addr, SECTOR) == ESP_OK ? 0 : -1;
}

const struct mbnn_flash *flash_store_open(void)
{
    static mbnn_flash flash; /* the application's, not the runtime's */
    const esp_partition_t *part =
        esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, "mbnn");
    if (part == NULL)
        return NULL;
    flash.ctx = (void *)part;
    flash.read = idf_read;
    flash.prog = idf_prog;
    flash.erase = idf_erase;
    flash.prog_size = 16u;
    flash.block_size = SECTOR;
    flash.region_size = (uint32_t)part->size / SECTOR * SECTOR;
    return &flash;
}
