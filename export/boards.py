"""Boards a model can be exported for: RAM and flash an application gets, and what fits.

A model fits a board for inference when the blob (in flash) plus the firmware's
code fits the flash, and the inference arena plus the stack fits the RAM. For
learning the RAM must also hold the learning arena and a buffer for the
learned state (what the firmware saves to flash). The arena sizes are the
runtime's own (`mbnn_arena_size` through pyruntime), the state size
`mbnn_state_size`; the reserves below are what the firmware around the runtime
takes (docs/FOOTPRINT.md measures them per board).

The emulated boards are the ones `python -m targets run` runs under QEMU (their
linker scripts' RAM and flash); the others are common real boards, with the
RAM an application can place its buffers in (ESP32s: the heap/DRAM left by
ESP-IDF and Wi-Fi off, not the chip's total SRAM).
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024

#: Flash the firmware's code takes beside the blob (runtime + stream learner + C library).
CODE_RESERVE = 32 * KIB


@dataclass(frozen=True)
class BoardSpec:
    """One board: RAM and flash available to the application, in bytes."""

    name: str
    what: str
    ram: int
    flash: int
    stack: int = 8 * KIB   # stack and everything else the firmware keeps in RAM
    emulated: str = ""      # the `python -m targets --board` name when QEMU runs it


BOARD_SPECS: dict[str, BoardSpec] = {b.name: b for b in [
    BoardSpec("microbit", "BBC micro:bit v1, nRF51822 Cortex-M0", 16 * KIB, 256 * KIB, 3 * KIB, "cortex-m0"),
    BoardSpec("mps2-an385", "Arm MPS2 AN385, Cortex-M3 (emulated)", 256 * KIB, 4096 * KIB, 8 * KIB, "cortex-m3"),
    BoardSpec("mps2-an386", "Arm MPS2 AN386, Cortex-M4F (emulated)", 256 * KIB, 4096 * KIB, 8 * KIB, "cortex-m4"),
    BoardSpec("mps2-an500", "Arm MPS2 AN500, Cortex-M7 (emulated)", 256 * KIB, 4096 * KIB, 8 * KIB, "cortex-m7"),
    BoardSpec("rv32-virt", "RISC-V rv32imc, QEMU virt (emulated)", 256 * KIB, 1024 * KIB, 8 * KIB, "rv32imc"),
    BoardSpec("stm32f401", "STM32F401RE (Nucleo-F401RE), Cortex-M4F", 96 * KIB, 512 * KIB),
    BoardSpec("microbit-v2", "BBC micro:bit v2, nRF52833 Cortex-M4F", 128 * KIB, 512 * KIB),
    BoardSpec("nrf52840", "nRF52840 (Arduino Nano 33 BLE), Cortex-M4F", 256 * KIB, 1024 * KIB),
    BoardSpec("rp2040", "Raspberry Pi RP2040 (Pico), Cortex-M0+", 264 * KIB, 2048 * KIB),
    BoardSpec("esp32", "ESP32 (Xtensa LX6), ESP-IDF heap", 280 * KIB, 4096 * KIB, 16 * KIB),
    BoardSpec("esp32-c3", "ESP32-C3 (RISC-V), ESP-IDF heap", 300 * KIB, 4096 * KIB, 16 * KIB),
    BoardSpec("esp32-s3", "ESP32-S3 (Xtensa LX7), ESP-IDF heap", 380 * KIB, 8192 * KIB, 16 * KIB),
]}

#: Other names people use, and the `python -m targets` board names.
ALIASES = {"cortex-m0": "microbit", "m0": "microbit", "cortex-m3": "mps2-an385", "m3": "mps2-an385",
           "cortex-m4": "mps2-an386", "m4": "mps2-an386", "m4f": "mps2-an386", "cortex-m7": "mps2-an500",
           "m7": "mps2-an500", "rv32imc": "rv32-virt", "rv32": "rv32-virt", "riscv": "rv32-virt",
           "nucleo_f401re": "stm32f401", "stm32f401re": "stm32f401", "pico": "rp2040",
           "nano33ble": "nrf52840", "esp32dev": "esp32"}


def board_spec(name: str) -> BoardSpec:
    """A board by name or alias; ValueError lists the known ones."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in BOARD_SPECS:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARD_SPECS)} "
                         f"(or the emulated names cortex-m0/m3/m4/m7, rv32imc)")
    return BOARD_SPECS[key]


@dataclass(frozen=True)
class Needs:
    """What a blob needs on a board, in bytes."""

    flash: int          # blob + code reserve
    ram_infer: int      # inference arena
    ram_learn: int      # learning arena + learned-state buffer (0: no layer learns)

    def fits(self, b: BoardSpec, learn: bool) -> bool:
        """Whether the blob fits b, for learning (learn=True) or inference."""
        ram = self.ram_learn if learn else self.ram_infer
        return self.flash <= b.flash and (ram > 0 or not learn) and ram + b.stack <= b.ram


def needs(blob: bytes) -> Needs:
    """Flash and RAM a blob needs, from the runtime's own arena and state-size queries."""
    from export.blob import runtime_model

    infer = runtime_model(blob, learn=False)[0].arena_size
    learner = runtime_model(blob, learn=True)[0]
    learn = learner.arena_size + len(learner.state()) if learner.can_learn else 0
    return Needs(len(blob) + CODE_RESERVE, infer, learn)


def shortfall(n: Needs, b: BoardSpec, learn: bool = True) -> str:
    """One line: what the model needs on board b, what b has, what to do."""
    ram = n.ram_learn if learn else n.ram_infer
    what = "learning" if learn else "inference"
    if n.flash > b.flash:
        return (f"the model needs {n.flash:,} B of flash (blob + {CODE_RESERVE // KIB} KiB code), "
                f"{b.name} has {b.flash:,} B: train a smaller model (--sizes) or carry fewer rehearsal samples "
                f"(--rehearsal)")
    return (f"{what} needs {ram + b.stack:,} B of RAM (arena and state {ram:,} B + {b.stack // KIB} KiB stack), "
            f"{b.name} has {b.ram:,} B: export with --board {b.name} (it picks the layers that learn) "
            f"or --learn last, or train a smaller model")


def fit_table(n: Needs) -> str:
    """Which boards the model fits, for inference and for learning."""
    rows = [f"{'board':<12} {'RAM':>8} {'flash':>8}  inference  learning  what"]
    for b in BOARD_SPECS.values():
        infer = "yes" if n.fits(b, False) else "no"
        learn = "yes" if n.fits(b, True) else ("-" if n.ram_learn == 0 else "no")
        rows.append(f"{b.name:<12} {b.ram // KIB:>5} KiB {b.flash // KIB:>4} KiB  {infer:<9}  {learn:<8}  {b.what}")
    return "\n".join(rows)
