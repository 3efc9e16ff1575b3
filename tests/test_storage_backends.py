"""The flash backends of the ESP32 firmware (targets/esp32/src, docs/STORAGE.md)
built on the host against stand-ins: the ESP-IDF partition backend over a fake
partition with NOR rules, and the Arduino sketch with its Preferences backend,
which must resume from the state it saved, as the host replay says."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from targets_util import need

from export.blob import read_blob
from targets.hostlog import host_log
from targets.models import random_blob, random_stream

ROOT = Path(__file__).resolve().parent.parent
ESP32 = ROOT / "targets" / "esp32"
RUNTIME = sorted((ROOT / "runtime_c" / "src").glob("mbnn_*.c"))
SAVED = re.compile(r"^saved seq (\d+) step (\d+)$", re.M)


def _run(cmd: list, cwd: Path, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, cwd=cwd, **kw)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done


# The stand-in ESP-IDF partition (targets/esp32/stubs/esp_partition.h: RAM with
# the NOR rules), and a test of the store through flash_idf.c: save, load into a
# fresh model, compare.
FAKE_IDF = r"""
#include <stdio.h>
#include <string.h>
#include "esp_partition.h"
#include "flash_store.h"
#include "mbnn.h"
#include "model.h"

static unsigned arena_a[1 << 14], arena_b[1 << 14];
int main(void)
{
    mbnn_model a, b;
    mbnn_store_info info;
    unsigned char page[FLASH_STORE_PAGE_BYTES];
    int8_t x[512] = {0};
    size_t need = 0;
    const struct mbnn_flash *flash = flash_store_open();
    if (mbnn_arena_size(test_model, TEST_MODEL_LEN, MBNN_MODE_LEARN, &need) || need > sizeof arena_a) return 10;
    if (mbnn_model_init(&a, test_model, TEST_MODEL_LEN, arena_a, need)) return 11;
    if (mbnn_model_init(&b, test_model, TEST_MODEL_LEN, arena_b, need)) return 12;
    if (mbnn_store_load(&b, flash, page, sizeof page, &info) != MBNN_ERR_STORE_EMPTY) return 13;
    for (unsigned i = 0; i < 30; i++) {
        x[i % a.n_inputs] = (int8_t)(i * 37);
        mbnn_learn(&a, x, (uint16_t)(i % a.n_classes), NULL, NULL);
        if (i % 10 == 9 && mbnn_store_save(&a, flash, page, sizeof page, &info)) return 14;
    }
    if (mbnn_store_load(&b, flash, page, sizeof page, &info) || info.seq != 3 || b.step != 30) return 15;
    mbnn_state_stream sa, sb;
    mbnn_state_save_begin(&a, &sa);
    mbnn_state_save_begin(&b, &sb);
    printf("ok seq %u step %u slots %u\n", (unsigned)info.seq, (unsigned)info.step, (unsigned)info.slots);
    return sa.crc == sb.crc ? 0 : 16;
}
"""


def test_esp_idf_partition_backend_keeps_the_state(tmp_path: Path) -> None:
    need("gcc")
    from export.header import make_header

    (tmp_path / "model.h").write_text(make_header(random_blob("int8", seed=3), "test_model"))
    (tmp_path / "main.c").write_text(FAKE_IDF)
    exe = tmp_path / "idf"
    _run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-I", tmp_path, "-I", ESP32 / "src",
          "-I", ESP32 / "stubs", "-I", ROOT / "runtime_c/include", tmp_path / "main.c", ESP32 / "src/flash_idf.c",
          *RUNTIME, "-o", exe], tmp_path)
    assert _run([exe], tmp_path).stdout.decode().startswith("ok seq 3 step 30 slots ")


# The sketch twice in one process (Preferences live in memory): a power cycle
# between two streams.
TWICE = """
void setup();
void loop();
int main() { setup(); loop(); loop(); return 0; }
"""


def test_arduino_preferences_backend_resumes(tmp_path: Path) -> None:
    need("gcc", "g++")
    from export.header import make_header

    blob = random_blob("bits", seed=5)
    spec = read_blob(blob)
    (tmp_path / "model.h").write_text(make_header(blob, "model"))
    (tmp_path / "learner_config.h").write_text((ESP32 / "include" / "learner_config.h").read_text())
    (tmp_path / "twice.cpp").write_text(TWICE)
    inc = ["-I", tmp_path, "-I", ROOT / "runtime_c/include", "-I", ROOT / "targets/common",
           "-I", ESP32 / "src", "-I", ESP32 / "stubs"]
    objs = []
    for src in [ROOT / "targets/common/learner.c", *RUNTIME]:
        objs.append(tmp_path / (src.stem + ".o"))
        _run(["gcc", "-std=c99", "-O1", *inc, "-c", src, "-o", objs[-1]], tmp_path)
    exe = tmp_path / "sketch"
    _run(["g++", "-O1", "-Wall", "-Wextra", "-Werror", "-DLEARNER_FLASH_PREFERENCES", "-DLEARNER_SAVE_EVERY=40u",
          *inc, ESP32 / "src/main_arduino.cpp", ESP32 / "src/flash_preferences.cpp", tmp_path / "twice.cpp",
          *objs, "-o", exe], tmp_path)
    stream = random_stream(spec.n_inputs, spec.n_classes, n=300, seed=9)
    out = _run([exe], tmp_path, input=stream.to_bytes() * 2, timeout=60).stdout.decode()
    first, second = out.split("done 0\n")[:2]
    want, _ = host_log(blob, stream, save_every=40, boot="flash region erased: no state was ever saved there")
    assert first == "metabnn stream learner ready\n" + want
    seq, step = map(int, SAVED.findall(first)[-1])
    want, _ = host_log(blob, stream, save_every=40, boot=(seq, step))
    assert second == want
    assert f"boot resume seq {seq} step {step}\n" in second
