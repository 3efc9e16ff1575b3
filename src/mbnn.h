/* Arduino library entry point: the Arduino IDE compiles a library's src/
 * folder, so this folder forwards to the runtime in runtime_c/ (the single
 * copy of the code). PlatformIO, ESP-IDF and CMake use runtime_c/ directly. */
#include "../runtime_c/include/mbnn.h"
