#include "cli/explorer_options.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <vector>

#include "adaptis/model/error.h"
#include "cli/option_ranges.h"

namespace adaptis::cli {

std::string default_costs_file() {
  std::vector<std::string> dirs = {"samples/costs"};
#ifdef ADAPTIS_SAMPLE_DIRS
  std::stringstream ss(ADAPTIS_SAMPLE_DIRS);
  for (std::string d; std::getline(ss, d, ':');) dirs.push_back(d);
#endif
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path().string());
    if (!files.empty()) return *std::min_element(files.begin(), files.end());
  }
  std::string looked;
  for (const auto& d : dirs) looked += (looked.empty() ? "" : ", ") + d;
  throw InputError("give --model FILE or --costs FILE (no sample costs found in " + looked + ")");
}

std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

ExplorerInputs explorer_inputs(const InputOptions& given) {
  ExplorerInputs e{given, ""};
  if (given.model.empty() && given.costs.empty()) {
    e.options.costs = absolute_path(default_costs_file());
    e.label = e.options.costs + " (default sample)";
  } else {
    e.label = given.costs.empty() ? "model " + absolute_path(given.model) : absolute_path(given.costs);
  }
  return e;
}

std::pair<int, int> parse_size(const std::string& text, const SizeLimits& limits, const char* example) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  std::istringstream is(text);
  if (!(is >> w >> x >> h) || x != 'x' || (is >> extra) || w < limits.min_width || h < limits.min_height ||
      w > limits.max_width || h > limits.max_height)
    throw InputError("--size: expected WIDTHxHEIGHT such as " + std::string(example) + " (" + size_range_text(limits) +
                     "), got " + quoted_excerpt(text));
  return {w, h};
}

std::string size_range_text(const SizeLimits& limits) {
  return std::to_string(limits.min_width) + "x" + std::to_string(limits.min_height) + " .. " +
         std::to_string(limits.max_width) + "x" + std::to_string(limits.max_height);
}

void add_cluster_view_options(CLI::App* cmd, ClusterViewOptions& o) {
  cmd->add_option("--gpus", o.gpus, "Open the cluster-plan view and search plans for this many GPUs (needs --model)")
      ->check(int_range(1, 1 << 20));
  cmd->add_option("--global-batch-tokens", o.global_batch_tokens,
                  "Open the cluster-plan view and search with this global batch (tokens, whole sequences; needs --model)")
      ->check(int_range(1, kMaxGlobalBatchTokens));
}

explorer::ClusterPlanSetup cluster_plan_setup(const InputOptions& in, const Cluster& whole_cluster,
                                              const ClusterViewOptions& o) {
  explorer::ClusterPlanSetup setup;
  setup.cluster = whole_cluster;
  if (in.model.empty()) {
    if (o.gpus > 0) throw InputError("--gpus: the cluster-plan search derives per-GPU costs from a model spec: give --model FILE");
    if (o.global_batch_tokens > 0)
      throw InputError("--global-batch-tokens: the cluster-plan search derives per-GPU costs from a model spec: give --model FILE");
    return setup;
  }
  auto model = std::make_shared<const ModelSpec>(load_model_spec(in.model));
  const int most = std::max(whole_cluster.topology.num_gpus(), whole_cluster.num_devices());
  if (o.gpus > most)
    throw InputError("--gpus: " + std::to_string(o.gpus) + " but the cluster has " + std::to_string(most) + " GPUs");
  if (o.global_batch_tokens > 0 && model->seq_len > 0 && o.global_batch_tokens % model->seq_len != 0)
    throw InputError("--global-batch-tokens: " + std::to_string(o.global_batch_tokens) + " is not a whole number of " +
                     std::to_string(model->seq_len) + "-token sequences (" + in.model + " seq_len)");
  setup.model = std::move(model);
  setup.options.gpus = o.gpus;
  setup.options.global_batch_tokens = o.global_batch_tokens;
  return setup;
}

}  // namespace adaptis::cli

namespace adaptis::cli {

explorer::LengthsSource explorer_lengths(LengthsOptions o, ClusterViewOptions& view, Inputs& in,
                                         std::vector<std::string>& notes) {
  explorer::LengthsSource src;
  if (!o.given()) return src;
  if (o.global_batch_tokens <= 0) o.global_batch_tokens = view.global_batch_tokens;
  view.global_batch_tokens = 0;
  LoadedLengths l = apply_lengths(o, in, PackingMode::PackTokens);
  // A saved session records the lengths as given (a file by its absolute path) and how they were read.
  src.spec = is_length_distribution(o.lengths) ? o.lengths : absolute_path(o.lengths);
  src.options.context = o.context;
  src.options.global_batch_tokens = o.global_batch_tokens;
  src.data = std::make_shared<const SequenceLengths>(std::move(l.data));
  src.processing = l.processing;
  notes.insert(notes.end(), l.notes.begin(), l.notes.end());
  return src;
}

}  // namespace adaptis::cli
