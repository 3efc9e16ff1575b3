/* Smallest firmware: proves start-up, semihosting output and exit status. */
#include "semihost.h"

int main(void)
{
    static const char msg[] = "hello from the board\n";
    int fd = sh_open(":tt", SH_MODE_WB);
    sh_write(fd, msg, sizeof msg - 1);
    return 0;
}
