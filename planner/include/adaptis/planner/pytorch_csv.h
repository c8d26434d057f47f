#pragma once
// PyTorch pipelining schedule CSV (torch.distributed.pipelining, `_dump_csv` / `_load_csv`, and
// torchtitan's `pipeline_parallel_schedule_csv`), both ways.
//
// One row per rank, one action per cell, empty cell = idle. Cells are "<stage><type><mb>":
// types F (forward), I (input-gradient backward), W (weight-gradient backward), B (full
// backward), and in the compute_comms format also SEND_F/RECV_F/SEND_B/RECV_B,
// WAIT_SEND_F/WAIT_SEND_B (+ UNSHARD, RESHARD, REDUCE_GRAD, WAIT_REDUCE_GRAD without a
// micro-batch). "(a;b)OVERLAP_F_B" runs two actions overlapped.
//
// Writing first makes the plan runnable by PyTorch (torch_rules.h): micro-batches are relabelled
// so the last stage's forwards run 0, 1, 2, ... (same simulated time), and a plan that still
// breaks one of PyTorch's rules is refused with the rule named. The compute_comms format is the
// schedule PyTorch's own lowering produces from our compute_only rows (UNSHARD/RESHARD,
// REDUCE_GRAD, SEND/RECV and WAIT_SEND placed by the same rules), so loading either file gives
// the runtime the same program.
//
// Naming: ours F / B / W / BW  <->  PyTorch F / I / W / B.
//
// What the CSV cannot carry: memory policies. PyTorch's schedule IR has no recompute action (R) and
// no offload: recomputation there is a per-stage module wrapper (torch.utils.checkpoint around the
// stage's layers, applied when the stage module is built, e.g. torchtitan's activation_checkpoint
// settings) and runs inside the backward, and activation offload a saved-tensor hook
// (torch.autograd.graph.save_on_cpu). So R actions are dropped from the rows (the recompute then
// happens at the start of the B/I/BW that follows) and Plan::memory is not written; reading a CSV
// gives a plan without memory policies. pytorch_csv_memory_note() says this for a given plan.
//
// Reading infers stage -> rank from where each stage's actions appear (as PyTorch does), the
// micro-batch count from the largest micro-batch index, and takes the partition (layers per
// stage) from the caller: the CSV does not know the model.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis {

enum class PytorchCsvFormat {
  ComputeOnly,   // F/I/W/B and OVERLAP_F_B only (what PipelineScheduleMulti._load_csv accepts)
  ComputeComms,  // lowered as _PipelineScheduleRuntime does it (what its _dump_csv writes by default)
};

// "2F0", "3I1", "0W5", "1B2" (our F, B, W, BW).
std::string pytorch_action(const Action& a);

// Per rank, the cells of its row (of the relabelled plan). An overlapped pair is one
// "(F;B)OVERLAP_F_B" cell with the forward first, as PyTorch's runtime expects. Throws InputError
// naming the violated rule when PyTorch's runtime cannot run the plan (torch_rules.h).
std::vector<std::vector<std::string>> pytorch_rows(const Plan& plan, PytorchCsvFormat format);
std::string format_pytorch_csv(const Plan& plan, PytorchCsvFormat format = PytorchCsvFormat::ComputeOnly);
// "" for a plan without memory policies; else what the CSV leaves out and how to get it in PyTorch.
std::string pytorch_csv_memory_note(const Plan& plan);
void save_pytorch_csv(const Plan& plan, const std::string& path,
                      PytorchCsvFormat format = PytorchCsvFormat::ComputeOnly);

struct PytorchCsvImport {
  std::vector<int> partition;  // layers per stage; empty = as even as possible over num_layers
  int num_layers = -1;         // the model's layer count (checks; needed when partition is empty)
  int num_microbatches = 0;    // 0 = infer (largest micro-batch index + 1)
  std::string name = "custom";
};

// Parses CSV text (compute_only or compute_comms, e.g. anything PyTorch's _dump_csv writes;
// spaces and empty cells are fine; UNSHARD, RESHARD, REDUCE_GRAD and WAIT_REDUCE_GRAD are
// ignored). SEND/RECV/WAIT_SEND are checked, then dropped (adaptis derives communication from the
// plan): each must sit on its stage's rank, every SEND needs its RECV on the peer's row and the
// other way round, a RECV comes before the action that consumes it and a SEND after the one that
// produces it, and in a file with any SEND/RECV every input crossing ranks has both. The
// micro-batch count must be backed by the file (one F per stage and micro-batch) before anything
// is sized by it. Bad cells throw InputError naming `origin`, row (rank) and column; the resulting
// plan is validated, so a schedule that deadlocks is reported with the stuck devices.
Plan parse_pytorch_csv(const std::string& text, const PytorchCsvImport& opt, const std::string& origin);
Plan load_pytorch_csv(const std::string& path, const PytorchCsvImport& opt);

}  // namespace adaptis
