// Megatron-LM export (layout string + flags) and layout parsing.
#include <gtest/gtest.h>

#include "adaptis/planner/megatron_layout.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

using test::expect_input_error;

std::string flag(const std::vector<std::pair<std::string, std::string>>& flags, const std::string& name) {
  for (const auto& [k, v] : flags)
    if (k == name) return v;
  return "<absent>";
}

Plan plan_for(const std::string& schedule, int num_layers, std::vector<int> partition = {},
              const std::string& placement = "") {
  PlanRequest req;
  req.schedule = schedule;
  req.partition = std::move(partition);
  req.placement = placement;
  return build_plan(req, num_layers);
}

CostTable table_of(const std::vector<std::string>& kinds) {
  CostTable t;
  for (const auto& k : kinds) {
    LayerCost l;
    l.kind = k;
    l.f_ms = l.b_ms = 1;
    t.layers.push_back(l);
  }
  return t;
}

TEST(FormatsMegatron, LayerSymbols) {
  EXPECT_EQ(megatron_layer_symbols("embedding", ""), "E");
  EXPECT_EQ(megatron_layer_symbols("lm_head", "attention"), "L");
  EXPECT_EQ(megatron_layer_symbols("loss", "attention"), "L");
  EXPECT_EQ(megatron_layer_symbols("loss", "lm_head"), "");  // one L for head + loss
  EXPECT_EQ(megatron_layer_symbols("mtp", "attention"), "m");
  EXPECT_EQ(megatron_layer_symbols("attention", "embedding"), "t");
  EXPECT_EQ(megatron_layer_symbols("M+E", ""), "Et");  // AdaPtis profile: embedding fused first
  EXPECT_EQ(megatron_layer_symbols("-+H", "M"), "tL");  // head fused last
  EXPECT_EQ(megatron_layer_symbols("T+E", ""), "Et");
  EXPECT_EQ(megatron_layer_symbols("-", "M"), "t");
  EXPECT_EQ(megatron_layer_symbols("M", "-"), "t");  // Mamba / MoE blocks are decoder layers
  EXPECT_EQ(megatron_layer_symbols("*", "-"), "t");
  EXPECT_EQ(megatron_layer_symbols("E", ""), "E");
}

TEST(FormatsMegatron, EvenSplitNeedsNoLayout) {
  CostTable costs = test::nemotron_costs();  // 56 layers: "M+E", ..., "-+H"
  MegatronExport e = export_megatron(plan_for("1f1b", 56), costs);
  EXPECT_EQ(e.layout, "Et*14|(t*14|)*2,t*14L");
  EXPECT_EQ(e.num_layers, 56);
  EXPECT_EQ(e.virtual_stages, 1);
  EXPECT_TRUE(e.order_matches);
  EXPECT_EQ(flag(e.flags, "--pipeline-model-parallel-size"), "4");
  EXPECT_EQ(flag(e.flags, "--num-layers"), "56");
  EXPECT_EQ(flag(e.flags, "--pipeline-model-parallel-layout"), "<absent>");
  EXPECT_EQ(flag(e.layout_flags, "--pipeline-model-parallel-layout"), e.layout);
  std::string text = format_megatron_export(e);
  EXPECT_NE(text.find("--pipeline-model-parallel-size 4 --num-layers 56"), std::string::npos) << text;
  EXPECT_NE(text.find("--pipeline-model-parallel-layout \"Et*14|(t*14|)*2,t*14L\""), std::string::npos) << text;
}

TEST(FormatsMegatron, FirstLastFlagsWhenTheySuffice) {
  CostTable costs = test::nemotron_costs();
  MegatronExport e = export_megatron(plan_for("1f1b", 56, {12, 15, 15, 14}), costs);
  EXPECT_EQ(flag(e.flags, "--decoder-first-pipeline-num-layers"), "12");
  EXPECT_EQ(flag(e.flags, "--decoder-last-pipeline-num-layers"), "14");
  EXPECT_EQ(flag(e.flags, "--pipeline-model-parallel-layout"), "<absent>");
  EXPECT_EQ(e.layout, "Et*12|(t*15|)*2,t*14L");

  MegatronExport only_first = export_megatron(plan_for("1f1b", 56, {11, 15, 15, 15}), costs);
  EXPECT_EQ(flag(only_first.flags, "--decoder-first-pipeline-num-layers"), "11");
  EXPECT_EQ(flag(only_first.flags, "--decoder-last-pipeline-num-layers"), "<absent>");

  // Irregular middle stages: only a layout says it.
  MegatronExport irregular = export_megatron(plan_for("1f1b", 56, {12, 16, 14, 14}), costs);
  EXPECT_EQ(flag(irregular.flags, "--pipeline-model-parallel-layout"), "Et*12|t*16|t*14|t*14L");
  EXPECT_EQ(flag(irregular.flags, "--decoder-first-pipeline-num-layers"), "<absent>");
}

