/* Semihosting operations on top of sh_call (see semihost.h). */
#include "semihost.h"

#include <string.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_SEEK 0x0A
#define SYS_FLEN 0x0C
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

int sh_open(const char *name, int mode)
{
    uintptr_t args[3] = {(uintptr_t)name, (uintptr_t)mode, strlen(name)};
    return (int)sh_call(SYS_OPEN, args);
}

int sh_close(int fd)
{
    uintptr_t args[1] = {(uintptr_t)fd};
    return (int)sh_call(SYS_CLOSE, args);
}

long sh_read(int fd, void *buf, size_t len)
{
    uintptr_t args[3] = {(uintptr_t)fd, (uintptr_t)buf, len};
    intptr_t not_read = sh_call(SYS_READ, args);
    if (not_read < 0 || (size_t)not_read > len)
        return -1;
    return (long)(len - (size_t)not_read);
}

long sh_write(int fd, const void *buf, size_t len)
{
    uintptr_t args[3] = {(uintptr_t)fd, (uintptr_t)buf, len};
    return (long)sh_call(SYS_WRITE, args);
}

long sh_flen(int fd)
{
    uintptr_t args[1] = {(uintptr_t)fd};
    return (long)sh_call(SYS_FLEN, args);
}

int sh_seek(int fd, long pos)
{
    uintptr_t args[2] = {(uintptr_t)fd, (uintptr_t)pos};
    return (int)sh_call(SYS_SEEK, args);
}

void sh_exit(int code)
{
    /* The extended call carries the exit status on 32-bit targets too. */
    uintptr_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)code};
    sh_call(SYS_EXIT_EXTENDED, args);
    /* Hosts without the extended call: plain exit (status 0 or 1). */
    sh_call(SYS_EXIT, (void *)(uintptr_t)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT : 0x20023));
    for (;;) {
    }
}
