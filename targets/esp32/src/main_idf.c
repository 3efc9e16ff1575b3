/*
 * The stream learner under ESP-IDF: the console UART is stdin/stdout (the
 * same code as the host's learner_stdio.c). The UART driver makes reads
 * blocking, and line-ending translation is switched off in both directions,
 * because the stream is binary and the log must reach the host unchanged.
 * The learned state is kept in the data partition "mbnn" (flash_idf.c,
 * partitions.csv): loaded at the start of each stream, saved every
 * LEARNER_SAVE_EVERY learning steps.
 */
#include <stdio.h>

#include "driver/uart.h"
#include "esp_vfs_dev.h"
#include "flash_store.h"

#define LEARNER_NO_MAIN
#define LEARNER_CONFIG "learner_config.h"
#include "learner_stdio.c"

void app_main(void)
{
    setvbuf(stdin, NULL, _IONBF, 0);
    uart_driver_install(CONFIG_ESP_CONSOLE_UART_NUM, 1024, 0, 0, NULL, 0);
    esp_vfs_dev_uart_use_driver(CONFIG_ESP_CONSOLE_UART_NUM);
    esp_vfs_dev_uart_port_set_rx_line_endings(CONFIG_ESP_CONSOLE_UART_NUM, ESP_LINE_ENDINGS_LF);
    esp_vfs_dev_uart_port_set_tx_line_endings(CONFIG_ESP_CONSOLE_UART_NUM, ESP_LINE_ENDINGS_LF);
    printf("metabnn stream learner ready\n");
    static uint8_t page[FLASH_STORE_PAGE_BYTES];
    const struct mbnn_flash *flash = flash_store_open();
    for (;;) {
        int rc = learner_stdio_run(NULL, flash, LEARNER_SAVE_EVERY, page, sizeof page);
        printf("done %d\n", rc);
    }
}
