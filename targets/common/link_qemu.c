/*
 * main() of the link firmware under QEMU: the device link (link.h,
 * docs/LINK.md) on the board's first UART, which QEMU connects to a TCP
 * socket or a pseudo-terminal (-serial). The same bytes as on a board's
 * serial port. The model comes from LINK_CONFIG (the stream learner's
 * configuration header, written by targets/firmware.py).
 *
 * UARTs: the Arm MPS2 boards' CMSDK APB UART0 at 0x40004000 (Cortex-M3, M4F,
 * M7); QEMU virt's NS16550A at 0x10000000 (rv32imc).
 */
#include <stdint.h>

#include "link.h"

#include LINK_CONFIG

#ifndef LINK_MODEL_BYTES
#define LINK_MODEL_BYTES 0u
#endif

static uint8_t arena[LEARNER_ARENA_BYTES] __attribute__((aligned(4)));
static uint8_t state[LEARNER_STATE_BYTES] __attribute__((aligned(4)));
static uint8_t frame[LINK_MAX_PAYLOAD + 16u] __attribute__((aligned(4)));
#if LINK_MODEL_BYTES > 0
static uint8_t model_buf[LINK_MODEL_BYTES] __attribute__((aligned(4)));
#define MODEL_BUF model_buf
#else
#define MODEL_BUF 0
#endif

#if defined(__riscv)
#define UART ((volatile uint8_t *)0x10000000u)
static void uart_init(void) {}
static int uart_read(void *ctx)
{
    (void)ctx;
    while (!(UART[5] & 0x01u)) /* LSR: data ready */
        ;
    return UART[0];
}
static void uart_put(uint8_t c)
{
    while (!(UART[5] & 0x20u)) /* LSR: transmit holding register empty */
        ;
    UART[0] = c;
}
#else
#define UART ((volatile uint32_t *)0x40004000u) /* DATA, STATE, CTRL, INTSTATUS, BAUDDIV */
static void uart_init(void)
{
    UART[4] = 16u; /* BAUDDIV: the smallest the CMSDK UART accepts */
    UART[2] = 3u;  /* CTRL: TX and RX enabled */
}
static int uart_read(void *ctx)
{
    (void)ctx;
    while (!(UART[1] & 2u)) /* STATE: RX buffer full */
        ;
    return (int)(UART[0] & 0xFFu);
}
static void uart_put(uint8_t c)
{
    while (UART[1] & 1u) /* STATE: TX buffer full */
        ;
    UART[0] = c;
}
#endif

static void uart_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        uart_put(data[i]);
}

int main(void)
{
    link_session session;
    link_memory mem = {LEARNER_BLOB, LEARNER_BLOB_LEN, arena, sizeof arena, state, sizeof state,
                       MODEL_BUF, LINK_MODEL_BYTES, frame};
    link_io io = {uart_read, uart_write, 0};
    uart_init();
    if (link_init(&session, &mem) != MBNN_OK)
        return 1;
    for (;;)
        (void)link_serve_one(&session, &mem, &io);
}
