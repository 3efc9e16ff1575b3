/* The simulated NOR flash of mbnn_flashsim.h. */
#include <string.h>

#include "mbnn_flashsim.h"

static uint32_t mbnn_flashsim_rand(mbnn_flashsim *sim)
{
    /* xorshift32 (Marsaglia, "Xorshift RNGs", 2003) */
    uint32_t x = sim->rng != 0u ? sim->rng : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    sim->rng = x;
    return x;
}

int mbnn_flashsim_init(mbnn_flashsim *sim, uint8_t *mem, uint32_t *erase_count,
                       uint32_t prog_size, uint32_t block_size, uint32_t region_size)
{
    if (sim == NULL || mem == NULL || prog_size == 0u || block_size == 0u ||
        block_size % prog_size != 0u || region_size % block_size != 0u) {
        return -1;
    }
    memset(sim, 0, sizeof(*sim));
    sim->mem = mem;
    sim->erase_count = erase_count;
    sim->prog_size = prog_size;
    sim->block_size = block_size;
    sim->region_size = region_size;
    memset(mem, 0xFF, region_size);
    if (erase_count != NULL) {
        memset(erase_count, 0, sizeof(uint32_t) * (region_size / block_size));
    }
    return 0;
}

void mbnn_flashsim_power_on(mbnn_flashsim *sim)
{
    sim->off = 0;
    sim->cut_op = 0;
    sim->fail_read = sim->fail_prog = sim->fail_erase = 0;
}

/* 1 when this operation is cut by the power: the first done bytes complete. */
static int mbnn_flashsim_cut(mbnn_flashsim *sim, uint32_t len, uint32_t *done)
{
    sim->ops++;
    if (sim->cut_op == 0u || sim->ops != sim->cut_op) {
        return 0;
    }
    *done = sim->cut_at % (len + 1u);
    sim->rng = sim->cut_at * 2654435761u + sim->ops;
    sim->off = 1;
    return 1;
}

static int mbnn_flashsim_read(void *ctx, uint32_t addr, void *dst, uint32_t len)
{
    mbnn_flashsim *sim = (mbnn_flashsim *)ctx;
    sim->reads++;
    if (sim->off || (sim->fail_read != 0u && sim->reads == sim->fail_read)) {
        return -1;
    }
    if (addr > sim->region_size || len > sim->region_size - addr) {
        sim->violations++;
        return -1;
    }
    memcpy(dst, sim->mem + addr, len);
    return 0;
}

static int mbnn_flashsim_prog(void *ctx, uint32_t addr, const void *src, uint32_t len)
{
    mbnn_flashsim *sim = (mbnn_flashsim *)ctx;
    const uint8_t *in = (const uint8_t *)src;
    uint32_t i, done = len;
    int cut;

    sim->progs++;
    if (sim->off || (sim->fail_prog != 0u && sim->progs == sim->fail_prog)) {
        return -1;
    }
    if (addr % sim->prog_size != 0u || len % sim->prog_size != 0u || addr > sim->region_size ||
        len > sim->region_size - addr) {
        sim->violations++;
        return -1;
    }
    for (i = 0; i < len; i++) {
        if ((sim->mem[addr + i] & in[i]) != in[i]) {
            sim->violations++; /* a 0 bit to program back to 1: not erased first */
            return -1;
        }
    }
    cut = mbnn_flashsim_cut(sim, len, &done);
    for (i = 0; i < len; i++) {
        uint8_t old = sim->mem[addr + i];
        if (i < done) {
            sim->mem[addr + i] = (uint8_t)(old & in[i]);
        } else if (cut && (i == done || sim->scatter)) {
            /* some of the bits being cleared are cleared */
            sim->mem[addr + i] = (uint8_t)(old & (in[i] | (uint8_t)mbnn_flashsim_rand(sim)));
        }
    }
    return cut ? -1 : 0;
}

static int mbnn_flashsim_erase(void *ctx, uint32_t block_addr)
{
    mbnn_flashsim *sim = (mbnn_flashsim *)ctx;
    uint32_t i, done = sim->block_size;
    int cut;

    sim->erases++;
    if (sim->off || (sim->fail_erase != 0u && sim->erases == sim->fail_erase)) {
        return -1;
    }
    if (block_addr % sim->block_size != 0u || block_addr >= sim->region_size) {
        sim->violations++;
        return -1;
    }
    if (sim->erase_count != NULL) {
        sim->erase_count[block_addr / sim->block_size]++;
    }
    cut = mbnn_flashsim_cut(sim, sim->block_size, &done);
    for (i = 0; i < sim->block_size; i++) {
        uint8_t *b = sim->mem + block_addr + i;
        if (i < done) {
            *b = 0xFFu;
        } else if (cut && (i == done || sim->scatter)) {
            *b = (uint8_t)(*b | (uint8_t)mbnn_flashsim_rand(sim)); /* some bits set */
        }
    }
    return cut ? -1 : 0;
}

void mbnn_flashsim_flash(mbnn_flashsim *sim, mbnn_flash *flash)
{
    flash->ctx = sim;
    flash->read = mbnn_flashsim_read;
    flash->prog = mbnn_flashsim_prog;
    flash->erase = mbnn_flashsim_erase;
    flash->prog_size = sim->prog_size;
    flash->block_size = sim->block_size;
    flash->region_size = sim->region_size;
}
