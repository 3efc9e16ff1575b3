/*
 * The stream learner's model and buffers on a real board.
 *
 * include/model.h holds the blob (python -m export model.pt --header
 * include/model.h --name mbnn_model); the one shipped is a small random demo
 * model (python -m targets demo). The arena and state buffers are fixed here;
 * the firmware checks them against the model at start and says what it needs.
 * Override with build_flags (-DLEARNER_ARENA_BYTES=...) in platformio.ini.
 */
#ifndef LEARNER_CONFIG_H
#define LEARNER_CONFIG_H

#include "model.h"

#define LEARNER_BLOB mbnn_model
#define LEARNER_BLOB_LEN MBNN_MODEL_LEN
#ifndef LEARNER_ARENA_BYTES
#define LEARNER_ARENA_BYTES 65536u
#endif
#ifndef LEARNER_STATE_BYTES
#define LEARNER_STATE_BYTES 65536u
#endif
#ifndef LEARNER_N_INPUTS
#define LEARNER_N_INPUTS 1024u
#endif

#endif
