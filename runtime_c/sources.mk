# The metabnn C runtime's sources, for any build that includes this file
# (runtime_c/Makefile, the board targets, the cffi binding reads it too).
#
#   MBNN_DIR ?= path/to/runtime_c
#   include $(MBNN_DIR)/sources.mk
#   CFLAGS += $(MBNN_CFLAGS)       # -I for mbnn.h
#   objects from $(MBNN_SRCS)
#
# The list itself is sources.txt (one path per line, relative to runtime_c/),
# the one list that make (here), CMake (CMakeLists.txt, also the ESP-IDF
# component), the cffi binding (pyruntime/_build.py), PlatformIO (library.json
# srcFilter, written by python -m pyruntime.codegen) and the Arduino library
# (targets/arduino_lib.py) read. The C tests are listed in tests/tests.mk.
#
# The runtime needs only <stddef.h>, <stdint.h> and <string.h> (memcpy,
# memset, memcmp); no malloc, no globals, no floating point.
ifndef MBNN_DIR
MBNN_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
endif
MBNN_SRCS := $(addprefix $(MBNN_DIR)/,$(shell cat $(MBNN_DIR)/sources.txt))
MBNN_HDRS := $(MBNN_DIR)/include/mbnn.h $(wildcard $(MBNN_DIR)/src/*.h)
MBNN_INC := $(MBNN_DIR)/include
MBNN_CFLAGS := -I$(MBNN_INC)

