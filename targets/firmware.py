"""Build the firmware for an emulated board and run it under QEMU."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyruntime import format as fmt
from targets.boards import Board, board as lookup

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "targets"


def _build_root() -> Path:
    """build/targets in a clone; after `pip install` (no writable checkout) ~/.cache/metabnn/targets."""
    if "MBNN_TARGETS_BUILD" in os.environ:
        return Path(os.environ["MBNN_TARGETS_BUILD"])
    if ROOT.name not in ("site-packages", "dist-packages") and os.access(ROOT, os.W_OK):
        return ROOT / "build" / "targets"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "metabnn" / "targets"


BUILD = _build_root()


class TargetError(RuntimeError):
    """A build or an emulator run that failed; the message says which and why."""


class DoesNotFit(TargetError):
    """The model does not fit the board: what it needs, what the board has, what to do (one line)."""


def check_fits(board: Board | str, blob: bytes) -> None:
    """DoesNotFit unless the blob's learning arena and state fit the emulated board's RAM."""
    from export.boards import BOARD_SPECS, needs, shortfall

    b = _board(board)
    spec = next((s for s in BOARD_SPECS.values() if s.emulated == b.name), None)
    if spec is None:
        return
    n = needs(bytes(blob))
    if not n.fits(spec, learn=True):
        raise DoesNotFit(f"the model does not fit {b.name} ({spec.what}): " + shortfall(n, spec, learn=True))


def _board(b: Board | str) -> Board:
    return b if isinstance(b, Board) else lookup(b)


def _runnable(board: Board | str) -> Board:
    b = _board(board)
    if not b.qemu:
        raise TargetError(f"{b.name} has no emulator here: it is built (make -C targets BOARD={b.name} lib), not run")
    return b


def counting_plugin() -> Path:
    """The instruction-counting QEMU plugin (targets/plugin/insncount.c), compiled
    with the host's gcc when missing or older than its source (no QEMU headers needed)."""
    src = TARGETS / "plugin" / "insncount.c"
    out = BUILD / "insncount.so"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return out


def state_size(blob: bytes) -> int:
    """Bytes of the learned state (docs/FORMAT.md "Learned state")."""
    return fmt.spec_state_size(fmt.read_blob(blob))


def arena_size(blob: bytes) -> int:
    """Arena bytes for learning, as the runtime computes them (through pyruntime)."""
    from pyruntime import Model

    m = Model.load(blob, learn=True)
    if not m.can_learn:
        raise TargetError("the stream learner needs a model with a layer that learns")
    return m.arena_size


def make(board: Board | str, goal: str, build: Path | None = None, *extra: str) -> Path:
    """Run targets/Makefile for a board; returns the build directory."""
    b = _board(board)
    build = build or BUILD / b.name
    for tool in (f"{b.cross}gcc", "make"):
        if shutil.which(tool) is None:
            raise TargetError(f"{tool} not found: run scripts/setup.sh (it installs the cross toolchains and QEMU)")
    cmd = ["make", "-s", "-j", str(os.cpu_count() or 2), "-C", str(TARGETS), f"BOARD={b.name}",
           f"BUILD={build}", goal, *extra]
    done = subprocess.run(cmd, capture_output=True, text=True)
    over = re.search(r"region [`']?RAM'? overflowed by (\d+) bytes", done.stderr)
    if done.returncode != 0 and over:
        raise DoesNotFit(f"{goal} for {b.name} needs {int(over.group(1)):,} B more RAM than the board's "
                         f"{b.ram_kib} KiB: export with --board {b.name} or --learn last, or train a smaller model")
    if done.returncode != 0:
        raise TargetError(f"building {goal} for {b.name} failed:\n{done.stdout}{done.stderr}")
    return build


def _configure(b: Board, blob: bytes, arena_bytes: int | None, tag: str = "",
               save_every: int = 100) -> tuple[Path, Path]:
    """Write model.h and config.h for a blob into its cached build directory; (build dir, config)."""
    if arena_bytes is None:
        check_fits(b, blob)
    arena = arena_size(blob) if arena_bytes is None else arena_bytes
    key = hashlib.sha1(blob + arena.to_bytes(4, "little") + tag.encode()
                       + int(save_every).to_bytes(4, "little")).hexdigest()[:12]
    build = BUILD / b.name / ("m-" + key)
    build.mkdir(parents=True, exist_ok=True)
    header = build / "model.h"
    from export.header import make_header

    text = make_header(blob, "learner_model", "stream learner model")
    if not header.exists() or header.read_text() != text:
        header.write_text(text)
    n_inputs = fmt.read_blob(blob).n_inputs
    config = build / "config.h"
    text = "\n".join([
        "/* Stream learner configuration for this model. Generated by targets/firmware.py. */",
        f'#include "{header}"',
        "#define LEARNER_BLOB METABNN_MODEL",
        "#define LEARNER_BLOB_LEN METABNN_MODEL_LEN",
        f"#define LEARNER_ARENA_BYTES {arena}u",
        f"#define LEARNER_STATE_BYTES {state_size(blob)}u",
        f"#define LEARNER_N_INPUTS {n_inputs}u",
        f"#define LEARNER_SAVE_EVERY {int(save_every)}u",
        "",
    ])
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return build, config


