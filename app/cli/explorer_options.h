#pragma once
// Command-line handling shared by the two plan explorers, `adaptis tui` and `adaptis gui`: which cost input
// they open, how they name it, and their --size option.
#include <string>
#include <utility>

#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "explorer/cluster_plans.h"
#include "explorer/varlen_view.h"

namespace adaptis::cli {

// `path` made absolute and lexically normal ("/a/dir/../x" -> "/a/x", symlinks kept): what an explorer
// hands to the `adaptis run` / `adaptis optimize` processes it launches (they may run in another directory)
// and shows to the user. "" stays "", and a path that cannot be made absolute comes back unchanged.
std::string absolute_path(const std::string& path);

// Sample costs for the explorers when neither --model nor --costs is given: ./samples/costs, then
// the source tree's samples and the shared peer profiles; the first JSON file in name order of the
// first folder that has one. InputError listing the folders when none has one.
std::string default_costs_file();

// The inputs an explorer opens. Neither --model nor --costs given: the sample costs (default_costs_file, as
// an absolute path); otherwise the options as given, so load_inputs names the files as the user typed them.
struct ExplorerInputs {
  InputOptions options;
  std::string label;  // for the title bar: "model FILE", the cost file, or "FILE (default sample)"
};
ExplorerInputs explorer_inputs(const InputOptions& given);

// --size WIDTHxHEIGHT, each side within [min, max]. InputError naming --size, an example and the range.
struct SizeLimits {
  int min_width, min_height, max_width, max_height;
};
std::pair<int, int> parse_size(const std::string& text, const SizeLimits& limits, const char* example);
// The range as --help shows it: "320x240 .. 16384x16384".
std::string size_range_text(const SizeLimits& limits);

// The sizes each explorer accepts: a terminal screen of at least one cell, a window ImGui can lay out.
inline constexpr SizeLimits kTuiSizeLimits{1, 1, 1000, 1000};
inline constexpr SizeLimits kGuiSizeLimits{320, 240, 16384, 16384};

}  // namespace adaptis::cli

namespace adaptis::cli {

// The explorers' cluster-plan view (explorer/cluster_plans.h): --gpus and --global-batch-tokens set
// its search's inputs and open it at start-up with a search running.
struct ClusterViewOptions {
  int gpus = 0;
  long long global_batch_tokens = 0;
  bool given() const { return gpus > 0 || global_batch_tokens > 0; }
};
void add_cluster_view_options(CLI::App* cmd, ClusterViewOptions& o);
// The search's setup: the model spec of --model and the whole cluster (before a plan file narrows it
// to a replica), with the options checked against them (InputError naming --gpus or
// --global-batch-tokens). Without --model the setup has no model (the view says why) and the options
// are refused.
explorer::ClusterPlanSetup cluster_plan_setup(const InputOptions& in, const Cluster& whole_cluster,
                                              const ClusterViewOptions& o);

}  // namespace adaptis::cli

namespace adaptis::cli {

// --lengths on an explorer: the units the plan starts with go into in.units (apply_lengths with
// simulate's default packing) and the lengths with their processing into what the views show; `notes`
// gets what the user should read (a cost table given the context as its reference). Nothing when the
// option is not given. InputError naming the file or flag at fault, before any window or terminal.
// The explorers' --global-batch-tokens is the cluster view's option; with --lengths it is the
// iteration's tokens instead (what the lengths are drawn or cut to), so it moves from `view` to them.
explorer::LengthsSource explorer_lengths(LengthsOptions o, ClusterViewOptions& view, Inputs& in,
                                         std::vector<std::string>& notes);

}  // namespace adaptis::cli
