# The metabnn C runtime's sources, for any build that includes this file
# (runtime_c/Makefile, the board targets, the cffi binding reads it too).
#
#   MBNN_DIR ?= path/to/runtime_c
#   include $(MBNN_DIR)/sources.mk
#   CFLAGS += $(MBNN_CFLAGS)       # -I for mbnn.h
#   objects from $(MBNN_SRCS)
#
# The runtime needs only <stddef.h>, <stdint.h> and <string.h> (memcpy,
# memset, memcmp); no malloc, no globals, no floating point.
MBNN_DIR ?= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
MBNN_SRCS := \
	$(MBNN_DIR)/src/mbnn_crc.c \
	$(MBNN_DIR)/src/mbnn_infer.c \
	$(MBNN_DIR)/src/mbnn_learn.c \
	$(MBNN_DIR)/src/mbnn_model.c \
	$(MBNN_DIR)/src/mbnn_state.c \
	$(MBNN_DIR)/src/mbnn_status.c
MBNN_HDRS := $(MBNN_DIR)/include/mbnn.h $(MBNN_DIR)/src/mbnn_internal.h
MBNN_INC := $(MBNN_DIR)/include
MBNN_CFLAGS := -I$(MBNN_INC)
