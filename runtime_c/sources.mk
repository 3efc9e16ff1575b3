# The metabnn C runtime's sources, for any build that includes this file
# (runtime_c/Makefile, the board targets, the cffi binding reads it too).
#
#   MBNN_DIR ?= path/to/runtime_c
#   include $(MBNN_DIR)/sources.mk
#   CFLAGS += $(MBNN_CFLAGS)       # -I for mbnn.h
#   objects from $(MBNN_SRCS)
#
# Only the runtime's sources are listed here (pyruntime/_build.py takes every
# .c named in this file); the C tests are listed in tests/tests.mk.
#
# The runtime needs only <stddef.h>, <stdint.h> and <string.h> (memcpy,
# memset, memcmp); no malloc, no globals, no floating point.
ifndef MBNN_DIR
MBNN_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
endif
MBNN_SRCS := \
	$(MBNN_DIR)/src/mbnn_crc.c \
	$(MBNN_DIR)/src/mbnn_infer.c \
	$(MBNN_DIR)/src/mbnn_learn.c \
	$(MBNN_DIR)/src/mbnn_model.c \
	$(MBNN_DIR)/src/mbnn_state.c \
	$(MBNN_DIR)/src/mbnn_status.c \
	$(MBNN_DIR)/src/mbnn_store.c
MBNN_HDRS := $(MBNN_DIR)/include/mbnn.h $(MBNN_DIR)/src/mbnn_internal.h
MBNN_INC := $(MBNN_DIR)/include
MBNN_CFLAGS := -I$(MBNN_INC)

