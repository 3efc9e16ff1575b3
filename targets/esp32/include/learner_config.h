/*
 * The stream learner's model and buffers on a real board.
 *
 * include/model.h holds the blob, as `python -m export` writes it:
 *   python -m export model.pt --board esp32 --header targets/esp32/include/model.h
 * (the one shipped is a small random demo model, python -m targets demo). The
 * header's generic macros (METABNN_MODEL, METABNN_ARENA_LEARN, ...) size the
 * arena and the buffers; override with build_flags (-DLEARNER_ARENA_BYTES=...)
 * in platformio.ini. The firmware checks them against the model at start.
 */
#ifndef LEARNER_CONFIG_H
#define LEARNER_CONFIG_H

#include "model.h"

#define LEARNER_BLOB METABNN_MODEL
#define LEARNER_BLOB_LEN METABNN_MODEL_LEN
#ifndef LEARNER_ARENA_BYTES
#define LEARNER_ARENA_BYTES METABNN_ARENA_LEARN
#endif
#ifndef LEARNER_STATE_BYTES
#define LEARNER_STATE_BYTES METABNN_STATE_BYTES
#endif
#ifndef LEARNER_N_INPUTS
#define LEARNER_N_INPUTS METABNN_N_INPUTS
#endif

#endif
