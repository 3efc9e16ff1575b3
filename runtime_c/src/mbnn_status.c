/* Names of the status values (mbnn_strerror). */
#include "mbnn_internal.h"

static const char *const mbnn_status_names[MBNN_STATUS_COUNT] = {
    "ok",                                                  /* MBNN_OK */
    "a required pointer is NULL",                          /* MBNN_ERR_NULL */
    "blob truncated: shorter than its header says",        /* MBNN_ERR_TRUNCATED */
    "not a .mbnn blob (bad magic)",                        /* MBNN_ERR_BAD_MAGIC */
    "blob format version not supported (newer)",           /* MBNN_ERR_VERSION */
    "blob CRC mismatch",                                   /* MBNN_ERR_CRC */
    "blob header field out of range",                      /* MBNN_ERR_BAD_HEADER */
    "blob layer kind, flags or sizes invalid",             /* MBNN_ERR_BAD_LAYER */
    "blob array offset misaligned or out of range",        /* MBNN_ERR_BAD_OFFSET */
    "blob table values out of range or bits != sign(hidden)", /* MBNN_ERR_BAD_WEIGHTS */
    "arena too small",                                     /* MBNN_ERR_ARENA_TOO_SMALL */
    "blob or arena not 4-byte aligned",                    /* MBNN_ERR_ALIGN */
    "model cannot learn (no layer learns, or arena sized for inference)", /* MBNN_ERR_NO_LEARN */
    "label out of range",                                  /* MBNN_ERR_BAD_LABEL */
    "output buffer too small",                             /* MBNN_ERR_BUFFER_TOO_SMALL */
    "learned state corrupt (size, magic, version, CRC or value)", /* MBNN_ERR_STATE_CORRUPT */
    "learned state belongs to another model",              /* MBNN_ERR_STATE_MODEL */
    "flash region erased: no state was ever saved there",  /* MBNN_ERR_STORE_EMPTY */
    "flash region holds no intact record (torn or damaged writes)", /* MBNN_ERR_STORE_TORN */
    "flash read, program or erase failed",                 /* MBNN_ERR_FLASH_IO */
    "flash geometry invalid, or the region cannot hold two records", /* MBNN_ERR_FLASH_GEOMETRY */
};

const char *mbnn_strerror(mbnn_status status)
{
    if ((unsigned)status >= (unsigned)MBNN_STATUS_COUNT) {
        return "unknown status";
    }
    return mbnn_status_names[status];
}
