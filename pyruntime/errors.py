"""The exception of the host runtime: a C status (`mbnn_status`) as a Python error.

Pure Python, so the numpy reference (`pyruntime.reference`) can raise the same
errors without the compiled extension.
"""

from __future__ import annotations

# Status names in the order of `mbnn_status` (runtime_c/include/mbnn.h).
STATUS_NAMES = (
    "MBNN_OK",
    "MBNN_ERR_NULL",
    "MBNN_ERR_TRUNCATED",
    "MBNN_ERR_BAD_MAGIC",
    "MBNN_ERR_VERSION",
    "MBNN_ERR_CRC",
    "MBNN_ERR_BAD_HEADER",
    "MBNN_ERR_BAD_LAYER",
    "MBNN_ERR_BAD_OFFSET",
    "MBNN_ERR_BAD_WEIGHTS",
    "MBNN_ERR_ARENA_TOO_SMALL",
    "MBNN_ERR_ALIGN",
    "MBNN_ERR_NO_LEARN",
    "MBNN_ERR_BAD_LABEL",
    "MBNN_ERR_BUFFER_TOO_SMALL",
    "MBNN_ERR_STATE_CORRUPT",
    "MBNN_ERR_STATE_MODEL",
    "MBNN_ERR_STORE_EMPTY",
    "MBNN_ERR_STORE_TORN",
    "MBNN_ERR_FLASH_IO",
    "MBNN_ERR_FLASH_GEOMETRY",
)

# The texts of mbnn_strerror, for code that has no C runtime at hand (the
# reference). The C binding uses the runtime's own strings.
STRERROR = {
    "MBNN_OK": "ok",
    "MBNN_ERR_NULL": "a required pointer is NULL",
    "MBNN_ERR_TRUNCATED": "blob truncated: shorter than its header says",
    "MBNN_ERR_BAD_MAGIC": "not a .mbnn blob (bad magic)",
    "MBNN_ERR_VERSION": "blob format version not supported (newer)",
    "MBNN_ERR_CRC": "blob CRC mismatch",
    "MBNN_ERR_BAD_HEADER": "blob header field out of range",
    "MBNN_ERR_BAD_LAYER": "blob layer kind, flags or sizes invalid",
    "MBNN_ERR_BAD_OFFSET": "blob array offset misaligned or out of range",
    "MBNN_ERR_BAD_WEIGHTS": "blob table values out of range or bits != sign(hidden)",
    "MBNN_ERR_ARENA_TOO_SMALL": "arena too small",
    "MBNN_ERR_ALIGN": "blob or arena not 4-byte aligned",
    "MBNN_ERR_NO_LEARN": "model cannot learn (no layer learns, or arena sized for inference)",
    "MBNN_ERR_BAD_LABEL": "label out of range",
    "MBNN_ERR_BUFFER_TOO_SMALL": "output buffer too small",
    "MBNN_ERR_STATE_CORRUPT": "learned state corrupt (size, magic, version, CRC or value)",
    "MBNN_ERR_STATE_MODEL": "learned state belongs to another model",
    "MBNN_ERR_STORE_EMPTY": "flash region erased: no state was ever saved there",
    "MBNN_ERR_STORE_TORN": "flash region holds no intact record (torn or damaged writes)",
    "MBNN_ERR_FLASH_IO": "flash read, program or erase failed",
    "MBNN_ERR_FLASH_GEOMETRY": "flash geometry invalid, or the region cannot hold two records",
}

_REEXPORT = "re-export it with `python -m export model.pt` or copy the .mbnn file again"
_BUG = "this is a bug in pyruntime, please report it with the blob"

# What the user can do about each status.
HINTS = {
    "MBNN_ERR_NULL": _BUG,
    "MBNN_ERR_TRUNCATED": "the file was cut off (while copying?); " + _REEXPORT,
    "MBNN_ERR_BAD_MAGIC": "pass a file written by `python -m export`",
    "MBNN_ERR_VERSION": "the blob was written by a newer metabnn; update metabnn, or export it again with this version",
    "MBNN_ERR_CRC": "the blob was changed after export (corrupt file); " + _REEXPORT,
    "MBNN_ERR_BAD_HEADER": "the blob is malformed; " + _REEXPORT,
    "MBNN_ERR_BAD_LAYER": "the blob is malformed; " + _REEXPORT,
    "MBNN_ERR_BAD_OFFSET": "the blob is malformed; " + _REEXPORT,
    "MBNN_ERR_BAD_WEIGHTS": "the blob is malformed; " + _REEXPORT,
    "MBNN_ERR_ARENA_TOO_SMALL": _BUG,
    "MBNN_ERR_ALIGN": _BUG,
    "MBNN_ERR_NO_LEARN": "load it with Model.load(blob, learn=True), from a blob in which a layer learns (python -m export ... --learn all or last)",
    "MBNN_ERR_BAD_LABEL": "labels must be integers in 0..n_classes-1; nothing was learned",
    "MBNN_ERR_BUFFER_TOO_SMALL": _BUG,
    "MBNN_ERR_STATE_CORRUPT": "these bytes are not a state saved by Model.state() (damaged or cut off); the model keeps its state",
    "MBNN_ERR_STATE_MODEL": "the state was saved by a model of another blob; load it into a Model of that blob; the model keeps its state",
    "MBNN_ERR_STORE_EMPTY": "nothing was saved yet: start from the blob's model and save",
    "MBNN_ERR_STORE_TORN": "every record was cut short or damaged; start from the blob's model (the next save writes a fresh record)",
    "MBNN_ERR_FLASH_IO": "check the flash driver and the region's address; the model keeps its state",
    "MBNN_ERR_FLASH_GEOMETRY": "region_size must be a multiple of block_size, block_size of prog_size, and the region must hold two records (see mbnn_store_page_size and docs/STORAGE.md)",
}


class MbnnError(ValueError):
    """An error status of the metabnn runtime.

    The message starts with the runtime's name of the status (mbnn_strerror,
    e.g. ``blob CRC mismatch``), then says what to do. Attributes:

    - ``status``: the `mbnn_status` value (int), e.g. 5
    - ``name``: its C name, e.g. ``"MBNN_ERR_CRC"``
    - ``sample``: for batch calls, the index of the sample that failed, else None
    """

    def __init__(self, status: int, text: str | None = None, *, sample: int | None = None,
                 detail: str | None = None) -> None:
        self.status = int(status)
        self.name = STATUS_NAMES[self.status] if 0 <= self.status < len(STATUS_NAMES) else f"status {self.status}"
        self.sample = sample
        self.text = text if text is not None else STRERROR.get(self.name, self.name)
        message = self.text
        if sample is not None:
            message += f" (sample {sample})"
        if detail:
            message += f": {detail}"
        hint = HINTS.get(self.name)
        if hint:
            message += f"; {hint}" if detail else f": {hint}"
        super().__init__(message)

    def __reduce__(self):  # picklable (pytest-xdist, multiprocessing)
        return (_rebuild, (self.status, self.text, self.sample, self.args[0]))


def _rebuild(status: int, text: str, sample: int | None, message: str) -> MbnnError:
    err = MbnnError.__new__(MbnnError)
    ValueError.__init__(err, message)
    err.status, err.text, err.sample = status, text, sample
    err.name = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"status {status}"
    return err


def status_value(name: str) -> int:
    """The int value of a status name, e.g. status_value("MBNN_ERR_CRC") == 5."""
    return STATUS_NAMES.index(name)
