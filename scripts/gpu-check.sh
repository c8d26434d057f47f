#!/usr/bin/env bash
# The GPU checks a session with a GPU machine runs (the device tool's `run`, see /work/.library/device/).
#
#   Here (no GPU), once:   scripts/gpu-check.sh pack
#       copies the headers, libraries and CMake configs adaptis builds against (nlohmann_json, CLI11,
#       GoogleTest, SQLite3, ncurses) from this machine into .gpu-deps/ (ignored by git), since the GPU
#       machine's image has CUDA and CMake but may lack them.
#   On the GPU machine:    scripts/gpu-check.sh check        (run with carry: [".gpu-deps"])
#       configures with CUDA on and the GUI off, builds the GPU tests, bench_gpu and the CLI, runs every GPU
#       test (they must pass there, not skip), bench_gpu, and a CLI smoke run. Everything is logged under
#       ./gpu-check-out; $OUT (when set, e.g. by the device tool, which returns at most 8 files) gets three:
#       summary.txt, bench_gpu.json and logs.tgz. The exit status is non-zero when any step failed.
#
# Device call, e.g.:  run(command="scripts/gpu-check.sh check", carry=[".gpu-deps"], timeout_s=600)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
deps=$root/.gpu-deps
mode=${1:-check}

# Keeps a path out of git (the device tool carries ignored paths only when named in `carry`).
ignore_path() {
  local exclude
  exclude=$(git rev-parse --git-path info/exclude 2>/dev/null) || return 0
  mkdir -p "$(dirname "$exclude")"
  grep -qx "$1" "$exclude" 2>/dev/null || echo "$1" >>"$exclude"
}

pack() {
  set -e
  ignore_path '/.gpu-deps/'
  rm -rf "$deps"
  mkdir -p "$deps/usr/include" "$deps/usr/lib/x86_64-linux-gnu/cmake" "$deps/usr/share/cmake"
  local inc=/usr/include lib=/usr/lib/x86_64-linux-gnu
  cp -a $inc/nlohmann $inc/CLI $inc/gtest $inc/gmock "$deps/usr/include/"
  cp -a $inc/sqlite3.h $inc/sqlite3ext.h $inc/curses.h $inc/ncurses.h $inc/ncurses_dll.h $inc/term.h \
        $inc/termcap.h $inc/unctrl.h $inc/eti.h $inc/form.h $inc/menu.h $inc/panel.h "$deps/usr/include/" 2>/dev/null || true
  cp -a $lib/libgtest*.a $lib/libgmock*.a $lib/libsqlite3.so* \
        $lib/libncurses.so* $lib/libncursesw.so* $lib/libtinfo.so* "$deps/usr/lib/x86_64-linux-gnu/"
  cp -a $lib/cmake/GTest "$deps/usr/lib/x86_64-linux-gnu/cmake/"
  cp -a /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json "$deps/usr/share/cmake/"
  du -sh "$deps"
  echo "packed; on the GPU machine run: scripts/gpu-check.sh check (carry .gpu-deps)"
}

check() {
  local out=$root/gpu-check-out
  rm -rf "$out"
  mkdir -p "$out"
  ignore_path '/gpu-check-out/'
  local failed=0
  step() {  # step NAME COMMAND...: runs, logs to $out/NAME.log, remembers a failure
    local name=$1
    shift
    echo "=== $name: $*"
    if "$@" >"$out/$name.log" 2>&1; then
      echo "    ok"
    else
      echo "    FAILED (exit $?); last lines:"
      tail -n 30 "$out/$name.log"
      failed=1
    fi
  }
  export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
  export PATH=$CUDA_HOME/bin:$PATH
  # Carried libraries first; NCCL may live outside the toolkit (e.g. a Python wheel's nvidia/nccl/lib).
  local nccl_dir
  nccl_dir=$(dirname "$(find / -name 'libnccl.so.2' -not -path '/proc/*' 2>/dev/null | head -n 1)" 2>/dev/null || true)
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:$CUDA_HOME/lib64:${nccl_dir:+$nccl_dir:}${LD_LIBRARY_PATH:-}
  nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
  nvcc --version >>"$out/nvidia-smi.txt" 2>&1 || true
  local prefix=""
  [ -d "$deps" ] && prefix="-DCMAKE_PREFIX_PATH=$deps/usr;$deps/usr/lib/x86_64-linux-gnu/cmake;$deps/usr/share/cmake"
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  local nccl_hint=()
  [ -n "$nccl_dir" ] && [ ! -e "$CUDA_HOME/include/nccl.h" ] &&
    nccl_hint=(-DADAPTIS_NCCL_LIBRARY="$nccl_dir/libnccl.so.2" -DADAPTIS_NCCL_INCLUDE_DIR="$nccl_dir/../include")
  step configure cmake -S . -B build-gpu-check "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DADAPTIS_GUI=OFF \
    -DADAPTIS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 ${prefix:+"$prefix"} "${nccl_hint[@]}"
  local tests=(executor_test_gpu_availability executor_test_gpu_comm_order executor_test_gpu_layers
               executor_test_gpu_runtime profiler_test_profile_store profiler_test_gpu_profiler)
  step build cmake --build build-gpu-check -j"$(nproc)" --target adaptis bench_gpu "${tests[@]}"
  for t in "${tests[@]}"; do
    # On the GPU machine a skipped GPU test is a failure to investigate: print the skips loudly.
    step "$t" ./build-gpu-check/tests/"$t" --gtest_output=json:"$out/$t.json"
    grep -h "SKIPPED" "$out/$t.log" || true
  done
  step bench_gpu sh -c "./build-gpu-check/bin/bench_gpu > '$out/bench_gpu.json'"
  local model=samples/models/tiny-llama.json
  step cli_profile ./build-gpu-check/bin/adaptis profile --backend cuda --fallback none --model $model --out "$out/tiny-llama-gpu-costs.json" \
    --profile-db "$out/profiles.db"
  step cli_run ./build-gpu-check/bin/adaptis run --backend cuda --model $model --virtual-devices 4 --schedule 1f1b \
    --microbatches 8 --steps 3 --db "$out/runs.db"
  step cli_run_green ./build-gpu-check/bin/adaptis run --backend cuda --green-contexts --model $model --devices 4 \
    --schedule zb-h1 --microbatches 8 --steps 3 --db "$out/runs.db"
  echo "logs in $out"
  if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    { echo "gpu-check: $([ $failed = 0 ] && echo PASSED || echo FAILED)"; cat "$out/nvidia-smi.txt";
      for f in "$out"/*.log; do echo "===== $(basename "$f")"; tail -n 60 "$f"; done; } >"$OUT/summary.txt"
    cp "$out/bench_gpu.json" "$OUT/" 2>/dev/null || true
    tar czf "$OUT/logs.tgz" -C "$root" gpu-check-out
  fi
  return $failed
}

case $mode in
  pack) pack ;;
  check) check ;;
  *) echo "usage: $0 pack|check" >&2; exit 2 ;;
esac
