"""What can be checked of the board projects without internet (docs/TARGETS.md):
the library manifests (PlatformIO, Arduino, ESP-IDF, CMake), the PlatformIO
project targets/esp32, and the board programs compiled on the host against
stand-ins of the Arduino core and ESP-IDF, the Arduino one run end to end."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from targets_util import need, optional

from export.blob import read_blob
from targets.hostlog import host_log
from targets.models import random_blob, random_stream

ROOT = Path(__file__).resolve().parent.parent
ESP32 = ROOT / "targets" / "esp32"


def runtime_sources() -> list[str]:
    """runtime_c/sources.txt (the one list of the runtime's sources), relative to the repository root."""
    return sorted("runtime_c/" + n for n in (ROOT / "runtime_c" / "sources.txt").read_text().split())


def test_library_json_points_at_the_runtime():
    lib = json.loads((ROOT / "library.json").read_text())
    assert lib["name"] == "metabnn" and re.fullmatch(r"\d+\.\d+\.\d+", lib["version"])
    assert (ROOT / lib["build"]["srcDir"]).is_dir()
    assert (ROOT / lib["build"]["includeDir"] / lib["headers"]).is_file()
    for path in lib["export"]["include"]:
        assert (ROOT / path).exists(), path
    learner = json.loads((ROOT / "targets" / "common" / "library.json").read_text())
    assert learner["build"]["srcFilter"] == ["-<*>", "+<learner.c>", "+<link.c>"]


def test_arduino_library_is_self_contained_and_compiles(tmp_path):
    """`python -m targets arduino-lib` writes library.properties and src/ with every
    runtime source; the folder compiles on its own (nothing outside it is needed)."""
    need("gcc")
    from targets.arduino_lib import make_arduino_library

    lib = make_arduino_library(tmp_path)
    props = dict(line.split("=", 1) for line in (lib / "library.properties").read_text().splitlines()
                 if line and not line.startswith("#"))
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                "architectures", "includes"):
        assert props.get(key), key
    assert props["version"] == json.loads((ROOT / "library.json").read_text())["version"]
    assert set(runtime_sources()) <= {"runtime_c/src/" + p.name for p in (lib / "src").glob("*.c")}
    assert (lib / "src" / props["includes"]).is_file()
    main = tmp_path / "main.c"
    main.write_text('#include "mbnn.h"\nint main(void) { return mbnn_crc32(0, "123456789", 9) != 0xCBF43926u; }\n')
    exe = tmp_path / "arduino_lib"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-I", lib / "src", main,
                    *sorted((lib / "src").glob("*.c")), "-o", exe], check=True)
    assert subprocess.run([exe]).returncode == 0


def test_esp_idf_component_and_cmake():
    text = (ROOT / "idf_component.yml").read_text()
    assert re.search(r'^version: "\d+\.\d+\.\d+"', text, re.M) and "idf:" in text
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert "idf_component_register(SRCS ${MBNN_SOURCES} INCLUDE_DIRS runtime_c/include)" in cmake
    assert "file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/runtime_c/sources.txt MBNN_SOURCES)" in cmake
    assert "runtime_c/sources.txt" in text  # the component ships the list CMakeLists.txt reads


def test_every_build_reads_the_one_source_list():
    """make, the cffi build and PlatformIO's srcFilter name exactly runtime_c/sources.txt."""
    from pyruntime import _build

    make = subprocess.run(["make", "-s", "-C", ROOT / "runtime_c", "-p", "-n", "golden"], capture_output=True,
                          text=True).stdout
    srcs = re.search(r"^MBNN_SRCS := (.*)$", make, re.M).group(1).split()
    assert sorted("runtime_c/" + p.removeprefix("./") for p in srcs) == runtime_sources()
    assert sorted(str(Path(p).relative_to(ROOT)) for p in _build.c_sources()) == runtime_sources()
    lib = json.loads((ROOT / "library.json").read_text())
    named = [f"runtime_c/src/{p[2:-1]}" for p in lib["build"]["srcFilter"] if p.startswith("+<")]
    assert sorted(named) == runtime_sources()


