/* Names of the status values (mbnn_strerror), from the status table of
 * pyruntime/errors.py (generated into mbnn_format.h). */
#include "mbnn_internal.h"

static const char *const mbnn_status_names[MBNN_STATUS_COUNT] = MBNN_STATUS_TEXTS;

const char *mbnn_strerror(mbnn_status status)
{
    if ((unsigned)status >= (unsigned)MBNN_STATUS_COUNT) {
        return "unknown status";
    }
    return mbnn_status_names[status];
}
