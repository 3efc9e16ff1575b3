"""Command line of targets (docs/TARGETS.md).

    python -m targets run  --board cortex-m4 --model model.mbnn --stream stream.npz [--state out.bin] [--log out.log]
    python -m targets host --model model.mbnn --stream stream.npz [--state out.bin] [--log out.log]
    python -m targets parity --board all --model model.mbnn --stream stream.npz
    python -m targets ctests --board all
    python -m targets demo --kind int8 --model model.mbnn --stream stream.npz
    python -m targets serial --port /dev/ttyUSB0 --stream stream.npz
    python -m targets stream --dataset mnist -n 2000 -o stream.npz
    python -m targets boards
    python -m targets link serve|monitor|pull|push ...   (docs/LINK.md)
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
from pathlib import Path


def _boards(name: str) -> list[str]:
    from targets.boards import BOARDS, board

    return list(BOARDS) if name == "all" else [board(n).name for n in name.split(",")]


def _inputs(args) -> tuple[bytes, "object"]:
    from targets.stream import load

    blob = Path(args.model).read_bytes()
    return blob, load(args.stream, blob)


def _write(path: str | None, data: bytes) -> None:
    if path:
        from export.blob import write_atomic

        write_atomic(path, data)


def cmd_run(args) -> int:
    from targets.firmware import run_learner

    blob, stream = _inputs(args)
    run = run_learner(args.board, blob, stream.to_bytes(), timeout=args.timeout)
    sys.stdout.write(run.log)
    if run.returncode != 0:
        print(f"targets: {args.board} exited with status {run.returncode}{': ' + run.stderr.strip() if run.stderr.strip() else ''}",
              file=sys.stderr)
        return 1
    _write(args.log, run.log.encode())
    _write(args.state, run.state or b"")
    return 0


def cmd_host(args) -> int:
    from targets.hostlog import host_log

    blob, stream = _inputs(args)
    log, state = host_log(blob, stream)
    sys.stdout.write(log)
    _write(args.log, log.encode())
    _write(args.state, state)
    return 0


def cmd_parity(args) -> int:
    from pyruntime import Model

    from targets.firmware import run_learner
    from targets.hostlog import host_log

    blob, stream = _inputs(args)
    want, want_state = host_log(blob, stream)
    bad = 0
    for name in _boards(args.board):
        run = run_learner(name, blob, stream.to_bytes(), timeout=args.timeout)
        same_log = run.log == want
        m = Model.load(blob)
        same_state = False
        if run.state is not None:
            m.load_state(run.state)
            same_state = m.state() == want_state
        ok = run.returncode == 0 and same_log and same_state
        bad += not ok
        print(f"{name:10s} {'identical' if ok else 'DIFFERENT'}: log {'=' if same_log else '!='} host, "
              f"state {'=' if same_state else '!='} host, {want.count(' y ')} labelled samples learned, exit {run.returncode}")
    return 1 if bad else 0


def cmd_ctests(args) -> int:
    from targets.firmware import run_ctests

    bad = 0
    for name in _boards(args.board):
        run = run_ctests(name, timeout=args.timeout)
        tally = [ln for ln in run.log.splitlines() if ln.endswith("failed")]
        print(f"{name:10s} {tally[-1] if tally else 'no tally'} (exit {run.returncode})")
        if args.verbose or run.returncode:
            sys.stdout.write(run.log)
        bad += run.returncode != 0
    return 1 if bad else 0


def cmd_demo(args) -> int:
    from pyruntime.format import read_blob

    from targets.models import random_blob, random_stream, shape_name
    from targets.stream import save_npz

    blob = random_blob(args.kind, seed=args.seed)
    spec = read_blob(blob)
    _write(args.model, blob)
    save_npz(args.stream, random_stream(spec.n_inputs, spec.n_classes, n=args.samples, seed=args.seed + 1))
    print(f"wrote {args.model} ({len(blob)} bytes, {args.kind} {shape_name(args.kind)}) and {args.stream} "
          f"({args.samples} samples)")
    return 0


def cmd_stream(args) -> int:
    import numpy as np

    from targets.stream import from_datasets

    names = [n for n in args.dataset.split(",") if n]
    stream, task = from_datasets(names, args.n, args.unlabelled_every, args.split, args.seed)
    out = Path(args.output)
    if out.suffix != ".npz":
        raise ValueError(f"-o {out}: the stream is written as .npz")
    import io

    buf = io.BytesIO()
    np.savez(buf, x=stream.x, y=stream.y, task=task)
    _write(str(out), buf.getvalue())
    labelled = int((stream.y >= 0).sum())
    print(f"wrote {out}: {len(stream.y)} samples of {stream.x.shape[1]} int8 features "
          f"({labelled} labelled) from {', '.join(names)} ({args.split} split, seed {args.seed})")
    return 0


def cmd_serial(args) -> int:
    from targets.serialhost import run_serial
    from targets.stream import load

    blob = Path(args.model).read_bytes() if args.model else None
    log = run_serial(args.port, load(args.stream, blob).to_bytes(), args.baud, args.timeout)
    _write(args.log, log.encode())
    return 0 if log.splitlines()[-1].startswith("end ") else 1


def cmd_arduino_lib(args) -> int:
    from targets.arduino_lib import make_arduino_library

    lib = make_arduino_library(Path(args.out))
    zipped = shutil.make_archive(str(lib), "zip", lib.parent, lib.name)
    print(f"wrote {lib}/ and {zipped} (Arduino IDE: Sketch > Include Library > Add .ZIP Library)")
    return 0


def cmd_paths(args) -> int:
    from targets.firmware import BUILD, ROOT

    runtime = ROOT / "runtime_c"
    print(f"include  {runtime / 'include'}   (mbnn.h)")
    print(f"sources  {' '.join(str(p) for p in sorted((runtime / 'src').glob('*.c')))}")
    print(f"targets  {ROOT / 'targets'}   (firmware sources, Makefile, PlatformIO project esp32/)")
    print(f"builds   {BUILD}")
    return 0


def cmd_boards(args) -> int:
    from targets.boards import BOARDS, COMPILE_ONLY

    for b in BOARDS.values():
        print(f"{b.name:10s} {b.core}; qemu -M {b.machine}; aliases {', '.join(b.aliases)}")
    for b in COMPILE_ONLY.values():
        print(f"{b.name:10s} {b.core}: make -C targets BOARD={b.name} lib")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m targets", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=functools.partial(
        argparse.ArgumentParser, formatter_class=argparse.ArgumentDefaultsHelpFormatter))

    def model_stream(sp, board: bool) -> None:
        if board:
            sp.add_argument("--board", required=True, help="cortex-m0|cortex-m3|cortex-m4|cortex-m7|rv32imc"
                                                           + (" or all, or a comma list" if sp.prog.endswith("parity") else ""))
        sp.add_argument("--model", required=True, help=".mbnn blob")
        sp.add_argument("--stream", required=True, help=".npz with x (n, features) and y (n,; -1: no label), or a stream .bin")
        sp.add_argument("--timeout", type=float, default=300.0, help="seconds per QEMU run")

    sp = sub.add_parser("run", help="run the stream learner on an emulated board; print its log")
    model_stream(sp, True)
    sp.add_argument("--log", help="also write the log here")
    sp.add_argument("--state", help="write the learned state the board saved here")
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("host", help="the same log on the host through pyruntime")
    model_stream(sp, False)
    sp.add_argument("--log", help="also write the log here")
    sp.add_argument("--state", help="write the learned state here")
    sp.set_defaults(fn=cmd_host)

    sp = sub.add_parser("parity", help="compare board logs and states with the host's")
    model_stream(sp, True)
    sp.set_defaults(fn=cmd_parity)

    sp = sub.add_parser("ctests", help="run the runtime's C tests on emulated boards")
    sp.add_argument("--board", default="all")
    sp.add_argument("--timeout", type=float, default=300.0)
    sp.add_argument("-v", "--verbose", action="store_true")
    sp.set_defaults(fn=cmd_ctests)

    sp = sub.add_parser("demo", help="write a small random model and stream (for trying the commands)")
    sp.add_argument("--kind", choices=["int8", "bits", "conv", "rehearsal"], default="int8",
                    help="a parity model of targets/models.py (rehearsal: a rehearsal set and memory slots)")
    sp.add_argument("--model", default="model.mbnn")
    sp.add_argument("--stream", default="stream.npz")
    sp.add_argument("--samples", type=int, default=1100)
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(fn=cmd_demo)

    sp = sub.add_parser("stream", help="write a stream.npz from a dataset (or a task sequence) for run/parity/link",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sp.add_argument("--dataset", required=True,
                    help="mnist, fashion, digits, pmnist:SEED, ...; a comma list is a task sequence, -n samples each")
    sp.add_argument("-n", type=int, default=1000, help="samples per dataset")
    sp.add_argument("-o", "--output", default="stream.npz", help=".npz to write (x int8, y, task)")
    sp.add_argument("--unlabelled-every", type=int, default=0,
                    help="every K-th sample has no label (predict only); 0: all labelled")
    sp.add_argument("--split", choices=["train", "test"], default="train",
                    help="which split to draw from (train keeps the test split unseen for evaluation)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the shuffle")
    sp.set_defaults(fn=cmd_stream)

    sp = sub.add_parser("serial", help="send a stream to a real board (targets/esp32) and print its log")
    sp.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    sp.add_argument("--stream", required=True)
    sp.add_argument("--model", help=".mbnn blob, only to quantize float features")
    sp.add_argument("--baud", type=int, default=115200)
    sp.add_argument("--timeout", type=float, default=600.0)
    sp.add_argument("--log", help="also write the log here")
    sp.set_defaults(fn=cmd_serial)

    sp = sub.add_parser("arduino-lib", help="write the runtime as an Arduino library folder and zip")
    sp.add_argument("-o", "--out", default="build/arduino", help="folder to write metabnn/ and metabnn.zip in")
    sp.set_defaults(fn=cmd_arduino_lib)

    from targets.linkcli import add_parser

    add_parser(sub)

    sp = sub.add_parser("paths", help="where the runtime's headers and sources are (also after pip install)")
    sp.set_defaults(fn=cmd_paths)

    sp = sub.add_parser("boards", help="list the emulated boards")
    sp.set_defaults(fn=cmd_boards)

    args = p.parse_args(argv)
    from targets.firmware import DoesNotFit

    try:
        return args.fn(args)
    except DoesNotFit as exc:
        print(f"python -m targets {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"python -m targets {args.cmd}{' ' + args.link_cmd if args.cmd == 'link' else ''}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