def test_cmake_builds_the_runtime(tmp_path):
    optional("cmake")
    need("gcc", "make")
    subprocess.run(["cmake", "-S", ROOT, "-B", tmp_path], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", tmp_path], check=True, capture_output=True)
    assert (tmp_path / "libmetabnn.a").exists()


def test_platformio_ini_envs():
    ini = configparser.ConfigParser()
    ini.read(ESP32 / "platformio.ini")
    envs = {s.split(":", 1)[1]: dict(ini[s]) for s in ini.sections() if s.startswith("env:")}
    assert envs["esp32dev"]["framework"] == "arduino" and envs["esp32dev"]["board"] == "esp32dev"
    assert envs["esp32dev-idf"]["framework"] == "espidf" and envs["esp32dev-idf"]["board"] == "esp32dev"
    assert envs["esp32-c3"]["board"].startswith("esp32-c3")
    assert envs["nucleo_f401re"]["platform"] == "ststm32"
    for name, env in envs.items():
        for src in re.findall(r"\+<([^>]+)>", env["build_src_filter"]):
            assert (ESP32 / "src" / src).is_file(), (name, src)
    for dep in ini["env"]["lib_deps"].split():
        assert (ESP32 / dep.removeprefix("symlink://") / "library.json").is_file(), dep


def test_pio_project_config_offline():
    """`pio project config` parses the project without downloading anything."""
    pytest.importorskip("platformio", reason="PlatformIO is the optional extra: pip install -e .[pio]")
    done = subprocess.run([sys.executable, "-m", "platformio", "project", "config", "--json-output"], cwd=ESP32,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    config = dict(json.loads(done.stdout))
    assert {"env:esp32dev", "env:esp32dev-idf", "env:esp32-c3", "env:nucleo_f401re"} <= set(config)


def test_platformio_library_manifests_parse():
    """PlatformIO's own manifest parser and schema accept library.json (SPDX list stubbed: offline)."""
    pytest.importorskip("platformio", reason="PlatformIO is the optional extra: pip install -e .[pio]")
    from platformio.package.manifest import schema
    from platformio.package.manifest.parser import ManifestParserFactory

    orig = schema.ManifestSchema.load_spdx_licenses
    schema.ManifestSchema.load_spdx_licenses = staticmethod(
        lambda: {"licenses": [{"licenseId": "MIT"}], "exceptions": []})
    try:
        for path in (ROOT / "library.json", ROOT / "targets/arduino/library.properties", ROOT / "targets/common/library.json"):
            data = ManifestParserFactory.new_from_file(str(path)).as_dict()
            assert schema.ManifestSchema().load_manifest(data)["name"].startswith("metabnn")
    finally:
        schema.ManifestSchema.load_spdx_licenses = orig


def _compile(cmd: list, tmp_path: Path) -> None:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_esp_idf_main_compiles_against_stand_ins(tmp_path):
    need("gcc")
    inc = ["-I", ROOT / "runtime_c/include", "-I", ROOT / "targets/common", "-I", ESP32 / "include",
           "-I", ESP32 / "stubs"]
    _compile(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *inc, "-c", ESP32 / "src/main_idf.c",
              "-o", tmp_path / "idf.o"], tmp_path)


def test_arduino_sketch_on_the_host_writes_the_host_log(tmp_path):
    """The Arduino sketch, its Serial on stdin/stdout, writes the log pyruntime writes."""
    need("gcc", "g++")
    model = tmp_path / "model.h"
    from export.header import make_header

    blob = random_blob("bits", seed=5)
    model.write_text(make_header(blob, "model_mbnn"))
    # The shipped config with this model (the shipped one includes the demo model beside it).
    config = (ESP32 / "include" / "learner_config.h").read_text()
    (tmp_path / "learner_config.h").write_text(config)
    inc = ["-I", tmp_path, "-I", ROOT / "runtime_c/include", "-I", ROOT / "targets/common",
           "-I", ESP32 / "include", "-I", ESP32 / "stubs"]
    objs = []
    for src in [ROOT / "targets/common/learner.c", *(ROOT / s for s in runtime_sources())]:
        obj = tmp_path / (src.stem + ".o")
        _compile(["gcc", "-std=c99", "-O1", *inc, "-c", src, "-o", obj], tmp_path)
        objs.append(obj)
    exe = tmp_path / "sketch"
    _compile(["g++", "-O1", "-Wall", "-Wextra", *inc, ESP32 / "src/main_arduino.cpp", ESP32 / "stubs/host_main.cpp",
              *objs, "-o", exe], tmp_path)
    spec = read_blob(blob)
    stream = random_stream(spec.n_inputs, spec.n_classes, n=300, seed=9)
    out = subprocess.run([exe], input=stream.to_bytes(), capture_output=True, timeout=60).stdout.decode()
    want, _ = host_log(blob, stream)
    assert out == "metabnn stream learner ready\n" + want + "done 0\n"


def test_shipped_demo_model_header_is_valid():
    text = (ESP32 / "include" / "model.h").read_text()
    data = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", text.split("= {", 1)[1]))
    assert read_blob(data).n_inputs <= 1024  # LEARNER_N_INPUTS of learner_config.h
    assert "#define METABNN_MODEL " in text and "#define METABNN_ARENA_LEARN " in text


def test_stdio_learner_on_the_host(tmp_path):
    """targets/common/learner_stdio.c (ESP-IDF's main) built natively gives the host log too."""
    need("gcc")
    from export.header import make_header

    from targets.firmware import arena_size, state_size

    blob = random_blob("int8", seed=11)
    spec = read_blob(blob)
    (tmp_path / "model.h").write_text(make_header(blob, "model_mbnn"))
    (tmp_path / "config.h").write_text(
        '#include "model.h"\n#define LEARNER_BLOB model_mbnn\n#define LEARNER_BLOB_LEN MODEL_MBNN_LEN\n'
        f"#define LEARNER_ARENA_BYTES {arena_size(blob)}u\n#define LEARNER_STATE_BYTES {state_size(blob)}u\n"
        f"#define LEARNER_N_INPUTS {spec.n_inputs}u\n")
    exe = tmp_path / "learner"
    _compile(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-I", tmp_path, "-I", ROOT / "runtime_c/include",
              "-I", ROOT / "targets/common", '-DLEARNER_CONFIG="config.h"', ROOT / "targets/common/learner_stdio.c",
              ROOT / "targets/common/learner.c", *(ROOT / s for s in runtime_sources()), "-o", exe], tmp_path)
    stream = random_stream(spec.n_inputs, spec.n_classes, n=200, seed=12)
    done = subprocess.run([exe, tmp_path / "state.bin"], input=stream.to_bytes(), capture_output=True, timeout=60)
    want, state = host_log(blob, stream)
    assert done.returncode == 0 and done.stdout.decode() == want
    assert (tmp_path / "state.bin").read_bytes() == state
