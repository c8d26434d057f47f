// Memory policies in the exports: Megatron-LM recompute flags (and what they cannot say), torchtitan's
// [activation_checkpoint] keys, the Chrome trace's R actions, host-link lanes and memory split, and
// the PyTorch CSV, which has no R (it round-trips the rest).
#include <gtest/gtest.h>

#include <algorithm>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/chrome_trace.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/recompute_exports.h"
#include "adaptis/planner/torchtitan_config.h"

using namespace adaptis;

namespace {

// Embedding, 16 transformer layers, LM head: a model Megatron's layout speaks about.
CostTable transformer_costs() {
  CostTable t;
  auto add = [&](const std::string& kind, double f) {
    LayerCost c;
    c.name = kind;
    c.kind = kind;
    c.f_ms = f, c.b_ms = 2 * f, c.w_ms = 0;
    c.act_b_bytes = 4e8;
    c.out_bytes = 2e7;
    c.kept_full_bytes = 2e7;
    c.kept_selective_bytes = 2e8;
    c.recompute_selective_ms = 0.6 * f;
    t.layers.push_back(c);
  };
  add("embedding", 0.5);
  for (int i = 0; i < 16; ++i) add("transformer", 2.0);
  add("lm_head", 4.0);
  return t;
}

Plan plan_with(const std::vector<StageMemoryPolicy>& mem, const std::string& schedule = "1f1b") {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = 4;
  r.microbatches = 8;
  r.partition = {5, 4, 4, 5};
  Plan p = build_plan(r, 18);
  set_memory_policy(p, mem);
  return p;
}

StageMemoryPolicy pol(Recompute r, int k = 0, double off = 0) {
  StageMemoryPolicy p;
  p.recompute = r;
  p.full_layers = k;
  p.offload_fraction = off;
  return p;
}

std::string flag(const RecomputeExport& e, const std::string& key) {
  for (const auto& [k, v] : e.settings)
    if (k == key) return v;
  return "<absent>";
}

bool notes_mention(const RecomputeExport& e, const std::string& text) {
  for (const auto& n : e.notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(MemoryExports, MegatronFlagsForUniformPolicies) {
  const CostTable costs = transformer_costs();
  // No policy: no recompute flags at all.
  EXPECT_TRUE(megatron_recompute_flags(plan_with({}), costs).settings.empty());
  // Full on every stage: block method over the largest stage's decoder layers (4; the embedding
  // and the head are not decoder layers), so every stage recomputes all of its layers.
  RecomputeExport full = megatron_recompute_flags(plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Full))), costs);
  EXPECT_EQ(flag(full, "--recompute-granularity"), "full");
  EXPECT_EQ(flag(full, "--recompute-method"), "block");
  EXPECT_EQ(flag(full, "--recompute-num-layers"), "4");
  EXPECT_TRUE(full.exact);
  // The first 2 layers of each stage: 1 decoder layer on stage 0 (after the embedding), 2 elsewhere.
  RecomputeExport k2 =
      megatron_recompute_flags(plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Full, 2))), costs);
  EXPECT_EQ(flag(k2, "--recompute-num-layers"), "2");
  EXPECT_FALSE(k2.exact);
  EXPECT_TRUE(notes_mention(k2, "different numbers of decoder layers"));
  // Selective: adaptis's MLP-block recompute.
  RecomputeExport sel =
      megatron_recompute_flags(plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Selective))), costs);
  EXPECT_EQ(flag(sel, "--recompute-granularity"), "selective");
  EXPECT_EQ(flag(sel, "--recompute-modules"), "mlp");
  EXPECT_EQ(flag(sel, "--recompute-method"), "<absent>");  // Megatron asserts it is unset for selective
  EXPECT_EQ(flag(sel, "--recompute-num-layers"), "<absent>");
}

