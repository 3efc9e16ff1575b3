/*
 * main() of the stream learner on a host or on a board whose console is the
 * C library's stdio (ESP-IDF: UART0): the stream comes on stdin, the log goes
 * to stdout, the learned state to the file named by the first argument (if
 * any). Same model configuration as learner_semihost.c.
 */
#include <stdint.h>
#include <stdio.h>

#include "learner.h"

#include LEARNER_CONFIG

static uint8_t arena[LEARNER_ARENA_BYTES] __attribute__((aligned(4)));
static uint8_t state[LEARNER_STATE_BYTES] __attribute__((aligned(4)));
static int8_t features[LEARNER_N_INPUTS];

static size_t rd(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    return fread(buf, 1, len, stdin);
}

static void wr(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static int save(void *ctx, const void *buf, size_t len)
{
    const char *path = ctx;
    FILE *fh = path ? fopen(path, "wb") : NULL;
    if (!fh)
        return path ? -1 : 0;
    size_t n = fwrite(buf, 1, len, fh);
    return (fclose(fh) == 0 && n == len) ? 0 : -1;
}

/* One stream; with a flash (or NULL) the learner resumes from it and saves
 * every save_every steps through page[page_len] (learner.h). */
int learner_stdio_run(const char *state_path, const struct mbnn_flash *flash, uint32_t save_every,
                      uint8_t *page, size_t page_len);
int learner_stdio_run(const char *state_path, const struct mbnn_flash *flash, uint32_t save_every,
                      uint8_t *page, size_t page_len)
{
    learner_io io = {rd, wr, save, (void *)state_path, flash, save_every};
    learner_memory mem = {LEARNER_BLOB, LEARNER_BLOB_LEN, arena, sizeof arena,
                          state, sizeof state, features, sizeof features, page, page_len};
    return learner_run(&io, &mem);
}

int learner_stdio_main(const char *state_path);
int learner_stdio_main(const char *state_path)
{
    return learner_stdio_run(state_path, NULL, 0, NULL, 0);
}

#ifndef LEARNER_NO_MAIN
int main(int argc, char **argv)
{
    return learner_stdio_main(argc > 1 ? argv[1] : NULL);
}
#endif
