#include "adaptis/planner/torchtitan_config.h"

#include <cstdio>
#include <sstream>

#include "adaptis/model/error.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/recompute_exports.h"
#include "adaptis/planner/plan_target.h"

namespace adaptis {

namespace {

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// A comment line may hold anything but a line break.
std::string comment(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '\n' || c == '\r') ? ' ' : c;
  return "# " + out + "\n";
}

}  // namespace

std::vector<std::vector<std::string>> torchtitan_module_names(const Plan& plan, const CostTable& costs,
                                                              std::vector<std::string>* notes) {
  const int S = plan.num_stages();
  if (plan.partition.num_layers() != costs.num_layers())
    throw InputError("torchtitan export: the plan's partition covers " + std::to_string(plan.partition.num_layers()) +
                     " layers but the cost table has " + std::to_string(costs.num_layers()));
  const std::vector<std::string> kinds = layer_kinds(costs);
  std::vector<std::vector<std::string>> out(S);
  int next_layer = 0;
  bool have_e = false, have_l = false;
  for (int s = 0; s < S; ++s)
    for (int l = plan.partition.bounds[s]; l < plan.partition.bounds[s + 1]; ++l) {
      for (char c : megatron_layer_symbols(kinds[l], l ? kinds[l - 1] : "")) {
        if (c == 'E') {
          if (have_e || s != 0)
            throw InputError("torchtitan export: layer " + std::to_string(l) + " (kind '" + kinds[l] +
                             "') is an embedding outside the first stage; torchtitan's tok_embeddings is the first module");
          out[s].push_back("tok_embeddings");
          have_e = true;
        } else if (c == 'L') {
          if (have_l || s != S - 1)
            throw InputError("torchtitan export: layer " + std::to_string(l) + " (kind '" + kinds[l] +
                             "') is the output head outside the last stage; torchtitan's norm and output are the last modules");
          out[s].push_back("norm");
          out[s].push_back("output");
          have_l = true;
        } else {
          out[s].push_back("layers." + std::to_string(next_layer++));
        }
      }
    }
  if (!have_e) {
    out.front().insert(out.front().begin(), "tok_embeddings");
    if (notes) notes->push_back("the cost table has no embedding layer; tok_embeddings is placed in the first stage");
  }
  if (!have_l) {
    out.back().push_back("norm");
    out.back().push_back("output");
    if (notes) notes->push_back("the cost table has no output head; norm and output are placed in the last stage");
  }
  return out;
}

TorchtitanConfig export_torchtitan(const Plan& plan, const CostTable& costs, const TorchtitanOptions& opt) {
  const int p = plan.num_devices(), S = plan.num_stages();
  if (opt.microbatch_size < 1)
    throw InputError("torchtitan export: micro-batch size must be >= 1, got " + std::to_string(opt.microbatch_size));
  if (opt.csv_path.empty()) throw InputError("torchtitan export: needs the path of the plan's PyTorch CSV");
  TorchtitanConfig c;
  c.style = torchtitan_placement_style(plan.placement);
  if (c.style.empty())
    throw InputError("torchtitan export: plan '" + plan.name + "' places its " + std::to_string(S) + " stages on " +
                     std::to_string(p) + " devices in a way torchtitan cannot build: it puts stage s on rank s mod " +
                     std::to_string(p) + " with the same number per rank, or (V schedules) rank r holding stages r and " +
                     std::to_string(2 * p) + "-1-r. Search with the optimizer's torchtitan target, or use a looped "
                     "or V schedule");
  const int v = S / p;
  c.schedule = c.style == "v" ? "ZBVZeroBubble" : v == 1 ? "1F1B" : "Interleaved1F1B";
  c.module_names = torchtitan_module_names(plan, costs, &c.notes);
  c.local_batch_size = plan.num_microbatches * opt.microbatch_size;
  if (opt.seq_len <= 0) c.notes.push_back("training.seq_len is not set (no model spec): the base config's value applies");

  std::ostringstream os;
  os << comment("torchtitan job config written by adaptis for plan '" + plan.name + "': " + std::to_string(p) +
                " pipeline ranks, " + std::to_string(S) + " stages (" + std::to_string(v) + " per rank, " +
                (c.style == "v" ? "V" : "looped") + " placement), " + std::to_string(plan.num_microbatches) +
                " micro-batches");
  os << comment("Merge these keys into your model's job config (model, optimizer, data stay yours), then launch with");
  os << comment("  torchrun --nproc_per_node=" + std::to_string(p) +
                " -m torchtitan.train --job.config_file THIS_FILE");
  os << comment("(nproc_per_node = pipeline degree x the other parallel degrees). The per-device order is in "
                "pipeline_parallel_schedule_csv;");
  os << comment("pipeline_parallel_schedule only tells torchtitan which placement style to build (" + c.style + ").");
  os << comment("torchtitan releases with Python configs read the same fields from Trainer.Config.parallelism "
                "(there the micro-batch count is num_pp_microbatches = " + std::to_string(plan.num_microbatches) + ").");
  for (const auto& n : c.notes) os << comment("note: " + n);
  os << "\n[job]\n";
  os << "description = " << toml_string(opt.description.empty() ? "adaptis plan " + plan.name : opt.description) << "\n";
  os << "\n[parallelism]\n";
  os << "pipeline_parallel_degree = " << p << "\n";
  os << "pipeline_parallel_schedule = " << toml_string(c.schedule) << "\n";
  os << "pipeline_parallel_schedule_csv = " << toml_string(opt.csv_path) << "\n";
  os << "pipeline_parallel_microbatch_size = " << opt.microbatch_size << "\n";
  os << "module_fqns_per_model_part = [\n";
  for (int s = 0; s < S; ++s) {
    os << "  [";
    for (size_t i = 0; i < c.module_names[s].size(); ++i) os << (i ? ", " : "") << toml_string(c.module_names[s][i]);
    os << "],  # stage " << s << ", rank " << plan.placement.stage_device()[s] << "\n";
  }
  os << "]\n";
  os << "\n[training]\n";
  os << comment("micro-batches per step = local_batch_size / pipeline_parallel_microbatch_size = " +
                std::to_string(plan.num_microbatches));
  os << "local_batch_size = " << c.local_batch_size << "\n";
  if (opt.seq_len > 0) os << "seq_len = " << opt.seq_len << "\n";
  // Memory policies: torchtitan applies activation checkpointing when it builds each stage's
  // module (the CSV has no R action), so they travel as the [activation_checkpoint] section.
  if (has_memory_policy(plan)) {
    const RecomputeExport ac = torchtitan_activation_checkpoint(plan);
    c.activation_checkpoint = ac.settings;
    for (const auto& n : ac.notes) c.notes.push_back(n);
    os << "\n" << format_torchtitan_activation_checkpoint(ac);
  }
  c.toml = os.str();
  return c;
}

}  // namespace adaptis
