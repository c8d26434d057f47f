#!/usr/bin/env bash
# The main job on a bundled sample: install, build, compare every schedule against the optimizer on a
# heterogeneous model, print the tables and a terminal Gantt, and open the GUI when a display is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
bin=build/bin/adaptis
model=${ADAPTIS_SAMPLE_MODEL:-samples/models/nemotron-h-8b.json}
cluster=${ADAPTIS_SAMPLE_CLUSTER:-samples/clusters/h100x8.json}
inputs=(--model "$model" --cluster "$cluster")
if [ ! -f "$model" ]; then
  # Fallback: the AdaPtis authors' profile, when the model samples are absent.
  inputs=(--costs ../shared/peer-profiles/nemotron-nano-v2-9B.json --devices 4 --comm-latency-ms 0)
fi
echo "== every built-in schedule on $model =="
"$bin" compare "${inputs[@]}" --gantt
if "$bin" optimize --help >/dev/null 2>&1; then
  echo
  echo "== adaptis optimizer =="
  "$bin" optimize "${inputs[@]}" --time-limit-s 5 --out build/optimized-plan.json --gantt
fi
if [ -f "$model" ]; then
  # The question users really ask: the fastest whole-node configuration (pipeline x tensor x data x
  # ZeRO x recomputation x micro-batching) for a global batch, with its pipeline plan.
  echo
  echo "== whole-node plans for a 1M-token global batch =="
  "$bin" plan --model "$model" --cluster "$cluster" --gpus 8 --global-batch-tokens 1048576 --top 5
fi
if [ -n "${DISPLAY:-}" ] && "$bin" gui --help >/dev/null 2>&1; then
  "$bin" gui "${inputs[@]}" --plan build/optimized-plan.json || true
fi
