/*
 * newlib's system calls on semihosting, for programs that use stdio (the
 * runtime's C tests). The stream learner does not need them. stdin, stdout and
 * stderr are the semihosting console ":tt"; a heap between __heap_start and
 * __heap_end (cortex-m/sections.ld) holds stdio's buffers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "semihost.h"

int _write(int fd, const void *buf, int len);
int _read(int fd, void *buf, int len);
int _close(int fd);
int _lseek(int fd, int off, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
void *_sbrk(intptr_t incr);
void _exit(int code);
int _kill(int pid, int sig);
int _getpid(void);

void target_init(void);

/* stdout unbuffered: stdio then needs no buffer from the heap (the
 * micro:bit has 16 KiB of RAM in all), and output is never lost in a fault. */
void target_init(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
}

static int console = -1;

static int host_fd(int fd)
{
    if (fd <= 2) {
        if (console < 0)
            console = sh_open(":tt", fd == 0 ? SH_MODE_RB : SH_MODE_WB);
        return console;
    }
    return fd;
}

int _write(int fd, const void *buf, int len)
{
    long left = sh_write(host_fd(fd), buf, (size_t)len);
    return left < 0 ? -1 : len - (int)left;
}

int _read(int fd, void *buf, int len)
{
    long n = sh_read(host_fd(fd), buf, (size_t)len);
    return n < 0 ? -1 : (int)n;
}

int _close(int fd) { return fd <= 2 ? 0 : sh_close(fd); }
int _lseek(int fd, int off, int whence) { (void)fd; (void)off; (void)whence; return 0; }
int _isatty(int fd) { return fd <= 2; }
int _fstat(int fd, struct stat *st)
{
    st->st_mode = fd <= 2 ? S_IFCHR : S_IFREG;
    return 0;
}

extern uint8_t __heap_start[], __heap_end[];
void *_sbrk(intptr_t incr)
{
    static uint8_t *brk = __heap_start;
    if (incr > __heap_end - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    uint8_t *old = brk;
    brk += incr;
    return old;
}

void _exit(int code) { sh_exit(code); }
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
int _getpid(void) { return 1; }
