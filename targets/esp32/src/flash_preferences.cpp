// The learned state in Arduino-ESP32's Preferences (flash_store.h): the NVS
// namespace "mbnn" holds one blob per 1 KiB block ("b0", "b1", ...). A block
// that has no key reads as erased (0xFF); programming ANDs into it and writes
// the block back; erasing removes the key. NVS itself spreads its writes over
// its own pages, and a write cut by a reset keeps the old value of the key,
// so a block is never half written. Region: MBNN_PREFS_BLOCKS blocks.
#include <Preferences.h>

#include <string.h>

extern "C" {
#include "flash_store.h"
#include "mbnn.h"
}

#ifndef MBNN_PREFS_BLOCKS
#define MBNN_PREFS_BLOCKS 16u
#endif
#define BLOCK 1024u

static Preferences prefs;
static uint8_t block[BLOCK];

static void key_of(uint32_t b, char *key)
{
    key[0] = 'b';
    int n = 1;
    char digits[10];
    int d = 0;
    do {
        digits[d++] = static_cast<char>('0' + b % 10u);
        b /= 10u;
    } while (b);
    while (d)
        key[n++] = digits[--d];
    key[n] = '\0';
}

static int load_block(uint32_t b)
{
    char key[12];
    key_of(b, key);
    if (prefs.getBytes(key, block, BLOCK) != BLOCK)
        memset(block, 0xFF, BLOCK); /* never written, or erased */
    return 0;
}

static int prefs_read(void *, uint32_t addr, void *dst, uint32_t len)
{
    uint8_t *out = static_cast<uint8_t *>(dst);
    while (len) {
        uint32_t off = addr % BLOCK, n = BLOCK - off < len ? BLOCK - off : len;
        load_block(addr / BLOCK);
        memcpy(out, block + off, n);
        out += n;
        addr += n;
        len -= n;
    }
    return 0;
}

static int prefs_prog(void *, uint32_t addr, const void *src, uint32_t len)
{
    const uint8_t *in = static_cast<const uint8_t *>(src);
    while (len) {
        uint32_t off = addr % BLOCK, n = BLOCK - off < len ? BLOCK - off : len;
        char key[12];
        load_block(addr / BLOCK);
        for (uint32_t i = 0; i < n; i++)
            block[off + i] &= in[i]; /* programming only clears bits */
        key_of(addr / BLOCK, key);
        if (prefs.putBytes(key, block, BLOCK) != BLOCK)
            return -1;
        in += n;
        addr += n;
        len -= n;
    }
    return 0;
}

static int prefs_erase(void *, uint32_t block_addr)
{
    char key[12];
    key_of(block_addr / BLOCK, key);
    if (prefs.isKey(key) && !prefs.remove(key))
        return -1;
    return 0;
}

const struct mbnn_flash *flash_store_open(void)
{
    static mbnn_flash flash;
    if (!prefs.begin("mbnn", false))
        return nullptr;
    flash.ctx = nullptr;
    flash.read = prefs_read;
    flash.prog = prefs_prog;
    flash.erase = prefs_erase;
    flash.prog_size = 16u;
    flash.block_size = BLOCK;
    flash.region_size = MBNN_PREFS_BLOCKS * BLOCK;
    return &flash;
}
