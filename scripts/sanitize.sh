#!/usr/bin/env bash
# An AddressSanitizer + UndefinedBehaviorSanitizer build of the CLI and the tests (GUI and CUDA off)
# in ./build-asan, then the whole non-GPU suite (GPU tests skip) and the fuzz driver under them.
#   scripts/sanitize.sh [ctest args...]      e.g. scripts/sanitize.sh -R formats
# Any sanitizer report aborts the process, so it fails the test that triggered it. Slow (about 3x
# the normal suite); not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O1 without NDEBUG: library assertions (nlohmann::json's, libstdc++'s bounds checks) stay on.
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" "${launcher[@]}" \
  -DADAPTIS_GUI=OFF -DADAPTIS_CUDA=OFF -DADAPTIS_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DADAPTIS_FUZZ_TIMEOUT_MS=10000 -DADAPTIS_FUZZ_TEST_TIMEOUT=1200
cmake --build build-asan -j"$(nproc)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd build-asan
ctest --output-on-failure -j"$(nproc)" --timeout 1800 "$@"
