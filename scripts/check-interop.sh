#!/usr/bin/env bash
# Runs the interop proof (tests/interop/run_interop.py): exported plans in PyTorch's pipelining
# runtime (gloo, one process per rank, CPU), torchtitan configs, PyTorch's own CSV dumps, and
# Megatron exports in megatron-core. Needs a built adaptis (default build/bin/adaptis).
#   scripts/check-interop.sh [--build-dir DIR] [--quick] [--work DIR]
# Exit: 0 all passed, 1 a check failed, 77 skipped because the Python packages cannot be installed
# (the reason is printed).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=build
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$2"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
BIN="$BUILD/bin/adaptis"
[ -x "$BIN" ] || { echo "check-interop: $BIN not found; build first (scripts/build.sh)" >&2; exit 1; }
if ! PY=$(bash scripts/interop-venv.sh | tail -n 1) || [ ! -x "$PY" ]; then
  echo "SKIP interop tests: the PyTorch / megatron-core environment is not available (see the reason above)" >&2
  exit 77
fi
SHARED=""
[ -d ../shared/peer-profiles ] && SHARED="$(cd ../shared && pwd)"
exec "$PY" tests/interop/run_interop.py --adaptis "$BIN" --source . ${SHARED:+--shared "$SHARED"} "${ARGS[@]}"
