/*
 * main() of the stream learner under QEMU: the stream is the host file
 * "stream.bin", the log goes to the console, the learned state to
 * "state.bin" (paths relative to QEMU's working directory). When the host
 * file "flash.bin" exists it is the board's NOR flash (flash_semihost.h): the
 * learner resumes from the state saved there and saves every
 * LEARNER_SAVE_EVERY learning steps. The model comes
 * from the header LEARNER_CONFIG (written by `python -m targets build`),
 * which includes the model header and sizes the arena and the buffers.
 */
#include <stdint.h>

#include "flash_semihost.h"
#include "learner.h"
#include "mbnn.h"
#include "semihost.h"
#include "stackmeter.h"

#include LEARNER_CONFIG

#ifndef LEARNER_SAVE_EVERY
#define LEARNER_SAVE_EVERY 100u
#endif
#ifndef LEARNER_FLASH_PROG
#define LEARNER_FLASH_PROG 256u /* a typical NOR page */
#endif
#ifndef LEARNER_FLASH_BLOCK
#define LEARNER_FLASH_BLOCK 4096u /* a typical NOR sector */
#endif
#define LEARNER_PAGE_BYTES (LEARNER_FLASH_PROG < 64u ? 64u : LEARNER_FLASH_PROG)

static uint8_t arena[LEARNER_ARENA_BYTES] __attribute__((aligned(4)));
static uint8_t state[LEARNER_STATE_BYTES] __attribute__((aligned(4)));
static int8_t features[LEARNER_N_INPUTS];
static uint8_t page[LEARNER_PAGE_BYTES];

typedef struct {
    int in, out;
} files;

static size_t rd(void *ctx, void *buf, size_t len)
{
    long n = sh_read(((files *)ctx)->in, buf, len);
    return n < 0 ? 0 : (size_t)n;
}

static void wr(void *ctx, const char *text, size_t len)
{
    sh_write(((files *)ctx)->out, text, len);
}

static int save(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    int fd = sh_open("state.bin", SH_MODE_WB);
    if (fd < 0)
        return -1;
    long left = sh_write(fd, buf, len);
    sh_close(fd);
    return left == 0 ? 0 : -1;
}

int main(void)
{
    files f = {sh_open("stream.bin", SH_MODE_RB), sh_open(":tt", SH_MODE_WB)};
    if (f.in < 0) {
        static const char msg[] = "error stream: cannot open stream.bin\n";
        sh_write(f.out, msg, sizeof msg - 1);
        return 2;
    }
    flash_semihost fs;
    struct mbnn_flash flash;
    int has_flash = flash_semihost_open(&fs, "flash.bin", LEARNER_FLASH_PROG, LEARNER_FLASH_BLOCK, &flash) == 0;
    learner_io io = {rd, wr, save, &f, has_flash ? &flash : NULL, LEARNER_SAVE_EVERY};
    learner_memory mem = {LEARNER_BLOB, LEARNER_BLOB_LEN, arena, sizeof arena,
                          state, sizeof state, features, sizeof features, page, sizeof page};
    int rc = learner_run(&io, &mem);
    sh_close(f.in);
    if (has_flash)
        sh_close(fs.fd);

    /* For bench/footprint.py: the deepest the stack went, in stack.txt. */
    char text[12];
    size_t used = stack_used(), n = sizeof text;
    text[--n] = '\n';
    do {
        text[--n] = (char)('0' + used % 10u);
        used /= 10u;
    } while (used && n);
    int fd = sh_open("stack.txt", SH_MODE_WB);
    if (fd >= 0) {
        sh_write(fd, text + n, sizeof text - n);
        sh_close(fd);
    }
    return rc;
}
