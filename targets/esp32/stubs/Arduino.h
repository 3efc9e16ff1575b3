/* Host stand-in for the Arduino core, only so that the tests can compile
 * src/main_arduino.cpp without a board package (tests/test_targets_manifests.py). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
struct HostSerial {
    void begin(unsigned long) {}
    explicit operator bool() const { return true; }
    int read() { return getchar(); }
    size_t write(const uint8_t *p, size_t n) { return fwrite(p, 1, n, stdout); }
    void print(const char *s) { fputs(s, stdout); }
    void println(const char *s) { puts(s); }
    void println(int v) { printf("%d\n", v); }
};
static HostSerial Serial;
static inline void delay(unsigned long) {}
