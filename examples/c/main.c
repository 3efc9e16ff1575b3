/*
 * A plain C program that learns on the host as it would on a board:
 * init from the exported header, resume from what flash holds, read a
 * (simulated) sensor, quantize, predict, learn when a label arrives, save to
 * flash every SAVE_EVERY learning steps.
 *
 *   cmake -S examples/c -B build/example-c && cmake --build build/example-c
 *   build/example-c/sensor_learner [READINGS] [LABEL_EVERY] [FLASH_FILE] [SAVE_EVERY]
 *
 * The flash is a file (default flash.bin) that behaves as NOR flash:
 * programming only clears bits, erasing sets a 4 KiB block to 0xFF. Run the
 * program twice: the second run resumes at the step the first one saved.
 *
 * The model is model.h from METABNN_MODEL_DIR (CMake option; default: the
 * demo model of targets/esp32/include): write yours with
 *   python -m export model.pt --board NAME --header DIR/model.h
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbnn.h"
#include "model.h"
#include "sensor_app.h"
#include "sensor_sim.h"

static unsigned char arena[METABNN_ARENA_LEARN] __attribute__((aligned(4)));
static unsigned char page[256] __attribute__((aligned(4))); /* the flash store's buffer */

#define BLOCK 4096u
/* two records of the state at least, in whole blocks, plus one block */
#define REGION ((METABNN_STATE_BYTES + 64u + BLOCK - 1u) / BLOCK * BLOCK * 2u + BLOCK)

/* NOR flash in a file: the callbacks of mbnn_flash (mbnn.h). */
static int flash_read(void *ctx, uint32_t addr, void *dst, uint32_t len)
{
    FILE *fh = ctx;
    return fseek(fh, (long)addr, SEEK_SET) != 0 || fread(dst, 1, len, fh) != len;
}

static int flash_prog(void *ctx, uint32_t addr, const void *src, uint32_t len)
{
    unsigned char old[256];
    const unsigned char *s = src;
    FILE *fh = ctx;
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < sizeof old ? len - done : (uint32_t)sizeof old;
        if (flash_read(ctx, addr + done, old, n))
            return -1;
        for (uint32_t i = 0; i < n; i++)
            old[i] &= s[done + i]; /* programming only clears bits */
        if (fseek(fh, (long)(addr + done), SEEK_SET) != 0 || fwrite(old, 1, n, fh) != n)
            return -1;
        done += n;
    }
    return fflush(fh);
}

static int flash_erase(void *ctx, uint32_t block_addr)
{
    unsigned char ones[256];
    memset(ones, 0xFF, sizeof ones);
    FILE *fh = ctx;
    if (fseek(fh, (long)block_addr, SEEK_SET) != 0)
        return -1;
    for (uint32_t i = 0; i < BLOCK; i += sizeof ones)
        if (fwrite(ones, 1, sizeof ones, fh) != sizeof ones)
            return -1;
    return fflush(fh);
}

/* Open the flash file, creating an erased one. */
static FILE *flash_open(const char *path)
{
    FILE *fh = fopen(path, "r+b");
    if (fh)
        return fh;
    fh = fopen(path, "w+b");
    for (uint32_t b = 0; fh && b < REGION; b += BLOCK)
        if (flash_erase(fh, b) != 0) {
            fclose(fh);
            return NULL;
        }
    return fh;
}

int main(int argc, char **argv)
{
    unsigned long readings = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000u;
    unsigned long label_every = argc > 2 ? strtoul(argv[2], NULL, 10) : 1u; /* 1: every reading has a label */
    const char *flash_path = argc > 3 ? argv[3] : "flash.bin";
    uint32_t save_every = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 100u;
    sensor_app app;
    mbnn_status st = sensor_app_init(&app, METABNN_MODEL, METABNN_MODEL_LEN, arena, sizeof arena);
    if (st != MBNN_OK) {
        fprintf(stderr, "model: %s\n", mbnn_strerror(st));
        return 1;
    }
    printf("model: %u inputs, %u classes, arena %u bytes, state %u bytes\n", (unsigned)METABNN_N_INPUTS,
           (unsigned)METABNN_N_CLASSES, (unsigned)sizeof arena, (unsigned)METABNN_STATE_BYTES);

    FILE *fh = flash_open(flash_path);
    if (!fh) {
        fprintf(stderr, "%s: cannot open or create the flash file\n", flash_path);
        return 1;
    }
    mbnn_flash flash = {fh, flash_read, flash_prog, flash_erase, 16u, BLOCK, REGION};
    st = sensor_app_use_flash(&app, &flash, page, sizeof page, save_every);
    if (st != MBNN_OK) /* torn records or another model's: start from the blob */
        printf("flash: %s; starting from the blob\n", mbnn_strerror(st));
    printf("resumed at step %u from %s; saving every %u steps\n", (unsigned)app.resumed_step, flash_path,
           (unsigned)save_every);

    uint32_t rng = 12345u + app.resumed_step; /* another run: other readings */
    float reading[METABNN_N_INPUTS];
    int8_t x[METABNN_N_INPUTS];
    for (unsigned long i = 1; i <= readings; i++) {
        int label = sensor_sim_read(&rng, reading, METABNN_N_INPUTS, METABNN_N_CLASSES);
        for (unsigned k = 0; k < METABNN_N_INPUTS; k++)
            x[k] = METABNN_QUANTIZE(reading[k]);
        uint16_t pred = 0;
        st = sensor_app_step(&app, x, label_every && i % label_every == 0 ? label : -1, &pred);
        if (st != MBNN_OK) {
            fprintf(stderr, "reading %lu: %s\n", i, mbnn_strerror(st));
            fclose(fh);
            return 1;
        }
        if (i % 500u == 0)
            printf("reading %lu: step %u, accuracy so far %u%%\n", i, (unsigned)app.model.step,
                   (unsigned)sensor_app_accuracy_pct(&app));
    }
    printf("done: %u readings, %u labelled, %u correct (%u%%), step %u, %u saves\n", (unsigned)app.readings,
           (unsigned)app.labelled, (unsigned)app.correct, (unsigned)sensor_app_accuracy_pct(&app),
           (unsigned)app.model.step, (unsigned)app.saves);
    return fclose(fh) != 0;
}
