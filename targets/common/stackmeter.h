/*
 * Stack high-water mark: the start-up code fills the unused stack with a
 * pattern (stack_paint); stack_used() later finds how deep the stack went.
 * The linker scripts define __stack_bottom and __stack_top.
 */
#ifndef TARGETS_STACKMETER_H
#define TARGETS_STACKMETER_H

#include <stddef.h>
#include <stdint.h>

#define STACK_PATTERN 0xA5A5A5A5u

extern uint32_t __stack_bottom[], __stack_top[];

/* Fill the stack below the caller's frame with the pattern. Inline, so that it
 * paints from the frame of the start-up code itself. */
static inline __attribute__((always_inline)) void stack_paint(void)
{
    uint32_t *sp;
#if defined(__riscv)
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#else
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
    for (volatile uint32_t *p = __stack_bottom; p < sp - 32;)
        *p++ = STACK_PATTERN;
}

/* Bytes of stack used so far (at most the stack size). */
static inline size_t stack_used(void)
{
    const uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == STACK_PATTERN)
        p++;
    return (size_t)((const uint8_t *)__stack_top - (const uint8_t *)p);
}

#endif