TEST(FormatsMegatron, GpipeOrderIsNotMegatrons) {
  MegatronExport e = export_megatron(plan_for("gpipe", 56), test::nemotron_costs());
  EXPECT_FALSE(e.order_matches);
  bool noted = false;
  for (const auto& n : e.notes) noted = noted || n.find("own 1F1B order") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(FormatsMegatron, InterleavedGetsVirtualStagesAndGroupSize) {
  CostTable costs = test::nemotron_costs();
  // Any InputError fails the test: interleaved-1f1b on 4 devices, 8 micro-batches and 56 layers is valid.
  const Plan plan = plan_for("interleaved-1f1b", 56);
  MegatronExport e = export_megatron(plan, costs);
  EXPECT_EQ(e.virtual_stages, 2);
  EXPECT_TRUE(e.order_matches);
  EXPECT_EQ(e.group_size, 4);
  EXPECT_EQ(flag(e.flags, "--num-layers-per-virtual-pipeline-stage"), "7");  // 56 layers / (4 ranks x 2)
  EXPECT_EQ(flag(e.flags, "--microbatch-group-size-per-virtual-pipeline-stage"), "4");
  // The batch: 8 micro-batches per pipeline.
  EXPECT_EQ(flag(e.flags, "--micro-batch-size"), "1");
  EXPECT_EQ(flag(e.flags, "--global-batch-size"), "8");
  MegatronRunOptions run;
  run.micro_batch_size = 2;
  run.data_parallel = 4;
  run.seq_length = 4096;
  MegatronExport big = export_megatron(plan, costs, run);
  EXPECT_EQ(flag(big.flags, "--global-batch-size"), "64");
  EXPECT_EQ(flag(big.layout_flags, "--global-batch-size"), "64");
  EXPECT_EQ(flag(big.flags, "--seq-length"), "4096");
  EXPECT_EQ(e.layout, "Et*7|(t*7|)*6,t*7L");
}

TEST(FormatsMegatron, RefusesPlacementsMegatronCannotExpress) {
  CostTable costs = test::nemotron_costs();
  Plan swapped = plan_for("gpipe", 56, {}, "1|0|2|3");
  expect_input_error([&] { export_megatron(swapped, costs); },
                     {"Megatron can only express sequential or looped", "device 0", "PyTorch CSV"});
  for (const auto& [name, plan] : test::all_builtin_plans(56)) {
    Placement looped = looped_placement(plan.num_devices(), plan.num_stages() / plan.num_devices());
    if (plan.placement.device_stages == looped.device_stages) continue;
    SCOPED_TRACE(name);  // V / wave placements (zb-v, dualpipev)
    expect_input_error([&] { export_megatron(plan, costs); }, {"Megatron can only express"});
  }
}

TEST(FormatsMegatron, RefusesLayerOrdersMegatronForbids) {
  CostTable late_embedding = table_of({"attention", "embedding", "attention", "loss"});
  expect_input_error([&] { export_megatron(plan_for("1f1b", 4, {1, 1, 1, 1}), late_embedding); },
                     {"layer 1", "embedding first"});
  CostTable early_loss = table_of({"embedding", "loss", "attention", "attention"});
  expect_input_error([&] { export_megatron(plan_for("1f1b", 4, {1, 1, 1, 1}), early_loss); }, {"loss last"});
}

TEST(FormatsMegatron, ImplicitEmbeddingAndLossForPlainTables) {
  CostTable plain = table_of(std::vector<std::string>(8, "layer"));
  MegatronExport e = export_megatron(plan_for("1f1b", 8), plain);
  EXPECT_EQ(e.layout, "Et*2|(t*2|)*2,t*2L");
  EXPECT_GE(e.notes.size(), 2u);
}

TEST(FormatsMegatron, ExpandGrammar) {
  EXPECT_EQ(expand_megatron_layout("Et*3|(tt|)*2,m|L"), (std::vector<std::string>{"Ettt", "tt", "tt", "m", "L"}));
  EXPECT_EQ(expand_megatron_layout("E, t*2 | t t |tL"), (std::vector<std::string>{"Ett", "tt", "tL"}));
  EXPECT_EQ(expand_megatron_layout("((t|)*2)*2"), (std::vector<std::string>{"t", "t", "t", "t", ""}));
  expect_input_error([] { expand_megatron_layout("Et*|L"); }, {"character 4", "repeat count"});
  expect_input_error([] { expand_megatron_layout("Ex|L"); }, {"character 2", "unknown layer symbol 'x'"});
  expect_input_error([] { expand_megatron_layout("(Et|L"); }, {"missing ')'"});
  expect_input_error([] { expand_megatron_layout("Et)|L"); }, {"unmatched ')'"});
}

TEST(FormatsMegatron, ParseDocsExampleWithKinds) {
  // DeepSeek-V3 style from Megatron's docs: PP16 x VPP2, 61 decoder layers, 1 MTP layer.
  std::vector<std::string> kinds{"embedding"};
  for (int i = 0; i < 61; ++i) kinds.push_back("moe");
  kinds.push_back("mtp");
  kinds.push_back("loss");
  MegatronLayout ml = parse_megatron_layout("Et*3|(tt|)*29,m|L", 16, kinds);
  EXPECT_EQ(ml.virtual_stages, 2);
  EXPECT_EQ(ml.partition.num_stages(), 32);
  EXPECT_EQ(ml.partition.stage_size(0), 4);   // embedding + 3 decoder layers
  EXPECT_EQ(ml.partition.stage_size(1), 2);
  EXPECT_EQ(ml.partition.stage_size(30), 1);  // the MTP layer
  EXPECT_EQ(ml.partition.stage_size(31), 1);  // the loss layer
  EXPECT_EQ(ml.partition.num_layers(), 64);
  EXPECT_EQ(ml.placement.device_stages[0], (std::vector<int>{0, 16}));
  // Without kinds the standalone L stage holds no layer of ours.
  expect_input_error([] { parse_megatron_layout("Et*3|(tt|)*29,m|L", 16); }, {"stage 31", "holds no layer"});
}

TEST(FormatsMegatron, RoundTripEveryLoopedSchedule) {
  CostTable costs = test::nemotron_costs();
  std::vector<std::string> kinds = layer_kinds(costs);
  int exported = 0;
  for (const auto& [name, plan] : test::all_builtin_plans(costs.num_layers())) {
    Placement looped = looped_placement(plan.num_devices(), plan.num_stages() / plan.num_devices());
    if (plan.placement.device_stages != looped.device_stages) continue;
    SCOPED_TRACE(name);
    MegatronExport e = export_megatron(plan, costs);
    MegatronLayout back = parse_megatron_layout(e.layout, e.pipeline_size, kinds);
    EXPECT_EQ(back.partition.bounds, plan.partition.bounds);
    EXPECT_EQ(back.placement.device_stages, plan.placement.device_stages);
    ++exported;
  }
  EXPECT_GE(exported, 2);
  // An uneven partition too.
  Plan uneven = plan_for("1f1b", 56, {10, 17, 16, 13});
  MegatronLayout back = parse_megatron_layout(export_megatron(uneven, costs).layout, 4, kinds);
  EXPECT_EQ(back.partition.sizes(), (std::vector<int>{10, 17, 16, 13}));
}

TEST(FormatsMegatron, ParseErrors) {
  std::vector<std::string> kinds = layer_kinds(test::nemotron_costs());
  expect_input_error([&] { parse_megatron_layout("Et*13|t*14|t*14|t*14L", 4, kinds); },
                     {"does not cover the model", "55 decoder (t) layers but the model has 56"});
  expect_input_error([&] { parse_megatron_layout("E|t*14|t*14|t*14|t*14L", 5, kinds); },
                     {"splits layer 0", "M+E"});
  expect_input_error([&] { parse_megatron_layout("Et*14|t*14|t*14|t*13|tL", 4, kinds); },
                     {"5 stages, not a multiple of the pipeline size 4"});
  expect_input_error([&] { parse_megatron_layout("t*14E|t*14|t*14|t*14L", 4, kinds); }, {"one E", "first"});
  expect_input_error([&] { parse_megatron_layout("Et*14|t*14|t*14|t*14", 4, kinds); }, {"one L", "last"});
  expect_input_error([&] { parse_megatron_layout("Et*14|m|t*14|t*28L", 4); }, {"follows an MTP layer"});
  expect_input_error([&] { parse_megatron_layout("Et*28||t*28L", 3); }, {"stage 1", "holds no layer"});
}

}  // namespace
}  // namespace adaptis
