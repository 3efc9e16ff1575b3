/* The NOR flash in a host file (flash_semihost.h). */
#include "flash_semihost.h"

#include "mbnn.h"

#include "semihost.h"

#define CHUNK 64u

static int fs_read(void *ctx, uint32_t addr, void *dst, uint32_t len)
{
    flash_semihost *fs = (flash_semihost *)ctx;
    if (sh_seek(fs->fd, (long)addr) != 0)
        return -1;
    return sh_read(fs->fd, dst, len) == (long)len ? 0 : -1;
}

/* Write n bytes at addr: each the AND of old and new (program), or 0xFF (erase). */
static int fs_update(flash_semihost *fs, uint32_t addr, const uint8_t *in, uint32_t len)
{
    uint8_t buf[CHUNK];
    for (uint32_t done = 0; done < len; done += CHUNK) {
        uint32_t n = len - done < CHUNK ? len - done : CHUNK;
        if (in != NULL && fs_read(fs, addr + done, buf, n) != 0)
            return -1;
        for (uint32_t i = 0; i < n; i++)
            buf[i] = in != NULL ? (uint8_t)(buf[i] & in[done + i]) : 0xFFu;
        if (sh_seek(fs->fd, (long)(addr + done)) != 0 || sh_write(fs->fd, buf, n) != 0)
            return -1;
    }
    return 0;
}

static int fs_prog(void *ctx, uint32_t addr, const void *src, uint32_t len)
{
    return fs_update((flash_semihost *)ctx, addr, (const uint8_t *)src, len);
}

static int fs_erase(void *ctx, uint32_t block_addr)
{
    flash_semihost *fs = (flash_semihost *)ctx;
    return fs_update(fs, block_addr, NULL, fs->block_size);
}

int flash_semihost_open(flash_semihost *fs, const char *name, uint32_t prog_size,
                        uint32_t block_size, struct mbnn_flash *flash)
{
    fs->fd = sh_open(name, SH_MODE_RPB);
    fs->block_size = block_size;
    if (fs->fd < 0)
        return -1;
    long len = sh_flen(fs->fd);
    flash->ctx = fs;
    flash->read = fs_read;
    flash->prog = fs_prog;
    flash->erase = fs_erase;
    flash->prog_size = prog_size;
    flash->block_size = block_size;
    flash->region_size = len > 0 ? (uint32_t)len / block_size * block_size : 0u;
    return 0;
}
