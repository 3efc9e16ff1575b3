"""Send a stream to a real board over its serial port and print the log it writes back.

The board runs the stream learner of targets/esp32 (Arduino or ESP-IDF). It
prints a ready line at start; the host then writes the stream file's bytes and
reads log lines until `end ...` or `error ...`. Needs pyserial
(`pip install pyserial`; PlatformIO installs it too).
"""

from __future__ import annotations

import sys
import time


def run_serial(port: str, stream: bytes, baud: int = 115200, timeout: float = 600.0, out=sys.stdout) -> str:
    """The log the board wrote for the stream."""
    try:
        import serial  # pyserial
    except ImportError as exc:
        raise RuntimeError("python -m targets serial needs pyserial: pip install pyserial") from exc
    lines = []
    with serial.Serial(port, baud, timeout=1) as ser:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the board may be resetting after the port opened
            if b"ready" in ser.readline():
                break
        ser.write(stream)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = ser.readline()
            if not raw:
                continue
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            out.write(text + "\n")
            if text.startswith(("end ", "error ")):
                break
        else:
            raise RuntimeError(f"no end of log from {port} within {timeout:.0f} s")
    return "\n".join(lines) + "\n"
