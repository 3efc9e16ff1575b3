/* Host stand-in for ESP-IDF's esp_vfs_dev.h (compile check only). */
#pragma once
typedef enum { ESP_LINE_ENDINGS_CRLF, ESP_LINE_ENDINGS_CR, ESP_LINE_ENDINGS_LF } esp_line_endings_t;
static inline void esp_vfs_dev_uart_use_driver(int n) { (void)n; }
static inline int esp_vfs_dev_uart_port_set_rx_line_endings(int n, esp_line_endings_t m) { (void)n; (void)m; return 0; }
static inline int esp_vfs_dev_uart_port_set_tx_line_endings(int n, esp_line_endings_t m) { (void)n; (void)m; return 0; }