def build_learner(board: Board | str, blob: bytes, arena_bytes: int | None = None,
                  save_every: int = 100) -> Path:
    """Compile the stream learner with this model for a board; returns the ELF.

    The arena is sized for learning (pyruntime's arena_size) unless arena_bytes
    says otherwise. With a flash image (flash.bin) the learner saves its state
    every save_every learning steps. Builds are cached per board, blob and arena under
    build/targets/BOARD/m-HASH/.
    """
    b = _board(board)
    build, config = _configure(b, bytes(blob), arena_bytes, save_every=save_every)
    make(b, "learner", build, f"LEARNER_CONFIG={config}")
    return build / "learner.elf"


#: Boards whose first UART the link firmware drives (link_qemu.c).
LINK_BOARDS = ("cortex-m3", "cortex-m4", "cortex-m7", "rv32imc")


def build_link(board: Board | str, blob: bytes, model_bytes: int = 0) -> Path:
    """Compile the link firmware (docs/LINK.md) with this model for a board; returns the ELF.

    model_bytes > 0 reserves RAM for a model pushed over the link (and sizes the
    arena for the larger of the two)."""
    b = _runnable(board)
    if b.name not in LINK_BOARDS:
        raise TargetError(f"the link firmware drives the UART of {', '.join(LINK_BOARDS)}, not {b.name}")
    blob = bytes(blob)
    arena = None if not model_bytes else max(arena_size(blob), model_bytes)
    build, config = _configure(b, blob, arena, tag=f"link{model_bytes}")
    make(b, "link", build, f"LEARNER_CONFIG={config}", f"LINK_MODEL_BYTES={model_bytes}")
    return build / "link.elf"


def start_link(board: Board | str, blob: bytes, port: int = 0, model_bytes: int = 0,
               host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """Start the link firmware under QEMU with its UART on a TCP socket; (process, pyserial URL).

    port 0 takes a free port. The caller ends the process (terminate())."""
    import socket
    import time

    b = _runnable(board)
    elf = build_link(b, blob, model_bytes)
    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    argv = b.qemu_argv(str(elf.resolve()))
    argv[argv.index("-serial") + 1] = f"tcp:{host}:{port},server=on,wait=off,nodelay=on"
    if shutil.which(argv[0]) is None:
        raise TargetError(f"{argv[0]} not found: run scripts/setup.sh (it installs QEMU)")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:  # wait until QEMU listens
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise TargetError(f"QEMU did not open {host}:{port} for {b.name}: {err}") from None
            time.sleep(0.05)
    return proc, f"socket://{host}:{port}"


@dataclass
class Run:
    """What a firmware run left: its console output, exit status and learned state."""

    log: str
    returncode: int
    state: bytes | None
    stderr: str


def run_elf(board: Board | str, elf: Path, files: dict[str, bytes] | None = None,
            timeout: float = 300.0, plugin: str | None = None,
            merge: bool = False) -> tuple[subprocess.CompletedProcess, Path]:
    """Run elf under QEMU in a fresh directory holding `files`; returns (process, directory).

    merge: stderr into stdout (picolibc's stdio on semihosting writes to QEMU's stderr)."""
    b = _runnable(board)
    argv = b.qemu_argv(str(Path(elf).resolve()), plugin)
    if shutil.which(argv[0]) is None:
        raise TargetError(f"{argv[0]} not found: run scripts/setup.sh (it installs QEMU)")
    work = Path(tempfile.mkdtemp(prefix=f"mbnn-{b.name}-"))
    for name, data in (files or {}).items():
        (work / name).write_bytes(data)
    try:
        proc = subprocess.run(["timeout", "--kill-after=5", str(int(timeout)), *argv],
                              cwd=work, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT if merge else subprocess.PIPE)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if proc.returncode == 124:
        shutil.rmtree(work, ignore_errors=True)
        raise TargetError(f"{b.name}: QEMU ran past {timeout:.0f} s (a hang or a trap): {' '.join(argv)}")
    return proc, work


def run_learner(board: Board | str, blob: bytes, stream: bytes, timeout: float = 300.0,
                plugin: str | None = None, arena_bytes: int | None = None) -> Run:
    """Build (cached) and run the stream learner on an emulated board."""
    _runnable(board)
    elf = build_learner(board, blob, arena_bytes)
    proc, work = run_elf(board, elf, {"stream.bin": stream}, timeout, plugin)
    try:
        state_file = work / "state.bin"
        state = state_file.read_bytes() if state_file.exists() else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Run(proc.stdout.decode("utf-8", "replace"), proc.returncode, state,
               (proc.stderr or b"").decode("utf-8", "replace"))


def run_ctests(board: Board | str, timeout: float = 300.0) -> Run:
    """Build and run the runtime's C tests (runtime_c/tests) on an emulated board."""
    b = _runnable(board)
    build = make(b, "ctests", BUILD / b.name / "ctests")
    proc, work = run_elf(b, build / "ctests.elf", None, timeout, merge=True)
    shutil.rmtree(work, ignore_errors=True)
    return Run(proc.stdout.decode("utf-8", "replace"), proc.returncode, None, "")
