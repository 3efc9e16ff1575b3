"""examples/: the plain C program (CMake, add_subdirectory and find_package), the
Arduino sketch inside the Arduino library, and the ESP-IDF project compiled
against host stand-ins; each built and run on the host, in a reduced form."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from targets_util import need

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
STUBS = ROOT / "targets" / "esp32" / "stubs"
MODEL_DIR = ROOT / "targets" / "esp32" / "include"
READINGS = 1000


def _run(cmd, **kw) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _accuracy_at(out: str, step: int) -> int:
    """The accuracy (%) an example printed at a learning step."""
    m = re.search(rf"step {step}\D.*?accuracy(?: so far)? (\d+)%", out)
    assert m, out
    return int(m.group(1))


@pytest.fixture(scope="module")
def c_build(tmp_path_factory) -> Path:
    """examples/c built with CMake (add_subdirectory of this checkout)."""
    need("cmake", "gcc")
    build = tmp_path_factory.mktemp("example-c")
    _run(["cmake", "-S", EX / "c", "-B", build])
    _run(["cmake", "--build", build])
    assert "CMAKE_BUILD_TYPE:STRING=Release" in (build / "CMakeCache.txt").read_text()
    return build


@pytest.fixture(scope="module")
def c_example(c_build) -> str:
    """The C example's output for READINGS readings from an erased flash, saving every 100 steps."""
    (c_build / "flash.bin").unlink(missing_ok=True)
    return _run([c_build / "sensor_learner", READINGS + 50, 1, c_build / "flash.bin", 100])


def test_c_example_learns(c_example):
    done = re.search(r"done: (\d+) readings, (\d+) labelled, (\d+) correct \((\d+)%\), step (\d+), (\d+) saves",
                     c_example)
    readings, labelled, correct, pct, step, saves = map(int, done.groups())
    assert readings == labelled == step == READINGS + 50 and saves == READINGS // 100
    assert "resumed at step 0" in c_example
    assert pct == (100 * correct + labelled // 2) // labelled and correct > 5 * labelled // 10  # chance: 10%


def test_c_example_resumes_after_a_reset(c_build, c_example):
    """What the first run saved (step 1000; the 50 steps after the last save are lost, as in a
    reset) is in the flash file as the runtime's store writes it, and a second run resumes there."""
    from pyruntime import Model
    from pyruntime.flash import SimFlash, store_load

    image = (c_build / "flash.bin").read_bytes()
    flash = SimFlash(region_size=len(image), prog_size=16)
    flash.mem[:] = list(image)
    blob = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})",
                                                 (MODEL_DIR / "model.h").read_text().split("= {", 1)[1].split("};")[0]))
    model = Model.load(blob)
    assert store_load(model, flash).step == READINGS and model.step == READINGS
    out = _run([c_build / "sensor_learner", 200, 1, c_build / "flash.bin", 100])
    assert f"resumed at step {READINGS} " in out and f"step {READINGS + 200}, 2 saves" in out


def test_c_example_with_an_installed_runtime(c_build, tmp_path):
    """cmake --install (the runtime's install rules, here through the example's build), then
    find_package(metabnn) from the example."""
    _run(["cmake", "--install", c_build, "--prefix", tmp_path / "prefix"])
    assert (tmp_path / "prefix" / "include" / "mbnn.h").is_file()
    _run(["cmake", "-S", EX / "c", "-B", tmp_path / "ex", f"-DCMAKE_PREFIX_PATH={tmp_path / 'prefix'}"])
    assert str(tmp_path / "prefix") in (tmp_path / "ex" / "CMakeCache.txt").read_text().split("metabnn_DIR:PATH=")[1]
    _run(["cmake", "--build", tmp_path / "ex"])
    assert "done: 300 readings" in _run([tmp_path / "ex" / "sensor_learner", 300, 1, tmp_path / "flash.bin"])


