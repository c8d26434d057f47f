#!/usr/bin/env bash
# A longer run of the deterministic mutation fuzzer over every input parser (tests/fuzz/).
#   scripts/fuzz.sh [SECONDS] [SEED]       defaults: 600 seconds, seed 1
# Builds ./build if needed; failures are saved under build/fuzz-findings with the command that
# replays each. Extra options go to the driver through FUZZ_ARGS (e.g. FUZZ_ARGS="--target model").
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
seed="${2:-1}"
if [[ ! -x build/tests/fuzz_inputs ]]; then
  bash scripts/build.sh -DADAPTIS_GUI=OFF -DADAPTIS_CUDA=OFF
fi
# shellcheck disable=SC2086
exec build/tests/fuzz_inputs --seconds "$seconds" --seed "$seed" --out build/fuzz-findings ${FUZZ_ARGS:-}
