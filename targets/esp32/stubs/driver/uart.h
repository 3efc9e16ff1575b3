/* Host stand-in for ESP-IDF's driver/uart.h (compile check only). */
#pragma once
#define CONFIG_ESP_CONSOLE_UART_NUM 0
static inline int uart_driver_install(int n, int rx, int tx, int q, void *h, int f)
{ (void)n; (void)rx; (void)tx; (void)q; (void)h; (void)f; return 0; }
