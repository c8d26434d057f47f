#!/usr/bin/env bash
# Creates or reuses the cached Python environment of the interop tests (tests/interop): PyTorch
# (CPU is enough) and megatron-core from PyPI, pinned in tests/interop/requirements.txt.
#   ${ADAPTIS_VENV:-$HOME/.cache/adaptis/venv}   where it lives (kept between runs: ~5 GB)
# Prints the environment's python on the last line. Exits 0 when the packages import; otherwise
# exits 1 with the reason (the interop tests then skip with that reason, see check-interop.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="${ADAPTIS_VENV:-$HOME/.cache/adaptis/venv}"
REQ="tests/interop/requirements.txt"
STAMP="$VENV/.adaptis-requirements"
PY="$VENV/bin/python"

ready() {
  [ -x "$PY" ] && cmp -s "$REQ" "$STAMP" 2>/dev/null &&
    "$PY" -c "import torch, torch.distributed.pipelining, megatron.core, numpy" >/dev/null 2>&1
}

if ready; then
  echo "interop venv ready: $VENV" >&2
  echo "$PY"
  exit 0
fi
if [ ! -x "$PY" ]; then
  if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    echo "interop venv: python3's venv module is missing (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "interop venv: creating $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" || { echo "interop venv: python3 -m venv $VENV failed" >&2; exit 1; }
fi
echo "interop venv: installing $REQ into $VENV (PyTorch with its dependencies is ~5 GB; a few minutes)" >&2
if ! "$PY" -m pip install --disable-pip-version-check -q -r "$REQ" >&2; then
  echo "interop venv: pip could not install $REQ (no network to PyPI?)" >&2
  exit 1
fi
# Python < 3.11 has no tomllib; the tests then use tomli.
"$PY" -c "import tomllib" >/dev/null 2>&1 || "$PY" -m pip install -q tomli >&2 || true
if ! "$PY" -c "import torch, torch.distributed.pipelining, megatron.core, numpy" >&2; then
  echo "interop venv: the packages installed but do not import" >&2
  exit 1
fi
cp "$REQ" "$STAMP"
echo "interop venv ready: $VENV" >&2
echo "$PY"
