/* Memory set-up before main for rv32imc: symbols from rv32.ld. */
#include <stdint.h>
#include <string.h>

#include "stackmeter.h"

extern uint8_t __data_load[], __data_start[], __data_end[];
extern uint8_t __bss_start[], __bss_end[];
extern uint8_t __tdata_load[], __tls_base[], __tdata_end[], __tbss_end[];

void crt_init(void);
void target_init(void);
__attribute__((weak)) void target_init(void) {}

void crt_init(void)
{
    /* Plain loops, not memcpy: the C library may need TLS set up first. */
    for (uint8_t *s = __data_load, *d = __data_start; d < __data_end;)
        *d++ = *s++;
    for (uint8_t *s = __tdata_load, *d = __tls_base; d < __tdata_end;)
        *d++ = *s++;
    for (uint8_t *d = __tdata_end; d < __tbss_end;)
        *d++ = 0;
    for (uint8_t *d = __bss_start; d < __bss_end;)
        *d++ = 0;
    stack_paint();
    target_init();
}