def test_arduino_sketch_in_the_library_zip(tmp_path, c_example):
    """The zip holds examples/sensor_learner; the sketch, compiled against the library's src/ and a
    host Serial, learns as the C example does."""
    need("gcc", "g++")
    from targets.__main__ import main as targets_main

    assert targets_main(["arduino-lib", "-o", str(tmp_path)]) == 0
    names = zipfile.ZipFile(tmp_path / "metabnn.zip").namelist()
    assert "metabnn/examples/sensor_learner/sensor_learner.ino" in names
    assert "metabnn/examples/sensor_learner/model.h" in names and "metabnn/src/sensor_app.c" in names
    lib = tmp_path / "metabnn"
    sketch = lib / "examples" / "sensor_learner"
    objs = []
    for src in sorted((lib / "src").glob("*.c")):
        objs.append(tmp_path / (src.stem + ".o"))
        _run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", lib / "src", "-c", src, "-o", objs[-1]])
    main = tmp_path / "main.cpp"
    main.write_text(f"void setup();\nvoid loop();\nint main() {{ setup(); for (int i = 0; i < {READINGS}; i++) loop(); }}\n")
    for flags in ([], ["-DARDUINO_ARCH_ESP32"]):  # flash in RAM; an ESP32's partition (stand-in)
        exe = tmp_path / "sketch"
        _run(["g++", "-O2", "-Wall", "-Wextra", "-Werror", *flags, "-x", "c++", "-I", lib / "src", "-I", sketch,
              "-I", STUBS, sketch / "sensor_learner.ino", "-x", "none", main, *objs, "-o", exe])
        out = _run([exe])
        assert out.startswith("metabnn sensor learner ready\n")
        assert _accuracy_at(out, 1000) == _accuracy_at(c_example, 1000)


def test_esp_idf_example_against_stand_ins(tmp_path, c_example):
    need("gcc")
    exe = tmp_path / "idf"
    main = tmp_path / "main.c"
    main.write_text("void app_main(void);\nint main(void) { app_main(); return 1; }\n")
    _run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-DMBNN_STUB_TICKS={READINGS}",
          "-I", STUBS, "-I", EX / "common", "-I", MODEL_DIR, "-I", ROOT / "runtime_c" / "include",
          EX / "esp-idf" / "main" / "main.c", EX / "common" / "sensor_app.c", main,
          *sorted((ROOT / "runtime_c" / "src").glob("*.c")), "-o", exe])
    out = _run([exe])
    assert "resumed at step 0" in out and "step 1000 accuracy" in out and "saves 10\n" in out
    assert _accuracy_at(out, 1000) == _accuracy_at(c_example, 1000)
    assert 'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"' in (EX / "esp-idf" / "sdkconfig.defaults").read_text()
    assert "mbnn," in (EX / "esp-idf" / "partitions.csv").read_text()
    cmake = (EX / "esp-idf" / "main" / "CMakeLists.txt").read_text()
    assert "REQUIRES metabnn" in cmake and "../../common/sensor_app.c" in cmake


def test_motion_stream_example_reduced(tmp_path):
    """examples/motion_stream.py in a reduced form: BasicMotions through the link on the emulated
    Cortex-M4; it exits 0 only when the board's predictions and state equal the host's."""
    from targets_util import need_board

    need_board("cortex-m4")
    import sys

    out = tmp_path / "m.png"
    done = subprocess.run([sys.executable, str(EX / "motion_stream.py"), "--epochs", "1", "--calibration", "40",
                           "--samples", "40", "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "40 windows learned" in done.stdout and "board == host: yes" in done.stdout
    assert out.stat().st_size > 10_000


def test_motion_stream_cnn_example_reduced(tmp_path):
    """examples/motion_stream.py --arch cnn: a 1-D binary CNN (format version 2) learning on the
    emulated Cortex-M4 through the link; exits 0 only when the board equals the host bit for bit."""
    from targets_util import need_board

    need_board("cortex-m4")
    import sys

    out = tmp_path / "c.png"
    done = subprocess.run([sys.executable, str(EX / "motion_stream.py"), "--arch", "cnn", "--epochs", "1",
                           "--calibration", "40", "--samples", "30", "-o", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "layer 0: conv1d 6x1x20" in done.stdout and "30 windows learned" in done.stdout
    assert "board == host: yes" in done.stdout and out.stat().st_size > 10_000


def test_shipped_demo_header_is_current() -> None:
    """The committed demo header (targets/esp32/include/model.h, used by the
    examples and the firmware) equals what the exporter writes for its blob
    today: its arena macros come from the runtime's own size query, so a
    runtime change that moves the arena must regenerate it."""
    from export.header import make_header

    text = (MODEL_DIR / "model.h").read_text()
    body = text[text.index("{", text.index("model_mbnn[")) + 1:]
    blob = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-fA-F]{2})", body[:body.index("}")]))
    comment = text.splitlines()[0][3:].split(":")[0]
    assert text == make_header(blob, "model_mbnn", comment), (
        "targets/esp32/include/model.h is stale: regenerate it with export.header.make_header")
