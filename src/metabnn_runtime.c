/* Arduino library: the runtime's sources, compiled as one translation unit
 * (see src/mbnn.h). Keep this list equal to MBNN_SRCS in runtime_c/sources.mk;
 * tests/test_targets_manifests.py checks it. */
#include "../runtime_c/src/mbnn_crc.c"
#include "../runtime_c/src/mbnn_infer.c"
#include "../runtime_c/src/mbnn_learn.c"
#include "../runtime_c/src/mbnn_model.c"
#include "../runtime_c/src/mbnn_state.c"
#include "../runtime_c/src/mbnn_status.c"
