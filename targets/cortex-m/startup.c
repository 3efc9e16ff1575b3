/*
 * Start-up code for the Cortex-M boards (M0, M3, M4F, M7): the vector table,
 * the reset handler that copies .data from flash and zeroes .bss, fault
 * handlers that leave QEMU with a status instead of hanging, and the
 * semihosting trap. Symbols come from cortex-m.ld.
 */
#include <stdint.h>

#include "semihost.h"
#include "stackmeter.h"


extern uint32_t __data_load, __data_start, __data_end;
extern uint32_t __bss_start, __bss_end;

int main(void);
void reset_handler(void);
void target_init(void);

intptr_t sh_call(uintptr_t op, void *arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (intptr_t)r0;
}

static void fault_handler(void)
{
    static const char msg[] = "fault: the firmware hit a hard fault\n";
    int fd = sh_open(":tt", SH_MODE_WB);
    sh_write(fd, msg, sizeof msg - 1);
    sh_exit(70);
}

/* Called once before main; the C library's hooks (stdio) may override it. */
__attribute__((weak)) void target_init(void) {}

__attribute__((noreturn)) void reset_handler(void)
{
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end)
        *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;)
        *dst++ = 0;
    stack_paint();
#if defined(__ARM_FP)
    /* M4F / M7: allow the FPU (CP10, CP11 full access) before any code may use it. */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    target_init();
    sh_exit(main());
}

/* Core exceptions 1..15; no peripheral interrupt is enabled. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top,
    reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMon */
    0,
    fault_handler, /* PendSV */
    fault_handler, /* SysTick */
};
