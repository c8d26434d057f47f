#!/usr/bin/env bash
# The test command: install dependencies, build everything, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Warnings are errors here (CI runs this command): a warning-free build stays warning-free.
bash scripts/build.sh -DADAPTIS_WERROR=ON
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
