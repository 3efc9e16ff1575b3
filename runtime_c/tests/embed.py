#!/usr/bin/env python3
"""Embed golden test data as C arrays, for the C tests (numpy and the repository's
pyruntime: run it with the repository's .venv python, as the Makefile does).

    python3 embed.py OUT_DIR NAME=BLOB[:IO_JSON] [NAME=BLOB[:IO_JSON] ...]

writes OUT_DIR/golden_data.c with one `mbnn_golden` (runtime_c/tests/golden.h)
per NAME, and OUT_DIR/golden_data.h with the buffer sizes the tests need. The
C tests run on bare-metal boards too, so they read no files: everything they
check against is compiled in.

The expected-output file (tests/data/golden_io.json, written by
tests/data/make_golden.py with the integer reference) is read tolerantly: a key
that is missing leaves its field NULL/0 and the C test skips that check (and
says so); a few alternative spellings of each key are accepted.
"""

from __future__ import annotations

import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# Field of mbnn_golden -> keys accepted in the JSON, first found wins.
KEYS = {
    "infer_inputs": ["infer_inputs", "inputs", "x_infer"],
    "infer_logits": ["infer_logits", "logits"],
    "infer_predictions": ["infer_predictions", "predictions"],
    "learn_inputs": ["learn_inputs", "x_learn"],
    "learn_labels": ["learn_labels", "labels", "y_learn"],
    "learn_predictions": ["learn_predictions"],
    "learn_losses": ["learn_losses", "losses"],
    "state_size": ["state_size"],
    "state_crc": ["state_crc_after_learning", "state_crc32", "state_crc"],
    "step_after": ["step_after_learning", "step"],
    "logits_after": ["logits_after_learning"],
}


# Fields of mbnn_golden (golden.h), in declaration order.
ORDER = [
    "name", "blob", "blob_len", "n_inputs", "n_classes", "arena_infer", "arena_learn",
    "n_infer", "infer_inputs", "infer_logits", "infer_predictions",
    "n_learn", "learn_inputs", "learn_labels", "learn_predictions", "learn_losses",
    "has_state", "state_size", "state_crc", "has_step", "step_after", "logits_after",
]


def pick(io: dict, field: str):
    for key in KEYS[field]:
        if key in io:
            return io[key]
    return None


def parse_blob(blob: bytes) -> dict:
    """The few facts the tests need from a valid blob, from the format module and
    the reference (pyruntime): sizes, the arena of each mode (the C tests check
    that mbnn_arena_size agrees) and the size of the learned state."""
    from pyruntime import MbnnError, format as fmt, reference

    try:
        spec = fmt.read_blob(blob)
    except MbnnError as exc:
        raise SystemExit(f"embed.py: not a valid .mbnn blob: {exc}") from None
    learning = [(l.n_out, l.n_in) for l in spec.layers if l.learns]
    return {
        "total": len(blob),
        "n_inputs": spec.n_inputs,
        "n_classes": spec.n_classes,
        "arena_infer": reference.Model.load(blob, learn=False).arena_size,
        "arena_learn": reference.Model.load(blob).arena_size if learning else 0,
        "state": fmt.spec_state_size(spec),
    }


def c_array(ctype: str, name: str, values: list[int], per_line: int = 12) -> str:
    lines = []
    for i in range(0, len(values), per_line):
        lines.append("    " + ", ".join(str(v) for v in values[i : i + per_line]) + ",")
    body = "\n".join(lines) if lines else "    0,"
    return f"static const {ctype} {name}[{max(len(values), 1)}] = {{\n{body}\n}};\n"


def flat(rows) -> list[int]:
    return [int(v) for row in rows for v in row]


def i32(v: int) -> str:
    # INT32_MIN has no literal of type int32_t; write it as an expression.
    return "(-2147483647 - 1)" if v == -(2**31) else str(v)


