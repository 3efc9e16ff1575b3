"""MBNN_MAX_LAYERS and MBNN_MAX_WIDTH set at compile time: a runtime built with
lower limits refuses blobs beyond them with the status of the field, takes the
others, and a limit above the format's does not compile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from targets_util import need

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime_c"
DATA = RUNTIME / "tests" / "data"

MAIN = r"""
#include <stdio.h>
#include "mbnn.h"
static uint32_t blob[8192], arena[65536];
int main(int argc, char **argv)
{
    mbnn_model m;
    FILE *f = fopen(argv[1], "rb");
    size_t n = fread(blob, 1, sizeof blob, f);
    (void)argc;
    fclose(f);
    printf("%d\n", (int)mbnn_model_init(&m, blob, n, arena, sizeof arena));
    return 0;
}
"""


def build(tmp: Path, *defines: str) -> subprocess.CompletedProcess:
    (tmp / "main.c").write_text(MAIN)
    sources = [RUNTIME / line for line in (RUNTIME / "sources.txt").read_text().split()]
    return subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *defines, "-I", RUNTIME / "include",
                           tmp / "main.c", *sources, "-o", tmp / "main"], capture_output=True, text=True)


def status(tmp: Path, blob: str) -> int:
    return int(subprocess.run([tmp / "main", DATA / blob], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize(("define", "refused", "taken", "want"), [
    ("-DMBNN_MAX_LAYERS=2", "deep.mbnn", "bits.mbnn", "MBNN_ERR_BAD_HEADER"),  # deep has 4 layers
    ("-DMBNN_MAX_WIDTH=64", "deep.mbnn", "extreme.mbnn", "MBNN_ERR_BAD_LAYER"),  # deep is 96 wide
])
def test_lower_limits_refuse_what_is_beyond_them(tmp_path: Path, define: str, refused: str, taken: str,
                                                 want: str) -> None:
    need("gcc")
    from pyruntime.errors import status_value

    done = build(tmp_path, define)
    assert done.returncode == 0, done.stderr
    assert status(tmp_path, refused) == status_value(want)
    assert status(tmp_path, taken) == 0


@pytest.mark.parametrize("define", ["-DMBNN_MAX_LAYERS=9", "-DMBNN_MAX_WIDTH=8193", "-DMBNN_MAX_LAYERS=0"])
def test_limits_beyond_the_format_do_not_compile(tmp_path: Path, define: str) -> None:
    need("gcc")
    done = build(tmp_path, define)
    assert done.returncode != 0 and "must be 1 .." in done.stderr
