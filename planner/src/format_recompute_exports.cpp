// Memory policies as Megatron-LM flags and torchtitan settings (recompute_exports.h).
#include "adaptis/planner/recompute_exports.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/memory_policy.h"

namespace adaptis {

namespace {

int strength(const StageMemoryPolicy& p) { return static_cast<int>(p.recompute); }

// Stages (in order) whose policy differs from `ref`, as "1, 4-6".
std::string differing_stages(const Plan& plan, const StageMemoryPolicy& ref) {
  std::string out;
  const int S = plan.num_stages();
  for (int s = 0; s < S;) {
    if (stage_memory(plan, s).recompute == ref.recompute && stage_memory(plan, s).full_layers == ref.full_layers) {
      ++s;
      continue;
    }
    int e = s + 1;
    while (e < S && !(stage_memory(plan, e).recompute == ref.recompute && stage_memory(plan, e).full_layers == ref.full_layers))
      ++e;
    if (!out.empty()) out += ", ";
    out += std::to_string(s);
    if (e - s > 1) {  // appended piecewise: GCC 12 warns falsely (-Wrestrict) on "-" + std::to_string(...)
      out += '-';
      out += std::to_string(e - 1);
    }
    s = e;
  }
  return out;
}

// The strongest recompute any stage uses (full beats selective beats none; among full, the most layers).
StageMemoryPolicy strongest(const Plan& plan) {
  StageMemoryPolicy best;
  for (int s = 0; s < plan.num_stages(); ++s) {
    StageMemoryPolicy p = stage_memory(plan, s);
    p.offload_fraction = 0;
    if (strength(p) > strength(best)) best = p;
    else if (p.recompute == Recompute::Full && best.recompute == Recompute::Full &&
             (p.full_layers == 0 || (best.full_layers > 0 && p.full_layers > best.full_layers)))
      best = p;
  }
  return best;
}

bool uniform_recompute(const Plan& plan) {
  const StageMemoryPolicy a = stage_memory(plan, 0);
  for (int s = 1; s < plan.num_stages(); ++s) {
    const StageMemoryPolicy b = stage_memory(plan, s);
    if (b.recompute != a.recompute || b.full_layers != a.full_layers) return false;
  }
  return true;
}

// Per-unit checkpointing (StageMemoryPolicy::units): "stage 0: 5 of 16 units, stage 1: 3 of 16 units";
// "" when every recomputing stage recomputes every unit.
std::string unit_selections(const Plan& plan) {
  std::string out;
  for (int s = 0; s < plan.num_stages(); ++s) {
    const StageMemoryPolicy p = stage_memory(plan, s);
    if (!recomputes(p) || p.units.empty()) continue;
    out += out.empty() ? "stage " : ", stage ";
    out += std::to_string(s);
    out += ": ";
    out += std::to_string(p.units.size());
    out += " of ";
    out += std::to_string(plan.units.size());
    out += " units";
  }
  return out;
}

// The note every trainer export adds for per-unit checkpointing: trainers checkpoint every micro-batch of
// a stage alike, so the export recomputes every unit of those stages.
void note_unit_selections(const Plan& plan, const char* trainer, RecomputeExport& e) {
  const std::string sel = unit_selections(plan);
  if (sel.empty()) return;
  e.exact = false;
  e.notes.push_back(std::string("per-unit checkpointing (") + sel + ") cannot be expressed: " + trainer +
                    " checkpoints every micro-batch of a stage alike; this recomputes every unit of those stages "
                    "(more time, less memory than planned)");
}

std::string offloading_stages(const Plan& plan) {
  std::string out;
  for (int s = 0; s < plan.num_stages(); ++s)
    if (stage_memory(plan, s).offload_fraction > 0) out += (out.empty() ? "" : ", ") + std::to_string(s);
  return out;
}

}  // namespace

RecomputeExport megatron_recompute_flags(const Plan& plan, const CostTable& costs) {
  RecomputeExport e;
  if (!has_memory_policy(plan)) return e;
  const int S = plan.num_stages();
  if (const std::string off = offloading_stages(plan); !off.empty()) {
    e.exact = false;
    e.notes.push_back("activation offload (stages " + off +
                      ") cannot be expressed: megatron-core's --cpu-offloading refuses pipeline parallelism and "
                      "recomputation; the copies are left out, so those stages need the memory the plan offloads");
  }
  // Decoder layers (t) per stage, and among the first k plan layers of each stage.
  std::vector<std::string> kinds = layer_kinds(costs);
  std::vector<int> t_per_layer(kinds.size(), 0);
  bool moe = false;
  for (size_t l = 0; l < kinds.size(); ++l) {
    const std::string syms = megatron_layer_symbols(kinds[l], l > 0 ? kinds[l - 1] : "");
    t_per_layer[l] = static_cast<int>(std::count(syms.begin(), syms.end(), 't'));
    std::string k = kinds[l];
    for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    moe = moe || k.find("moe") != std::string::npos;
  }
  auto decoder_layers = [&](int s, int first_k) {
    int n = 0;
    const int a = plan.partition.bounds[s], b = plan.partition.bounds[s + 1];
    const int end = first_k > 0 ? std::min(b, a + first_k) : b;
    for (int l = a; l < end && l < static_cast<int>(t_per_layer.size()); ++l) n += t_per_layer[l];
    return n;
  };
  const StageMemoryPolicy top = strongest(plan);
  if (top.recompute == Recompute::None) return e;
  note_unit_selections(plan, "Megatron", e);
  if (!uniform_recompute(plan)) {
    e.exact = false;
    e.notes.push_back("per-stage recompute choices cannot be expressed: Megatron applies one setting to every "
                      "pipeline stage; this uses the strongest the plan has (" + describe(top) + "), so stages " +
                      differing_stages(plan, top) + " recompute more than planned (more time, less memory)");
  }
  if (top.recompute == Recompute::Selective) {
    e.settings.push_back({"--recompute-granularity", "selective"});
    e.settings.push_back({"--recompute-modules", moe ? "mlp moe" : "mlp"});
    e.notes.push_back("selective here is adaptis's: every MLP/MoE block recomputed from its input (Megatron's "
                      "default module, core_attn, saves nothing with flash attention)");
    return e;
  }
  // Full: the decoder layers recomputed per stage; block recomputes the first N of every stage.
  int n = 0;
  bool same = true;
  int first = -1;
  for (int s = 0; s < S; ++s) {
    const StageMemoryPolicy p = stage_memory(plan, s);
    if (p.recompute != Recompute::Full) continue;
    const int k = decoder_layers(s, p.full_layers);
    if (first < 0) first = k;
    same = same && k == first;
    n = std::max(n, k);
  }
  if (top.full_layers > 0 && !same && uniform_recompute(plan)) {
    e.exact = false;
    e.notes.push_back("the first " + std::to_string(top.full_layers) +
                      " layers of each stage hold different numbers of decoder layers; Megatron's block method "
                      "recomputes the first " + std::to_string(n) + " decoder layers of every stage");
  }
  e.settings.push_back({"--recompute-granularity", "full"});
  e.settings.push_back({"--recompute-method", "block"});
  e.settings.push_back({"--recompute-num-layers", std::to_string(std::max(1, n))});
  e.notes.push_back("adaptis recomputes a stage's layers as one block right before (or ahead of) its backward; "
                    "Megatron checkpoints each recomputed layer and recomputes it inside the backward, and does not "
                    "recompute the embedding or the output layer");
  return e;
}

RecomputeExport torchtitan_activation_checkpoint(const Plan& plan) {
  RecomputeExport e;
  const StageMemoryPolicy top = strongest(plan);
  if (const std::string off = offloading_stages(plan); !off.empty()) {
    e.exact = false;
    e.notes.push_back("activation offload (stages " + off +
                      ") has no torchtitan setting; wrap those stages' forward in torch.autograd.graph.save_on_cpu");
  }
  if (top.recompute == Recompute::None) {
    e.settings.push_back({"mode", "\"none\""});
    return e;
  }
  note_unit_selections(plan, "torchtitan", e);
  if (!uniform_recompute(plan)) {
    e.exact = false;
    e.notes.push_back("per-stage recompute choices cannot be expressed: torchtitan applies one activation-checkpoint "
                      "setting to every pipeline stage; this uses the strongest the plan has (" + describe(top) +
                      "), so stages " + differing_stages(plan, top) + " recompute more than planned");
  }
  if (top.recompute == Recompute::Selective) {
    e.settings.push_back({"mode", "\"selective\""});
    e.settings.push_back({"selective_ac_option", "\"op\""});
    e.exact = false;
    e.notes.push_back("torchtitan's op-level selective checkpointing keeps matmul outputs and recomputes the rest; "
                      "adaptis's selective recomputes whole MLP/MoE blocks, so memory and time differ somewhat");
    return e;
  }
  e.settings.push_back({"mode", "\"full\""});
  if (top.full_layers > 0) {
    e.exact = false;
    e.notes.push_back("full recompute of the first " + std::to_string(top.full_layers) +
                      " layers of a stage cannot be expressed (torchtitan's layer option checkpoints every k-th "
                      "layer); this recomputes every layer");
  }
  return e;
}

std::string format_torchtitan_activation_checkpoint(const RecomputeExport& e) {
  std::ostringstream os;
  os << "[activation_checkpoint]\n";
  for (const auto& [k, v] : e.settings) os << k << " = " << v << "\n";
  for (const auto& n : e.notes) os << "# note: " << n << "\n";
  return os.str();
}

}  // namespace adaptis
