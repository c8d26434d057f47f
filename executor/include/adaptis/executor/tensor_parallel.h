#pragma once
// Tensor parallelism on the CPU executor: a pipeline stage whose attention and MLP blocks are split
// over `tp` rank threads the way Megatron-LM splits them, checked against the single-device run.
//
// Each rank holds its shard of the block's weights: the query/key/value projections and the MLP's
// gate and up projections by output rows (column-parallel: rank k has heads k*h/tp .. and FFN
// columns k*f/tp ..), the attention output and MLP down projections by input columns
// (row-parallel). Each rank runs the block on its shard (its own GEMMs, on its own thread) and the
// blocks' outputs are summed over the ranks in rank order (the all-reduce); in B the same for the
// input gradients. Each rank's block also adds the residual and runs the (replicated) pre-norm, so
// the all-reduce takes the tp - 1 extra copies of the residual back out: y = sum_k y_k - (tp-1) x,
// dx = sum_k dx_k - (tp-1) dy (exact in real arithmetic: the norm's backward is linear in its output
// gradient). Embedding, LM head, MoE and Mamba blocks run whole on the stage's thread.
//
// Weight gradients of split tensors are computed per shard with the single-device loops, so they are
// bitwise the single-device ones given the same upstream gradients; what differs is the rounding of
// the all-reduced sums (partial products added in another order). Tolerance, measured in
// tests/executor/test_tensor_parallel.cpp: losses within 1e-5 relative, gradients and parameters
// after AdamW steps within 1e-4 of the largest magnitude (fp32).
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "adaptis/executor/net_config.h"
#include "adaptis/executor/runtime.h"

namespace adaptis::exec {

// `ranks` threads in lock-step: run(fn) calls fn(k) for every rank k (rank 0 on the calling thread)
// and returns when all are done; the first exception is rethrown.
class TensorParallelGroup {
 public:
  explicit TensorParallelGroup(int ranks);
  ~TensorParallelGroup();
  TensorParallelGroup(const TensorParallelGroup&) = delete;
  TensorParallelGroup& operator=(const TensorParallelGroup&) = delete;
  int size() const { return ranks_; }
  void run(const std::function<void(int)>& fn);

 private:
  void worker(int rank);
  int ranks_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;
  std::vector<std::thread> threads_;
};

// InputError when cfg's attention heads, key/value heads or MLP width is not divisible by tp.
void check_tensor_parallel(const NetConfig& cfg, int tp);

// A stage over layers [first_layer, last_layer) with its attention and MLP blocks split tp ways.
// Parameters, tensor names and the AdamW step are the single-device stage's (StageCompute::create).
std::unique_ptr<StageCompute> make_tensor_parallel_stage(const NetConfig& cfg, int first_layer, int last_layer,
                                                         int num_microbatches, int tp);
// For the pipeline runtime: every stage tensor-parallel (pipeline x tensor parallelism on CPU threads).
StageFactory tensor_parallel_stage_factory(const NetConfig& cfg, int tp);

class RunBackend;
// `adaptis run --tensor-parallel T`: the pipeline runtime with tensor-parallel stages.
std::unique_ptr<RunBackend> make_tensor_parallel_run_backend(const Program& program, const NetConfig& cfg, int tp,
                                                             const RuntimeOptions& options);

}  // namespace adaptis::exec
