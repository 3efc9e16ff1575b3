"""metabnn on microcontrollers: firmware builds, emulated boards, host-versus-device parity.

- `targets.boards`: the emulated boards (Cortex-M0/M3/M4F/M7 and rv32imc under QEMU).
- `targets.stream`: the stream file the firmware reads.
- `targets.firmware`: build the stream learner for a board and run it under QEMU.
- `targets.hostlog`: the same log on the host through pyruntime.
- `python -m targets --help`: the command line (docs/TARGETS.md).
"""