def embed_one(name: str, blob_path: str, io_path: str | None) -> tuple[str, str, dict]:
    with open(blob_path, "rb") as fh:
        blob = fh.read()
    facts = parse_blob(blob)
    io = {}
    if io_path and os.path.exists(io_path):
        with open(io_path, encoding="utf-8") as fh:
            io = json.load(fh)
    padded = blob + b"\0" * (-len(blob) % 4)
    words = [f"0x{w:08X}u" for w in struct.unpack(f"<{len(padded) // 4}I", padded)]
    out = [f"/* {name}: {os.path.basename(blob_path)}, {len(blob)} bytes */\n"]
    out.append(c_array("uint32_t", f"{name}_blob", words, 6))
    fields = {
        "name": f'"{name}"',
        "blob": f"{name}_blob",
        "blob_len": str(len(blob)),
        "n_inputs": str(facts["n_inputs"]),
        "n_classes": str(facts["n_classes"]),
        "arena_infer": f"{facts['arena_infer']}u",
        "arena_learn": f"{facts['arena_learn']}u",
    }
    n_in, n_cls = facts["n_inputs"], facts["n_classes"]

    def add(field: str, ctype: str, values, per_row: int | None = None) -> None:
        if values is None:
            fields[field] = "NULL"
            return
        if per_row is not None:
            if any(len(row) != per_row for row in values):
                raise SystemExit(f"embed.py: {name}: {field} rows must have {per_row} values")
            values = flat(values)
        values = [int(v) for v in values]
        text = [i32(v) for v in values] if ctype == "int32_t" else [str(v) for v in values]
        out.append(c_array(ctype, f"{name}_{field}", text))
        fields[field] = f"{name}_{field}"

    infer_x = pick(io, "infer_inputs")
    n_infer = len(infer_x) if infer_x is not None else 0
    add("infer_inputs", "int8_t", infer_x, n_in)
    add("infer_logits", "int32_t", pick(io, "infer_logits"), n_cls)
    add("infer_predictions", "uint16_t", pick(io, "infer_predictions"))
    learn_x = pick(io, "learn_inputs")
    n_learn = len(learn_x) if learn_x is not None else 0
    add("learn_inputs", "int8_t", learn_x, n_in)
    add("learn_labels", "uint16_t", pick(io, "learn_labels"))
    add("learn_predictions", "uint16_t", pick(io, "learn_predictions"))
    add("learn_losses", "uint32_t", pick(io, "learn_losses"))
    add("logits_after", "int32_t", pick(io, "logits_after"), n_cls)
    for field in ("infer_logits", "infer_predictions", "logits_after"):
        values = pick(io, field)
        if values is not None and len(values) != n_infer:
            raise SystemExit(f"embed.py: {name}: {field} has {len(values)} rows, inputs {n_infer}")
    for field in ("learn_labels", "learn_predictions", "learn_losses"):
        values = pick(io, field)
        if values is not None and len(values) != n_learn:
            raise SystemExit(f"embed.py: {name}: {field} has {len(values)} rows, inputs {n_learn}")
    fields["n_infer"] = str(n_infer)
    fields["n_learn"] = str(n_learn)
    state_size, state_crc, step_after = pick(io, "state_size"), pick(io, "state_crc"), pick(io, "step_after")
    fields["has_state"] = "1" if state_size is not None and state_crc is not None else "0"
    fields["state_size"] = f"{int(state_size or 0)}u"
    fields["state_crc"] = f"0x{int(state_crc or 0):08X}u"
    fields["has_step"] = "1" if step_after is not None else "0"
    fields["step_after"] = f"{int(step_after or 0)}u"
    init = "    {\n" + "".join(f"        /* .{k} */ {fields[k]},\n" for k in ORDER) + "    },\n"
    return "".join(out), init, facts




def main(argv: list[str]) -> None:
    if len(argv) < 3:
        raise SystemExit(__doc__)
    out_dir = argv[1]
    arrays, inits, facts_all = [], [], []
    for arg in argv[2:]:
        name, _, paths = arg.partition("=")
        blob_path, _, io_path = paths.partition(":")
        if not name.isidentifier() or not blob_path:
            raise SystemExit(f"embed.py: bad argument {arg!r}: want NAME=BLOB[:IO_JSON]")
        text, init, facts = embed_one(name, blob_path, io_path or None)
        arrays.append(text)
        inits.append(init)
        facts_all.append(facts)
    os.makedirs(out_dir, exist_ok=True)
    header = (
        "/* Generated by runtime_c/tests/embed.py: do not edit. */\n"
        "#ifndef MBNN_GOLDEN_DATA_H\n#define MBNN_GOLDEN_DATA_H\n"
        f"#define MBNN_GOLDEN_COUNT {len(inits)}\n"
        f"#define MBNN_GOLDEN_MAX_BLOB {max(f['total'] for f in facts_all) + 8}\n"
        f"#define MBNN_GOLDEN_MAX_ARENA {max(max(f['arena_learn'], f['arena_infer']) for f in facts_all)}\n"
        f"#define MBNN_GOLDEN_MAX_INFER_ARENA {max(f['arena_infer'] for f in facts_all)}\n"
        f"#define MBNN_GOLDEN_MAX_STATE {max(f['state'] for f in facts_all)}\n"
        f"#define MBNN_GOLDEN_MAX_INPUTS {max(f['n_inputs'] for f in facts_all)}\n"
        f"#define MBNN_GOLDEN_MAX_CLASSES {max(f['n_classes'] for f in facts_all)}\n"
        "#endif\n"
    )
    source = (
        "/* Generated by runtime_c/tests/embed.py: do not edit. */\n"
        "#include \"golden.h\"\n\n" + "\n".join(arrays) +
        "\nconst mbnn_golden mbnn_goldens[MBNN_GOLDEN_COUNT] = {\n" + "".join(inits) + "};\n"
    )
    for path, text in ((os.path.join(out_dir, "golden_data.h"), header),
                       (os.path.join(out_dir, "golden_data.c"), source)):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)


if __name__ == "__main__":
    main(sys.argv)
