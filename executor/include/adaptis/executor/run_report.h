#pragma once
// Predicted vs measured for a recorded run: the performance model's timeline next to what the device threads
// actually did, per device and per (operation, stage), with the relative error of each figure. This is the
// calibration loop of the issue: profile -> simulate -> run -> compare.
#include <string>
#include <vector>

#include "adaptis/executor/run_store.h"

namespace adaptis::exec {

struct DeviceComparison {
  int device = 0;
  std::string stages;
  double predicted_busy_ms = 0, measured_busy_ms = 0;  // compute time per iteration
  double predicted_end_ms = 0, measured_end_ms = 0;    // when the device finished its list
  double measured_wait_ms = 0;                         // time blocked in WAIT per iteration
  double measured_comm_ms = 0;                         // SEND + RECV per iteration
  double predicted_peak_activation_bytes = 0, measured_peak_activation_bytes = 0;
  double busy_error = 0, end_error = 0;  // relative_error: (measured - predicted) / predicted
  // CPU time the device's thread got while computing, per iteration: the compute work itself, without the
  // time it sat preempted (other threads, other processes). NaN when the record has no CPU times.
  double measured_busy_cpu_ms = 0;
  double busy_cpu_error = 0;  // predicted busy against it
  double cpu_share = 0;       // measured_busy_cpu_ms / measured_busy_ms (NaN without CPU times)
};

struct OpComparison {
  Op op = Op::F;
  int stage = 0;
  double predicted_ms = 0;  // the plan's (stage, op) duration in the prediction
  double measured_ms = 0;   // mean over micro-batches and the iterations used
  int samples = 0;
  double error = 0;
  double measured_cpu_ms = 0;  // mean thread CPU time (NaN without CPU times)
  double cpu_error = 0;
};

// One micro-batch (a unit of a variable-length plan) through the whole pipeline: its compute time summed
// over every stage and pass (F, B, W, BW, R), predicted and measured (mean over the iterations used).
// Units of different tokens and attention pairs differ here; equal micro-batches agree.
struct MicroBatchComparison {
  int mb = 0;
  double predicted_ms = 0, measured_ms = 0, error = 0;
};

struct RunComparison {
  int steps_used = 0;  // iterations averaged (the first is left out when there are several)
  double predicted_iteration_ms = 0, measured_iteration_ms = 0, iteration_error = 0;
  // How much of a core a computing device thread actually got: CPU time over wall time of all compute
  // instructions (1 = a core of its own all along; less when threads outnumber cores or other processes
  // compete). The prediction assumes 1. Stretching it by this share separates the model's own error from
  // the machine's contention: predicted_at_share_ms = predicted_iteration_ms / cpu_share, and
  // share_adjusted_error its error. NaN without CPU times.
  double cpu_share = 0;
  double predicted_at_share_ms = 0, share_adjusted_error = 0;
  // Median time from a message's SEND finishing to its receiver leaving the WAIT for it, over the waits that
  // were still blocked when the message arrived: the hand-over latency between device threads (a condition
  // variable wake-up plus, on a busy machine, the wait for a core). NaN when no wait blocked.
  double handoff_ms = 0;
  std::vector<DeviceComparison> devices;
  std::vector<OpComparison> ops;  // by stage, then F, B, W, BW
  std::vector<MicroBatchComparison> microbatches;  // by micro-batch
};

// Throws InputError when the run has no recorded iteration.
RunComparison compare_run(const RunRecord& run);

// Compute time of each micro-batch in one iteration (index mb), summed over every device's compute
// instructions of `program` (the instructions StepResult::intervals measured, in list order).
std::vector<double> microbatch_compute_ms(const Program& program, const StepResult& step);
// The prediction's counterpart: every simulated action's duration added to its micro-batch (m entries).
std::vector<double> predicted_microbatch_ms(const std::vector<PredictedInterval>& predicted, int m);

// The prediction error, one sign convention everywhere (runs table, `adaptis run`/`show`, the
// explorers): (measured - predicted) / predicted, positive when the run was slower than predicted.
// NaN when either is missing (not finite or not positive).
double relative_error(double predicted, double measured);

}  // namespace adaptis::exec
