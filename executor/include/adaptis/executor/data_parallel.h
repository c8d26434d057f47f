#pragma once
// Data parallelism on the CPU executor: d pipeline replicas, each a PipelineRuntime (one thread per
// pipeline device) running the same Program on its own 1/d of the global batch, then a gradient
// all-reduce and the optimizer step.
//
// Bitwise equal to the single-device run over the same global batch of d*m micro-batches: replica r
// runs global micro-batches [r*m, (r+1)*m) with layers sized for the whole batch (the loss is the
// mean over all d*m micro-batches), and the all-reduce sums in a fixed order that is the
// single-device run's: replica 0 adds its micro-batches' gradients in micro-batch order onto zero,
// replica 1 continues from replica 0's sum, and so on (a chained reduce), then the total is
// broadcast to every replica. Float addition is not associative, so any other order (a ring,
// a tree, replica sums added at the end) would differ in the last bits.
//
// ZeRO-1 (DataParallelOptions::zero1): replica r holds the AdamW moments of only its 1/d slice of
// each stage's parameters, steps that slice, and the updated slices are all-gathered into every
// replica. AdamW is elementwise, so this is bitwise the unsharded step; the optimizer state per
// replica is 1/d of it.
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "adaptis/executor/net_config.h"
#include "adaptis/executor/runtime.h"

namespace adaptis::exec {

struct DataParallelOptions {
  int replicas = 2;
  bool zero1 = false;
  AdamW optimizer;
  bool optimizer_step = true;
  double watchdog_ms = 10000;
};

struct DataParallelStep {
  int step = 0;
  double loss = 0;                // mean over the global batch, micro-batch losses summed in global order
  std::vector<double> mb_losses;  // in global micro-batch order
  std::vector<StepResult> replicas;
  int64_t reduce_ns = 0;          // the gradient all-reduce
  int64_t optimizer_ns = 0;       // optimizer step (+ ZeRO-1 all-gather)
};

class DataParallelRuntime {
 public:
  // `program`: one replica's pipeline over program.num_microbatches = m micro-batches; `cfg` the real
  // model its stages run. Starts replicas x devices threads. Throws InputError on bad options.
  DataParallelRuntime(const Program& program, const NetConfig& cfg, DataParallelOptions options);
  ~DataParallelRuntime();
  DataParallelRuntime(const DataParallelRuntime&) = delete;
  DataParallelRuntime& operator=(const DataParallelRuntime&) = delete;

  // One iteration over global micro-batches 0 .. d*m-1; `data(step, global_mb)`. The replicas run
  // concurrently; the first failure is rethrown (ExecutionError) after every replica stopped.
  DataParallelStep run_step(int step, const DataSource& data);

  int replicas() const { return static_cast<int>(replicas_.size()); }
  int microbatches_per_replica() const { return m_; }
  // Gradients (after run_step) and parameters of replica r, in stage order, each tensor named.
  std::vector<NamedTensor> grads(int r = 0) const;
  std::vector<NamedTensor> params(int r = 0) const;
  // Bytes of AdamW moments replica r holds (with ZeRO-1 about 1/d of the unsharded optimizer's).
  size_t optimizer_state_bytes(int r) const;

 private:
  struct Replica;
  void reduce_gradients();
  void optimizer_step(int step);

  Program program_;
  NetConfig cfg_;
  DataParallelOptions opt_;
  int m_ = 0;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

class RunBackend;
// `adaptis run --data-parallel N [--zero1]`: the replicas as one RunBackend. Its steps are replica 0's
// timelines with the global batch's loss (mb_losses in global order); its tensors are replica 0's.
std::unique_ptr<RunBackend> make_data_parallel_run_backend(const Program& program, const NetConfig& cfg,
                                                           const DataParallelOptions& options);

}  // namespace adaptis::exec
