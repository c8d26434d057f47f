#!/usr/bin/env bash
# The test command: install dependencies, build everything, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The interop tests' Python environment (PyTorch, megatron-core): cached between runs; when it
# cannot be installed, those tests skip and say why.
bash scripts/interop-venv.sh >/dev/null || echo "interop venv unavailable: the interop tests will skip"
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
