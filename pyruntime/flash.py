"""The learned state on flash from Python: the runtime's flash store
(`mbnn_store_save` / `mbnn_store_load`, docs/STORAGE.md) driven on the
simulated NOR flash of the C tests (runtime_c/sim/mbnn_flashsim.h).

    flash = SimFlash(region_size=64 * 4096)
    info = store_save(model, flash)        # a new record: info.seq, info.erases
    flash.cut_power(op=3, at=1234)         # the next save loses power inside its 3rd operation
    store_load(model, flash)               # the newest intact record
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyruntime.model import Model, _check, ffi, lib


class SimFlash:
    """A simulated NOR flash: erase sets a block to 0xFF, programming only
    clears bits, a power cut stops a program or erase part way (see
    runtime_c/sim/mbnn_flashsim.h), and reads, programs or erases can be made
    to fail. Starts erased."""

    def __init__(self, region_size: int, block_size: int = 4096, prog_size: int = 256) -> None:
        if region_size <= 0 or block_size <= 0 or prog_size <= 0 or block_size % prog_size or region_size % block_size:
            raise ValueError(
                f"flash geometry {region_size}/{block_size}/{prog_size}: region_size must be a multiple of "
                "block_size and block_size a multiple of prog_size, all positive"
            )
        self.mem = np.full(region_size, 0xFF, dtype=np.uint8)
        self.erase_counts = np.zeros(region_size // block_size, dtype=np.uint32)
        self._sim = ffi.new("mbnn_flashsim *")
        if lib.mbnn_flashsim_init(self._sim, ffi.from_buffer("uint8_t[]", self.mem),
                                  ffi.cast("uint32_t *", ffi.from_buffer(self.erase_counts)),
                                  prog_size, block_size, region_size) != 0:
            raise ValueError("flash geometry refused by the simulator")
        self._flash = ffi.new("mbnn_flash *")
        lib.mbnn_flashsim_flash(self._sim, self._flash)

    @property
    def ops(self) -> int:
        """Program and erase operations so far."""
        return int(self._sim.ops)

    @property
    def violations(self) -> int:
        """Calls that broke the NOR rules (misaligned, out of range, 0 to 1 bits): 0 for a correct store."""
        return int(self._sim.violations)

    @property
    def powered(self) -> bool:
        """False after a power cut, until power_on."""
        return not self._sim.off

    def cut_power(self, op: int, at: int, scatter: bool = False) -> None:
        """Cut the power inside the op-th program or erase from now (1 = the
        next): its first `at % (len + 1)` bytes are done, the next gets part of
        its bits (with scatter, every later byte does)."""
        if op < 1:
            raise ValueError(f"op must be 1 or more (the next operation is 1), got {op}")
        self._sim.cut_op = self._sim.ops + op
        self._sim.cut_at = at & 0xFFFFFFFF
        self._sim.scatter = 1 if scatter else 0

    def fail_next(self, read: int = 0, prog: int = 0, erase: int = 0) -> None:
        """Make the read-th read (prog-th program, erase-th erase) from now fail; 0 = none."""
        sim = self._sim
        sim.fail_read = sim.reads + read if read else 0
        sim.fail_prog = sim.progs + prog if prog else 0
        sim.fail_erase = sim.erases + erase if erase else 0

    def power_on(self) -> None:
        """Restart after a power cut: nothing armed any more."""
        lib.mbnn_flashsim_power_on(self._sim)


@dataclass(frozen=True)
class StoreInfo:
    """What the store wrote or loaded (mbnn_store_info)."""

    seq: int
    step: int
    erases: int
    slots: int
    blocks_per_slot: int


def _run(fn, model: Model, flash: SimFlash) -> StoreInfo:
    size = ffi.new("size_t *")
    _check(lib.mbnn_store_page_size(model._m, flash._flash, size))
    page = ffi.new("uint8_t[]", size[0])
    info = ffi.new("mbnn_store_info *")
    _check(fn(model._m, flash._flash, page, size[0], info))
    return StoreInfo(int(info.seq), int(info.step), int(info.erases), int(info.slots), int(info.blocks_per_slot))


def store_save(model: Model, flash: SimFlash) -> StoreInfo:
    """Save the model's learned state as a new record (mbnn_store_save)."""
    return _run(lib.mbnn_store_save, model, flash)


def store_load(model: Model, flash: SimFlash) -> StoreInfo:
    """Load the newest intact record into the model (mbnn_store_load); raises
    MbnnError (store empty, torn, another model's, flash failure) and then the
    model keeps its state."""
    return _run(lib.mbnn_store_load, model, flash)


def state_fingerprint(model: Model) -> int:
    """The CRC field of the model's learned state, computed without a state-sized buffer."""
    stream = ffi.new("mbnn_state_stream *")
    _check(lib.mbnn_state_save_begin(model._m, stream))
    return int(stream.crc)
