"""`python -m targets link ...`: a board running the link firmware, from the host (docs/LINK.md).

    link serve --board cortex-m4 --model model.mbnn --port 5555   # emulated board, UART on TCP
    link monitor PORT --stream stream.npz [--model model.mbnn]    # learn a stream, live view
    link monitor PORT                                             # watch the board's statistics
    link pull PORT -o state.bin                                   # what it learned
    link push PORT --state state.bin | --model model.mbnn         # send it back, or another model
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np


def serve(args) -> int:
    """Run the link firmware on an emulated board until interrupted."""
    from targets.firmware import start_link

    blob = Path(args.model).read_bytes()
    proc, url = start_link(args.board, blob, args.port, args.model_room)
    print(f"{args.board} runs the link firmware with {args.model}; its UART is {url} (Ctrl-C or kill to stop)",
          flush=True)

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while proc.poll() is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except Exception:
                proc.kill()
    rc = proc.returncode
    return 0 if rc in (0, -15, -2, None) or rc < 0 else 1


def _view(stats) -> str:
    return (f"step {stats.step}, accuracy {100 * stats.accuracy:.1f}% "
            f"(running {100 * stats.running_accuracy:.1f}%), loss {stats.running_loss:.3f}")


def monitor(args) -> int:
    """Learn a stream on the board with a live view, or watch its statistics."""
    from tqdm import tqdm

    from pyruntime.link import Device

    with Device(args.port, args.baud, args.timeout, args.wait) as dev:
        info = dev.info()
        if not args.stream:
            print(f"{args.port}: model {info.model_crc:08x}, {info.n_inputs} inputs, {info.n_classes} classes "
                  f"(Ctrl-C to stop)")
            try:
                for _ in range(args.count) if args.count else iter(int, 1):
                    print(_view(dev.stats()), flush=True)
                    time.sleep(args.interval)
            except KeyboardInterrupt:
                pass
            return 0
        from targets.stream import load

        blob = Path(args.model).read_bytes() if args.model else None
        stream = load(args.stream, blob)
        if stream.x.shape[1] != info.n_inputs:
            raise ValueError(f"{args.stream} has {stream.x.shape[1]} features per sample, the board's model takes "
                             f"{info.n_inputs}")
        acc_curve, loss_curve, at = [], [], []
        bar = tqdm(total=len(stream.y), unit="sample", desc="learning on the board", file=sys.stdout,
                   disable=args.quiet)
        for i, (x, y) in enumerate(zip(stream.x, stream.y)):
            if y >= 0:
                dev.learn(x, int(y))
            else:
                dev.sample(x)
            if (i + 1) % args.every == 0 or i + 1 == len(stream.y):
                s = dev.stats()
                acc_curve.append(s.running_accuracy)
                loss_curve.append(s.running_loss)
                at.append(i + 1)
                bar.set_postfix_str(_view(s), refresh=False)
                bar.update(i + 1 - bar.n)
        bar.close()
        s = dev.stats()
        print(f"{args.port}: {s.samples} samples, {s.labelled} labelled, {_view(s)}")
        if args.plot:
            _plot(args.plot, at, acc_curve, loss_curve, f"{Path(args.stream).name} on {args.port}")
            print(f"wrote {args.plot}")
    return 0


def _plot(path: str, at, acc, loss, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(at, 100 * np.asarray(acc), label="running accuracy (%), average over about 32 samples")
    ax.plot(at, 100 * np.asarray(loss), label="running loss 1 - p(label) (x100)")
    ax.set_xlabel("samples sent over the link")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(f"Learning on the board: {title}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    from export.blob import write_atomic
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def pull(args) -> int:
    """Write the board's learned state to a file."""
    from export.blob import write_atomic

    from pyruntime.link import Device

    with Device(args.port, args.baud, args.timeout, args.wait) as dev:
        state = dev.pull_state()
        step = dev.info().step
    write_atomic(args.output, state)
    print(f"wrote {args.output}: {len(state):,} bytes of learned state after {step} learning steps")
    return 0


def push(args) -> int:
    """Send a learned state (or a model) to the board."""
    from pyruntime.link import Device

    if bool(args.state) == bool(args.model):
        raise ValueError("give one of --state FILE or --model FILE")
    data = Path(args.state or args.model).read_bytes()
    with Device(args.port, args.baud, args.timeout, args.wait) as dev:
        (dev.push_state if args.state else dev.push_model)(data)
        info = dev.info()
    print(f"{args.port}: {'state' if args.state else 'model'} loaded ({len(data):,} bytes); "
          f"model {info.model_crc:08x}, step {info.step}")
    return 0


def add_parser(sub) -> None:
    """The `link` subcommand and its own subcommands."""
    import argparse
    import functools

    lp = sub.add_parser("link", help="talk to a board running the link firmware (docs/LINK.md)",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ls = lp.add_subparsers(dest="link_cmd", required=True, parser_class=functools.partial(
        argparse.ArgumentParser, formatter_class=argparse.ArgumentDefaultsHelpFormatter))

    def port(sp) -> None:
        sp.add_argument("port", help="serial port (/dev/ttyUSB0, COM3) or socket://HOST:PORT (link serve)")
        sp.add_argument("--baud", type=int, default=115200, help="baud rate of a serial port")
        sp.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
        sp.add_argument("--wait", type=float, default=60.0,
                        help="seconds to keep trying to open a socket:// port (a board still starting)")

    sp = ls.add_parser("serve", help="run the link firmware on an emulated board, UART on TCP")
    sp.add_argument("--board", default="cortex-m4", help="cortex-m3, cortex-m4, cortex-m7 or rv32imc")
    sp.add_argument("--model", required=True, help=".mbnn blob compiled into the firmware")
    sp.add_argument("--port", type=int, default=5555, help="TCP port on 127.0.0.1 (0: any free one)")
    sp.add_argument("--model-room", type=int, default=0, help="RAM bytes for a model pushed over the link")
    sp.set_defaults(fn=serve)

    sp = ls.add_parser("monitor",
                       help="learn a stream on the board with a live view of steps, accuracy and loss")
    port(sp)
    sp.add_argument("--stream", help=".npz or stream .bin to send; without it: show the board's statistics")
    sp.add_argument("--model", help=".mbnn blob, only to quantize float features of the stream")
    sp.add_argument("--every", type=int, default=50, help="samples between two updates of the view")
    sp.add_argument("--plot", help="also draw running accuracy and loss against samples in this PNG")
    sp.add_argument("--interval", type=float, default=1.0, help="seconds between two views without --stream")
    sp.add_argument("--count", type=int, default=0, help="views without --stream (0: until Ctrl-C)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary")
    sp.set_defaults(fn=monitor)

    sp = ls.add_parser("pull", help="write the board's learned state to a file")
    port(sp)
    sp.add_argument("-o", "--output", default="state.bin", help="file to write")
    sp.set_defaults(fn=pull)

    sp = ls.add_parser("push", help="send a learned state (or a model) to the board")
    port(sp)
    sp.add_argument("--state", help="learned state to load (checked on the board; refused: nothing changes)")
    sp.add_argument("--model", help="model to run instead (needs link serve --model-room)")
    sp.set_defaults(fn=push)
