"""The emulated boards: compiler flags live in targets/Makefile, QEMU command lines here."""

from __future__ import annotations

from dataclasses import dataclass

SEMIHOSTING = ["-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native"]


@dataclass(frozen=True)
class Board:
    """One emulated board."""

    name: str          # the Makefile's BOARD
    core: str          # what a user would call it
    machine: str       # QEMU machine
    qemu: tuple[str, ...]
    cross: str         # toolchain prefix
    ram_kib: int       # RAM of the linker script
    aliases: tuple[str, ...] = ()

    def qemu_argv(self, elf: str, plugin: str | None = None) -> list[str]:
        """The QEMU command line that runs elf (optionally with a TCG plugin)."""
        argv = [*self.qemu, *SEMIHOSTING, "-kernel", elf]
        if plugin:
            argv += ["-plugin", plugin]
        return argv


BOARDS: dict[str, Board] = {
    b.name: b
    for b in [
        Board("cortex-m0", "Cortex-M0 (BBC micro:bit, nRF51822)", "microbit",
              ("qemu-system-arm", "-M", "microbit"), "arm-none-eabi-", 16, ("m0", "microbit")),
        Board("cortex-m3", "Cortex-M3 (Arm MPS2 AN385)", "mps2-an385",
              ("qemu-system-arm", "-M", "mps2-an385"), "arm-none-eabi-", 256, ("m3", "mps2-an385")),
        Board("cortex-m4", "Cortex-M4F (Arm MPS2 AN386)", "mps2-an386",
              ("qemu-system-arm", "-M", "mps2-an386"), "arm-none-eabi-", 256, ("m4", "m4f", "mps2-an386")),
        Board("cortex-m7", "Cortex-M7 (Arm MPS2 AN500)", "mps2-an500",
              ("qemu-system-arm", "-M", "mps2-an500"), "arm-none-eabi-", 256, ("m7", "mps2-an500")),
        Board("rv32imc", "RISC-V rv32imc (the ESP32-C3's ISA), QEMU virt", "virt",
              ("qemu-system-riscv32", "-M", "virt", "-cpu", "rv32,a=false,f=false,d=false", "-bios", "none"),
              "riscv64-unknown-elf-", 256, ("riscv", "esp32-c3", "rv32")),
    ]
}


# Boards the code builds for but no emulator runs (Makefile goal `lib` only).
COMPILE_ONLY: dict[str, Board] = {
    "lx106": Board("lx106", "Xtensa LX106 (ESP8266), integer only; compile only", "", (),
                   "xtensa-lx106-elf-", 0, ("esp8266", "xtensa")),
}


def board(name: str) -> Board:
    """Look a board up by name or alias; ValueError names the known ones."""
    key = name.lower()
    for b in [*BOARDS.values(), *COMPILE_ONLY.values()]:
        if key == b.name or key in b.aliases:
            return b
    raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARDS)}")
