"""The runtime as an Arduino library: a self-contained folder (library.properties,
src/ with the runtime's sources and the examples' application, and
examples/sensor_learner/, the sketch of examples/arduino with a demo model) that the Arduino IDE installs with
"Sketch > Include Library > Add .ZIP Library" once zipped. Generated, so the
repository keeps one copy of the code (runtime_c/)."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_arduino_library(out: Path) -> Path:
    """Write the Arduino library into out/metabnn (replacing it); return that folder."""
    lib = Path(out) / "metabnn"
    if lib.exists():
        shutil.rmtree(lib)
    (lib / "src").mkdir(parents=True)
    shutil.copy2(ROOT / "targets" / "arduino" / "library.properties", lib)
    shutil.copy2(ROOT / "runtime_c" / "include" / "mbnn.h", lib / "src")
    runtime = ROOT / "runtime_c"
    sources = [runtime / line for line in (runtime / "sources.txt").read_text().split()]
    for source in sources + sorted((runtime / "src").glob("*.h")):
        shutil.copy2(source, lib / "src")
    examples = ROOT / "examples"
    if examples.is_dir():  # a clone; an installed wheel has no examples/
        for source in sorted((examples / "common").glob("*.[ch]")):
            shutil.copy2(source, lib / "src")
        for sketch in sorted((examples / "arduino").iterdir()):
            shutil.copytree(sketch, lib / "examples" / sketch.name)
            shutil.copy2(ROOT / "targets" / "esp32" / "include" / "model.h", lib / "examples" / sketch.name)
    return lib