TEST(MemoryExports, PerStageChoicesAndOffloadAreNamedAsInexpressible) {
  const CostTable costs = transformer_costs();
  Plan mixed = plan_with({pol(Recompute::Full), pol(Recompute::Selective), StageMemoryPolicy{}, pol(Recompute::None, 0, 0.5)});
  RecomputeExport e = megatron_recompute_flags(mixed, costs);
  EXPECT_FALSE(e.exact);
  EXPECT_EQ(flag(e, "--recompute-granularity"), "full");  // the strongest present
  EXPECT_TRUE(notes_mention(e, "per-stage recompute choices cannot be expressed"));
  EXPECT_TRUE(notes_mention(e, "stages 1-3"));
  EXPECT_TRUE(notes_mention(e, "activation offload (stages 3)"));
  // The full export carries them: flags on the command line, notes as comments, modules unquoted.
  MegatronExport me = export_megatron(mixed, costs);
  std::string text = format_megatron_export(me);
  EXPECT_NE(text.find("--recompute-granularity full --recompute-method block --recompute-num-layers 4"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# note: per-stage recompute choices cannot be expressed"), std::string::npos) << text;
  Plan sel = plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Selective)));
  EXPECT_NE(format_megatron_export(export_megatron(sel, costs)).find("--recompute-modules mlp"), std::string::npos);
  CostTable moe = costs;
  for (auto& l : moe.layers)
    if (l.kind == "transformer") l.kind = "moe_transformer";
  EXPECT_EQ(flag(megatron_recompute_flags(sel, moe), "--recompute-modules"), "mlp moe");
  EXPECT_NE(format_megatron_export(export_megatron(sel, moe)).find("--recompute-modules mlp moe"), std::string::npos);
}

TEST(MemoryExports, TorchtitanActivationCheckpointKeys) {
  auto keys = [](const Plan& p) { return torchtitan_activation_checkpoint(p); };
  RecomputeExport none = keys(plan_with({}));
  EXPECT_EQ(flag(none, "mode"), "\"none\"");
  EXPECT_TRUE(none.exact);
  RecomputeExport full = keys(plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Full))));
  EXPECT_EQ(flag(full, "mode"), "\"full\"");
  EXPECT_TRUE(full.exact);
  RecomputeExport sel = keys(plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Selective))));
  EXPECT_EQ(flag(sel, "mode"), "\"selective\"");
  EXPECT_EQ(flag(sel, "selective_ac_option"), "\"op\"");
  RecomputeExport mixed = keys(plan_with({pol(Recompute::Full, 2), StageMemoryPolicy{}, StageMemoryPolicy{}, pol(Recompute::None, 0, 1)}));
  EXPECT_FALSE(mixed.exact);
  EXPECT_EQ(flag(mixed, "mode"), "\"full\"");
  EXPECT_TRUE(notes_mention(mixed, "every pipeline stage"));
  EXPECT_TRUE(notes_mention(mixed, "save_on_cpu"));
  const std::string toml = format_torchtitan_activation_checkpoint(mixed);
  EXPECT_EQ(toml.rfind("[activation_checkpoint]\nmode = \"full\"\n", 0), 0u) << toml;
  EXPECT_NE(toml.find("# note: "), std::string::npos);
}

TEST(MemoryExports, TorchtitanJobConfigCarriesTheActivationCheckpointSection) {
  const CostTable costs = transformer_costs();
  TorchtitanOptions o;
  o.csv_path = "plan.csv";
  // Without policies the job config is unchanged: no section (the base config's setting applies).
  TorchtitanConfig plain = export_torchtitan(plan_with({}), costs, o);
  EXPECT_EQ(plain.toml.find("[activation_checkpoint]"), std::string::npos) << plain.toml;
  EXPECT_TRUE(plain.activation_checkpoint.empty());
  TorchtitanConfig full = export_torchtitan(plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Full))), costs, o);
  EXPECT_NE(full.toml.find("\n[activation_checkpoint]\nmode = \"full\"\n"), std::string::npos) << full.toml;
  ASSERT_EQ(full.activation_checkpoint.size(), 1u);
  // Per-stage choices and offload: the strongest setting, with notes in the comments.
  TorchtitanConfig mixed = export_torchtitan(
      plan_with({pol(Recompute::Selective), StageMemoryPolicy{}, StageMemoryPolicy{}, pol(Recompute::None, 0, 0.5)}),
      costs, o);
  EXPECT_NE(mixed.toml.find("mode = \"selective\""), std::string::npos) << mixed.toml;
  EXPECT_NE(mixed.toml.find("save_on_cpu"), std::string::npos) << mixed.toml;
  EXPECT_TRUE(std::any_of(mixed.notes.begin(), mixed.notes.end(),
                          [](const std::string& n) { return n.find("every pipeline stage") != std::string::npos; }));
  // The schedule part is the plain plan's: R actions are not in torchtitan's CSV.
  EXPECT_EQ(full.toml.substr(0, full.toml.find("[job]")).find("activation"), std::string::npos);
}

