/*
 * Semihosting: the guest asks the debugger (here QEMU) to do I/O on the host.
 * The operation numbers and parameter blocks are those of the Arm semihosting
 * specification, which RISC-V semihosting reuses unchanged. Only what the
 * firmware needs: open, close, read, write, file length, exit.
 */
#ifndef TARGETS_SEMIHOST_H
#define TARGETS_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* The trap into the host, in semihost_<arch>.c / .S: op in r0/a0, arg in r1/a1. */
intptr_t sh_call(uintptr_t op, void *arg);

#define SH_MODE_RB 1 /* fopen "rb" */
#define SH_MODE_WB 5 /* fopen "wb" */
#define SH_MODE_RPB 3 /* fopen "r+b" */

/* Open a host file; returns a handle >= 0 or -1. ":tt" is the console. */
int sh_open(const char *name, int mode);
int sh_close(int fd);
/* Read up to len bytes; returns bytes read (0 at end of file), -1 on error. */
long sh_read(int fd, void *buf, size_t len);
/* Write len bytes; returns 0 when all were written. */
long sh_write(int fd, const void *buf, size_t len);
long sh_flen(int fd);
/* Move to byte pos of a file; returns 0 on success. */
int sh_seek(int fd, long pos);
/* Leave QEMU with this exit status. Never returns. */
void sh_exit(int code) __attribute__((noreturn));

#endif
