#include "cli/field_flags.h"

namespace adaptis::cli {

const std::vector<std::pair<std::string, std::string>>& field_flags() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      // plans: PlanRequest, ScheduleOptions, OptimizeOptions, Cluster
      {"schedule", "--schedule"},
      {"devices", "--devices"},
      {"microbatches", "--microbatches"},
      {"stages_per_device", "--stages-per-device"},
      {"group_size", "--group-size"},
      {"partition", "--partition"},
      {"placement", "--placement"},
      {"time_limit_s", "--time-limit-s"},
      {"threads", "--threads"},
      {"max_evaluations", "--max-evaluations"},
      {"max_stages_per_device", "--max-stages-per-device"},
      {"target", "--target"},
      // whole-cluster search: ClusterSearchOptions (its "gpus" is the row below)
      {"global_batch_tokens", "--global-batch-tokens"},
      // variable-length data: LengthOptions (sequence_lengths.h), OptimizeOptions::units
      {"context", "--context"},
      {"units", "--lengths"},
      {"tp", "--tp"},
      {"pp", "--pp"},
      {"cp", "--cp"},
      {"ep", "--ep"},
      {"micro_batch_sizes", "--micro-batch-sizes"},
      {"zero_levels", "--zero"},
      {"optimize_top", "--optimize-top"},
      {"evaluations", "--max-evaluations"},
      // memory policies searched: OptimizeOptions
      {"recompute_choices", "--recompute"},
      {"offload_choices", "--offload"},
      // runs: GpuRunOptions, RunSession, RunStore, DataParallelOptions, tensor-parallel stages
      {"replicas", "--data-parallel"},
      {"tensor_parallel", "--tensor-parallel"},
      {"steps", "--steps"},
      {"db", "--db"},
      {"backend", "--backend"},
      {"precision", "--precision"},
      {"gpu", "--gpu"},
      {"gpus", "--gpus"},
      {"green_contexts", "--green-contexts"},
      {"sms_per_device", "--sms-per-device"},
      {"watchdog_ms", "--watchdog-ms"},
      {"lr", "--lr"},
      {"host_bandwidth_gbs", "--host-bandwidth-gbs"},
      // profiles: CpuProfileOptions, GpuProfileOptions
      {"repeats", "--repeats"},
      {"warmup", "--warmup"},
      {"timing", "--timing"},
  };
  return table;
}

std::string flag_for_field(const std::string& field) {
  for (const auto& [f, flag] : field_flags())
    if (f == field) return flag;
  return "";
}

std::string cli_error_message(const InputError& e) {
  const std::string flag = e.field().empty() ? std::string() : flag_for_field(e.field());
  return flag.empty() ? std::string(e.what()) : flag + ": " + e.problem();
}

}  // namespace adaptis::cli
