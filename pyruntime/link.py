"""The host side of the device link (docs/LINK.md): a board running the link
firmware (targets/common/link.c), over a serial port, through pyserial.

    from pyruntime.link import Device
    with Device("/dev/ttyUSB0") as dev:          # or "socket://127.0.0.1:5555" (QEMU)
        dev.info()                               # sizes, model CRC, step
        pred, loss, step = dev.learn(x, label)   # x: int8 (n_inputs,)
        dev.stats()                              # counts, running accuracy and loss
        state = dev.pull_state()                 # what it learned (docs/FORMAT.md)

Frames: 0xA5 0x5A, type u8, seq u8, len u16, payload, CRC-32 (zlib's) of
type..payload, little-endian. Every request gets exactly one answer: its
response (type | 0x80) or an error frame, raised here as LinkError.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

import numpy as np

SYNC = b"\xa5\x5a"
MAX_PAYLOAD = 2048
INFO, SAMPLE, LABELLED, PREDICT, STATS, PULL_STATE, PUSH_STATE, PUSH_MODEL, RESET = range(1, 10)
RESPONSE, ERROR = 0x80, 0xFF
ERROR_NAMES = {1: "CRC", 2: "LENGTH", 3: "TYPE", 4: "PAYLOAD", 5: "RUNTIME", 6: "NO_ROOM"}


class LinkError(RuntimeError):
    """An error frame from the device, or no (valid) answer; `code` is the link's error code (0: none came)."""

    def __init__(self, message: str, code: int = 0, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def encode(kind: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame's bytes."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes, the link carries at most {MAX_PAYLOAD}")
    body = struct.pack("<BBH", kind, seq & 0xFF, len(payload)) + bytes(payload)
    return SYNC + body + struct.pack("<I", zlib.crc32(body))


@dataclass
class Info:
    """What the device reports about itself (LINK_INFO)."""

    version: int
    can_learn: bool
    n_inputs: int
    n_classes: int
    model_crc: int
    step: int
    state_bytes: int
    max_payload: int
    model_room: int


@dataclass
class Stats:
    """Counts since the last reset, and exponential running averages (weight 1/32)."""

    samples: int
    labelled: int
    correct: int
    step: int
    running_accuracy: float  # 0..1
    running_loss: float      # mean of 1 - p(label)

    @property
    def accuracy(self) -> float:
        """Accuracy over every labelled sample (predicted before learning from it)."""
        return self.correct / self.labelled if self.labelled else 0.0


class Device:
    """A board speaking the link on a serial port (any pyserial URL: /dev/ttyUSB0, COM3, socket://HOST:PORT)."""

    def __init__(self, port: str, baud: int = 115200, timeout: float = 10.0, wait: float = 60.0) -> None:
        """Open the port; a socket:// port is retried for up to `wait` seconds (a board still starting)."""
        try:
            import serial  # pyserial
        except ImportError as exc:
            raise RuntimeError("the device link needs pyserial: pip install pyserial") from exc
        self.port = port
        deadline = time.monotonic() + (wait if port.startswith("socket://") else 0)
        while True:
            try:
                self._ser = serial.serial_for_url(port, baudrate=baud, timeout=timeout)
                break
            except serial.SerialException as exc:
                if time.monotonic() >= deadline:
                    raise LinkError(f"cannot open {port}: {exc}") from None
                time.sleep(0.25)
        self._seq = 0
        self._info: Info | None = None

    def close(self) -> None:
        """Close the port."""
        self._ser.close()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self, n: int) -> bytes:
        data = self._ser.read(n)
        if len(data) != n:
            raise LinkError(f"{self.port}: no answer from the device (is the link firmware running?)")
        return data

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests use it for corrupt frames)."""
        self._ser.write(data)

    def read_frame(self) -> tuple[int, int, bytes]:
        """(type, seq, payload) of the next frame; LinkError when its CRC is wrong or none comes."""
        prev = b""
        while True:
            c = self._read(1)
            if prev == SYNC[:1] and c == SYNC[1:]:
                break
            prev = c
        head = self._read(4)
        kind, seq, n = struct.unpack("<BBH", head)
        rest = self._read(n + 4)
        payload, crc = rest[:n], struct.unpack("<I", rest[n:])[0]
        if zlib.crc32(head + payload) != crc:
            raise LinkError(f"{self.port}: a frame from the device has a bad CRC (noise on the line?)")
        return kind, seq, payload

    def request(self, kind: int, payload: bytes = b"") -> bytes:
        """Send one request; the response's payload, or LinkError with the device's error."""
        self._seq = (self._seq + 1) & 0xFF
        self._ser.write(encode(kind, self._seq, payload))
        got, seq, data = self.read_frame()
        if got == ERROR:
            code, status = data[0], data[1]
            raise LinkError(f"device error {ERROR_NAMES.get(code, code)}: {data[2:].decode('ascii', 'replace')}",
                            code, status)
        if got != kind | RESPONSE or seq != self._seq:
            raise LinkError(f"{self.port}: answer of type 0x{got:02x} seq {seq} to request 0x{kind:02x} seq {self._seq}")
        return data

    def info(self) -> Info:
        """The device's model and sizes."""
        v = struct.unpack("<BBHHIIIHI", self.request(INFO))
        self._info = Info(v[0], bool(v[1]), *v[2:])
        return self._info

    def _x(self, x) -> bytes:
        x = np.asarray(x)
        if x.dtype != np.int8 or x.ndim != 1:
            raise ValueError(f"a sample is a 1-D int8 array, got {x.dtype} of shape {x.shape}")
        return x.tobytes()

    def sample(self, x) -> int:
        """An unlabelled sample: the device's prediction (counted in the statistics)."""
        return struct.unpack("<H", self.request(SAMPLE, self._x(x)))[0]

    def learn(self, x, label: int) -> tuple[int, int, int]:
        """A labelled sample: (prediction before learning, loss in Q15, step after)."""
        return struct.unpack("<HII", self.request(LABELLED, struct.pack("<H", label) + self._x(x)))

    def predict(self, x) -> tuple[int, np.ndarray]:
        """(class, int32 logits) without learning or counting."""
        data = self.request(PREDICT, self._x(x))
        return struct.unpack("<H", data[:2])[0], np.frombuffer(data[2:], dtype="<i4").astype(np.int32)

    def stats(self) -> Stats:
        """Counts and running accuracy and loss."""
        s, lab, cor, step, acc, loss = struct.unpack("<IIIIII", self.request(STATS))
        return Stats(s, lab, cor, step, acc / 65536.0, loss / 32768.0)

    def pull_state(self, progress=None) -> bytes:
        """The learned state (docs/FORMAT.md "Learned state"), a snapshot taken at the first chunk."""
        chunks, offset, total = [], 0, None
        while total is None or offset < total:
            data = self.request(PULL_STATE, struct.pack("<IH", offset, MAX_PAYLOAD - 8))
            total, got = struct.unpack("<II", data[:8])
            if got != offset:
                raise LinkError(f"{self.port}: state chunk at {got}, asked for {offset}")
            chunks.append(data[8:])
            offset += len(data) - 8
            if progress:
                progress(offset, total)
            if len(data) == 8 and offset < total:
                raise LinkError(f"{self.port}: empty state chunk at {offset} of {total}")
        return b"".join(chunks)

    def _push(self, kind: int, data: bytes) -> None:
        step = MAX_PAYLOAD - 8
        offset = 0
        while True:
            chunk = data[offset:offset + step]
            self.request(kind, struct.pack("<II", len(data), offset) + chunk)
            offset += len(chunk)
            if offset >= len(data):
                return

    def push_state(self, state: bytes) -> None:
        """Replace what the device learned; checked on the device, nothing changes when it is refused."""
        self._push(PUSH_STATE, bytes(state))

    def push_model(self, blob: bytes) -> None:
        """Run another model (the firmware must reserve room: LINK_MODEL_BYTES); statistics restart."""
        self._push(PUSH_MODEL, bytes(blob))

    def reset(self) -> None:
        """Forget what was learned since the model was bound; statistics restart."""
        self.request(RESET)
