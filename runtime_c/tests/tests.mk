# The portable C tests of the runtime (a runner that prints "N passed, N
# failed"; printf is all they need), for any build that runs them:
#
#   include $(MBNN_DIR)/sources.mk
#   include $(MBNN_DIR)/tests/tests.mk
#   CFLAGS += $(MBNN_TEST_CFLAGS) -I<dir>/golden
#   sources: $(MBNN_SRCS) $(MBNN_TEST_SRCS) <dir>/golden/golden_data.c
#
# `make -C $(MBNN_DIR) golden BUILD=<dir>` writes <dir>/golden/golden_data.[ch]
# (GOLDEN_EXTRAS=0: only tests/data/golden.mbnn, for boards with little RAM:
# it runs on a 16 KiB Cortex-M0 with a 4 KiB stack). tests/bench/ holds a
# host-only benchmark (files, malloc) that is not one of them.
MBNN_TEST_SRCS := \
	$(MBNN_DIR)/tests/test_main.c \
	$(MBNN_DIR)/tests/test_core.c \
	$(MBNN_DIR)/tests/test_kernels.c \
	$(MBNN_DIR)/tests/test_conv.c \
	$(MBNN_DIR)/tests/test_golden.c \
	$(MBNN_DIR)/tests/test_blob.c \
	$(MBNN_DIR)/tests/test_state.c \
	$(MBNN_DIR)/tests/test_store.c \
	$(MBNN_DIR)/sim/mbnn_flashsim.c
MBNN_TEST_HDRS := $(MBNN_DIR)/tests/mbnn_test.h $(MBNN_DIR)/tests/golden.h $(MBNN_DIR)/sim/mbnn_flashsim.h
MBNN_TEST_CFLAGS := -I$(MBNN_DIR)/include -I$(MBNN_DIR)/src -I$(MBNN_DIR)/tests -I$(MBNN_DIR)/sim
