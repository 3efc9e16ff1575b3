"""The files generated from the one definition of the format (pyruntime/format.py,
pyruntime/errors.py, runtime_c/sources.txt) are what is committed, and the
binding and the C runtime agree with the tables they come from."""

from __future__ import annotations

from pyruntime import codegen
from pyruntime import format as fmt
from pyruntime._mbnn import ffi, lib
from pyruntime.errors import STATUSES


def test_generated_files_are_up_to_date() -> None:
    """mbnn_format.h, the generated parts of mbnn.h and docs/FORMAT.md, and library.json's
    srcFilter: run `python -m pyruntime.codegen` after changing their sources."""
    assert codegen.stale() == []


def test_the_compiled_runtime_has_the_tables_statuses_and_limits() -> None:
    """The enum, the texts of mbnn_strerror and the limits of the built extension
    are those of the tables (the binding's declarations come from mbnn.h itself)."""
    assert lib.MBNN_STATUS_COUNT == len(STATUSES)
    for value, (name, text, _) in enumerate(STATUSES):
        assert getattr(lib, name) == value
        assert ffi.string(lib.mbnn_strerror(value)).decode() == text
    assert (lib.MBNN_FORMAT_VERSION, lib.MBNN_STATE_VERSION) == (fmt.VERSION, fmt.STATE_VERSION)
    assert (lib.MBNN_MAX_LAYERS, lib.MBNN_MAX_WIDTH) == (fmt.MAX_LAYERS, fmt.MAX_WIDTH)


def test_no_python_module_restates_an_offset() -> None:
    """Outside the format module, no code reads a header field at a raw offset."""
    import re
    from pathlib import Path

    root = Path(codegen.ROOT)
    pattern = re.compile(r"unpack_from\(\"<[^\"]*\", [^,)]*, (12|16|20|24|28)\)|\[12:16\]")
    hits = [f"{path.relative_to(root)}:{n}" for pkg in ("pyruntime", "export", "targets")
            for path in sorted((root / pkg).rglob("*.py")) if path.name != "format.py"
            for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
