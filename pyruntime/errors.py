"""The runtime's statuses, defined once, and the exception that carries one.

`STATUSES` is the single table of `mbnn_status`: C name, the text of
`mbnn_strerror` and what a user can do about it. `python -m pyruntime.codegen`
writes the C enum (runtime_c/include/mbnn.h) and the C texts
(runtime_c/src/mbnn_format.h) from it. Pure Python, so the numpy reference
raises the same errors without the compiled extension.
"""

from __future__ import annotations

_REEXPORT = "re-export it with `python -m export model.pt` or copy the .mbnn file again"
_BUG = "this is a bug in pyruntime, please report it with the blob"
_MALFORMED = "the blob is malformed; " + _REEXPORT

# (C name, mbnn_strerror text, hint for the user), in the order of the enum.
STATUSES: tuple[tuple[str, str, str], ...] = (
    ("MBNN_OK", "ok", ""),
    ("MBNN_ERR_NULL", "a required pointer is NULL", _BUG),
    ("MBNN_ERR_TRUNCATED", "blob truncated: shorter than its header says",
     "the file was cut off (while copying?); " + _REEXPORT),
    ("MBNN_ERR_BAD_MAGIC", "not a .mbnn blob (bad magic)", "pass a file written by `python -m export`"),
    ("MBNN_ERR_VERSION", "blob format version not supported (newer)",
     "the blob was written by a newer metabnn; update metabnn, or export it again with this version"),
    ("MBNN_ERR_CRC", "blob CRC mismatch", "the blob was changed after export (corrupt file); " + _REEXPORT),
    ("MBNN_ERR_BAD_HEADER", "blob header field out of range", _MALFORMED),
    ("MBNN_ERR_BAD_LAYER", "blob layer kind, flags or sizes invalid", _MALFORMED),
    ("MBNN_ERR_BAD_OFFSET", "blob array offset misaligned or out of range", _MALFORMED),
    ("MBNN_ERR_BAD_WEIGHTS", "blob table values out of range or bits != sign(hidden)", _MALFORMED),
    ("MBNN_ERR_ARENA_TOO_SMALL", "arena too small", _BUG),
    ("MBNN_ERR_ALIGN", "blob or arena not 4-byte aligned", _BUG),
    ("MBNN_ERR_NO_LEARN", "model cannot learn (no layer learns, or arena sized for inference)",
     "load it with Model.load(blob, learn=True), from a blob in which a layer learns "
     "(python -m export ... --learn all or last)"),
    ("MBNN_ERR_BAD_LABEL", "label out of range",
     "labels must be integers in 0..n_classes-1; nothing was learned"),
    ("MBNN_ERR_BUFFER_TOO_SMALL", "output buffer too small", _BUG),
    ("MBNN_ERR_STATE_CORRUPT", "learned state corrupt (size, magic, version, CRC or value)",
     "these bytes are not a state saved by Model.state() (damaged or cut off); the model keeps its state"),
    ("MBNN_ERR_STATE_MODEL", "learned state belongs to another model",
     "the state was saved by a model of another blob; load it into a Model of that blob; "
     "the model keeps its state"),
    ("MBNN_ERR_STORE_EMPTY", "flash region erased: no state was ever saved there",
     "nothing was saved yet: start from the blob's model and save"),
    ("MBNN_ERR_STORE_TORN", "flash region holds no intact record (torn or damaged writes)",
     "every record was cut short or damaged; start from the blob's model (the next save writes a fresh record)"),
    ("MBNN_ERR_FLASH_IO", "flash read, program or erase failed",
     "check the flash driver and the region's address; the model keeps its state"),
    ("MBNN_ERR_FLASH_GEOMETRY", "flash geometry invalid, or the region cannot hold two records",
     "region_size must be a multiple of block_size, block_size of prog_size, and the region must hold two "
     "records (see mbnn_store_page_size and docs/STORAGE.md)"),
)

STATUS_NAMES = tuple(name for name, _, _ in STATUSES)
STRERROR = {name: text for name, text, _ in STATUSES}
HINTS = {name: hint for name, _, hint in STATUSES if hint}


def status_name(status: int) -> str:
    """The C name of a status value, e.g. status_name(5) == "MBNN_ERR_CRC"."""
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"status {status}"


def status_value(name: str) -> int:
    """The int value of a status name, e.g. status_value("MBNN_ERR_CRC") == 5."""
    return STATUS_NAMES.index(name)


class MbnnError(ValueError):
    """An error status of the metabnn runtime.

    The message starts with the runtime's name of the status (mbnn_strerror,
    e.g. ``blob CRC mismatch``), then says what to do. Attributes:

    - ``status``: the `mbnn_status` value (int), e.g. 5
    - ``name``: its C name, e.g. ``"MBNN_ERR_CRC"``
    - ``sample``: for batch calls, the index of the sample that failed, else None

    ``hint`` replaces the status's usual advice ("" for none).
    """

    def __init__(self, status: int | str, text: str | None = None, *, sample: int | None = None,
                 detail: str | None = None, hint: str | None = None) -> None:
        self.status = status_value(status) if isinstance(status, str) else int(status)
        self.name = status_name(self.status)
        self.sample = sample
        self.detail = detail
        self.text = text if text is not None else STRERROR.get(self.name, self.name)
        message = self.text
        if sample is not None:
            message += f" (sample {sample})"
        if detail:
            message += f": {detail}"
        hint = HINTS.get(self.name) if hint is None else hint
        if hint:
            message += f"; {hint}" if detail else f": {hint}"
        super().__init__(message)

    def __reduce__(self):  # picklable (pytest-xdist, multiprocessing)
        return (_rebuild, (type(self), self.status, self.text, self.sample, self.args[0]))


def _rebuild(cls: type, status: int, text: str, sample: int | None, message: str) -> MbnnError:
    err = cls.__new__(cls)
    ValueError.__init__(err, message)
    err.status, err.text, err.sample, err.name = status, text, sample, status_name(status)
    err.detail = None
    return err