TEST(MemoryExports, ChromeTraceShowsRecomputeAndHostLinkLanes) {
  const CostTable costs = transformer_costs();
  Plan plan = plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Full, 0, 1.0)));
  Cluster cl = make_uniform_cluster(4);
  SimResult sim = simulate(plan, costs, cl);
  ASSERT_TRUE(sim.ok);
  ASSERT_FALSE(sim.host_transfers.empty());
  nlohmann::json trace = chrome_trace_json(plan, sim, costs, cl);
  int r_events = 0, copies = 0, host_threads = 0, split_samples = 0, host_counters = 0;
  for (const auto& e : trace["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "X" && e["cat"] == "R") ++r_events;
    if (ph == "X" && e["cat"] == "host") {
      ++copies;
      EXPECT_TRUE(e["args"].contains("bytes"));
      EXPECT_TRUE(e["args"].contains("request_ms"));
    }
    if (ph == "M" && e["name"] == "thread_name") {
      const std::string n = e["args"]["name"];
      if (n.rfind("host link", 0) == 0) ++host_threads;
    }
    if (ph == "C" && e["args"].contains("recomputed")) ++split_samples;
    if (ph == "C" && e["args"].contains("offloaded")) ++host_counters;
  }
  EXPECT_EQ(r_events, plan.num_stages() * plan.num_microbatches);
  EXPECT_EQ(copies, static_cast<int>(sim.host_transfers.size()));
  EXPECT_GE(host_threads, 4);  // both directions on at least two devices
  EXPECT_GT(split_samples, 0);
  EXPECT_GT(host_counters, 0);
  EXPECT_NE(trace["otherData"]["memory_policies"].get<std::string>().find("full"), std::string::npos);
  // No R ever crosses devices: the P2P lanes still pair each send with its consumer.
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "X" && e["cat"] == "p2p") {
      EXPECT_EQ(std::string(e["args"]["consumer"]).find("R "), std::string::npos);
    }
  }
}

TEST(MemoryExports, PytorchCsvHasNoRecomputeAndSaysSo) {
  Plan plain = plan_with({});
  Plan rec = plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Full)));
  EXPECT_EQ(format_pytorch_csv(rec), format_pytorch_csv(plain));
  EXPECT_EQ(format_pytorch_csv(rec, PytorchCsvFormat::ComputeComms),
            format_pytorch_csv(plain, PytorchCsvFormat::ComputeComms));
  EXPECT_EQ(pytorch_csv_memory_note(plain), "");
  const std::string note = pytorch_csv_memory_note(rec);
  EXPECT_NE(note.find("no recompute (R)"), std::string::npos) << note;
  EXPECT_NE(note.find("torch.utils.checkpoint"), std::string::npos) << note;
  PytorchCsvImport imp;
  imp.num_layers = 18;
  imp.partition = {5, 4, 4, 5};
  Plan back = parse_pytorch_csv(format_pytorch_csv(rec), imp, "x.csv");
  EXPECT_EQ(back.schedule, plain.schedule);
  EXPECT_TRUE(back.memory.empty());
}

TEST(MemoryExports, OctopipePlanLeavesRecomputeOut) {
  const CostTable costs = transformer_costs();
  Plan rec = plan_with(std::vector<StageMemoryPolicy>(4, pol(Recompute::Full)));
  SimResult sim = simulate(rec, costs, make_uniform_cluster(4));
  const std::string yaml = format_octopipe_yaml(rec, sim, OctopipeExport{});
  EXPECT_EQ(yaml.find("- (r,"), std::string::npos);
  size_t rows = 0;
  for (size_t at = yaml.find("- ("); at != std::string::npos; at = yaml.find("- (", at + 1)) ++rows;
  EXPECT_EQ(rows, static_cast<size_t>(2 * rec.num_stages() * rec.num_microbatches));  // F and BW only
}
