/*
 * A simulated NOR flash for tests (not part of the runtime): the C tests, the
 * fuzz harnesses and Python (through the binding) drive mbnn_store_* with it.
 *
 * NOR rules: erase sets a block's bytes to 0xFF; programming can only clear
 * bits (new = old & data). Faults:
 * - power cut: during program/erase operation number cut_op (1-based, counting
 *   both kinds; 0 = never) the power fails after part of the operation: the
 *   first cut_at % (len + 1) bytes are done, the byte at that point gets a
 *   random part of its change, and (scatter != 0) every later byte too, as a
 *   page whose bits were being programmed in parallel. Then the flash is off:
 *   every call fails until mbnn_flashsim_power_on.
 * - failures: the fail_read / fail_prog / fail_erase-th call of that kind
 *   (1-based; 0 = never) returns -1 and changes nothing.
 * Calls that break the rules (out of range, misaligned, programming a bit
 * from 0 to 1) fail and count in violations: a correct store makes none.
 */
#ifndef MBNN_FLASHSIM_H
#define MBNN_FLASHSIM_H

#include "mbnn.h"

typedef struct {
    uint8_t *mem;          /* region_size bytes, owned by the caller */
    uint32_t *erase_count; /* region_size / block_size counters, or NULL */
    uint32_t prog_size, block_size, region_size;
    uint32_t ops;          /* program + erase operations so far (cut_op counts these) */
    uint32_t reads, progs, erases;
    uint32_t cut_op, cut_at, scatter;
    uint32_t fail_read, fail_prog, fail_erase;
    uint32_t violations;
    uint32_t rng;          /* xorshift32 state for partial bits */
    uint8_t off;           /* power cut happened */
} mbnn_flashsim;

/* A blank (erased) flash over mem; erase_count may be NULL. Returns 0, or -1
 * for a geometry mbnn_flash cannot describe. */
int mbnn_flashsim_init(mbnn_flashsim *sim, uint8_t *mem, uint32_t *erase_count,
                       uint32_t prog_size, uint32_t block_size, uint32_t region_size);

/* The mbnn_flash that drives sim. */
void mbnn_flashsim_flash(mbnn_flashsim *sim, mbnn_flash *flash);

/* Restart after a power cut: power back, no cut or failure armed. */
void mbnn_flashsim_power_on(mbnn_flashsim *sim);

#endif
