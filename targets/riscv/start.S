/*
 * Start-up code for rv32imc (the ESP32-C3's instruction set) on QEMU's virt
 * machine started with -bios none: execution begins at 0x80000000 in machine
 * mode. Sets gp, sp, the thread pointer (picolibc keeps errno in TLS) and a
 * trap vector that leaves QEMU with status 71 instead of hanging, then runs
 * crt_init (copy .data, zero .bss) and main, and exits through semihosting.
 */
    .section .text.start, "ax"
    .global _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
    la tp, __tls_base
    la t0, trap_entry
    .option push
    .option arch, +zicsr
    csrw mtvec, t0
    .option pop
    call crt_init
    call main
    call sh_exit
1:  j 1b

    .balign 4
trap_entry:
    la sp, __stack_top
    li a0, 71
    call sh_exit
2:  j 2b

/*
 * intptr_t sh_call(uintptr_t op, void *arg): the semihosting trap. The three
 * instructions must be uncompressed and on one page: aligned to 16 bytes.
 */
    .section .text.sh_call, "ax"
    .global sh_call
    .balign 16
sh_call:
    .option push
    .option norvc
    slli zero, zero, 0x1f
    ebreak
    srai zero, zero, 0x7
    .option pop
    ret
