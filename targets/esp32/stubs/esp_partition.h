/* Host stand-in for ESP-IDF's esp_partition.h (examples' compile and run checks only):
 * one 64 KiB data partition "mbnn" in RAM that behaves as NOR flash. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>
typedef int esp_err_t;
#define ESP_OK 0
#define ESP_FAIL -1
typedef enum { ESP_PARTITION_TYPE_APP = 0, ESP_PARTITION_TYPE_DATA = 1 } esp_partition_type_t;
typedef enum { ESP_PARTITION_SUBTYPE_ANY = 0xff } esp_partition_subtype_t;
typedef struct {
    uint32_t size;
    uint8_t *mem;
} esp_partition_t;
static inline const esp_partition_t *esp_partition_find_first(esp_partition_type_t t, esp_partition_subtype_t s,
                                                              const char *label)
{
    static uint8_t mem[65536];
    static esp_partition_t part = {0, NULL};
    (void)t;
    (void)s;
    if (strcmp(label, "mbnn") != 0)
        return NULL;
    if (part.mem == NULL) {
        memset(mem, 0xFF, sizeof mem);
        part.size = sizeof mem;
        part.mem = mem;
    }
    return &part;
}
static inline esp_err_t esp_partition_read(const esp_partition_t *p, size_t off, void *dst, size_t len)
{
    if (off + len > p->size)
        return ESP_FAIL;
    memcpy(dst, p->mem + off, len);
    return ESP_OK;
}
static inline esp_err_t esp_partition_write(const esp_partition_t *p, size_t off, const void *src, size_t len)
{
    const uint8_t *s = (const uint8_t *)src;
    if (off + len > p->size)
        return ESP_FAIL;
    for (size_t i = 0; i < len; i++)
        p->mem[off + i] &= s[i];
    return ESP_OK;
}
static inline esp_err_t esp_partition_erase_range(const esp_partition_t *p, size_t off, size_t len)
{
    if (off % 4096u || len % 4096u || off + len > p->size)
        return ESP_FAIL;
    memset(p->mem + off, 0xFF, len);
    return ESP_OK;
}
