/*
 * A NOR flash kept in a host file through semihosting (QEMU): the flash of
 * the emulated boards, for mbnn_store_save / _load. The rules of NOR flash
 * hold: erase writes 0xFF over a block, programming ANDs the new bytes into
 * the old ones (bits only go from 1 to 0). Killing QEMU in the middle of an
 * operation leaves it partly done, as a power cut would.
 */
#ifndef TARGETS_FLASH_SEMIHOST_H
#define TARGETS_FLASH_SEMIHOST_H

#include <stdint.h>

struct mbnn_flash;

typedef struct {
    int fd;
    uint32_t block_size;
} flash_semihost;

/* Open the image file `name` (created by the host, its length the region
 * size) as a flash with this geometry; returns 0, or -1 when there is no such
 * file (then the board runs without a flash). */
int flash_semihost_open(flash_semihost *fs, const char *name, uint32_t prog_size,
                        uint32_t block_size, struct mbnn_flash *flash);

#endif
