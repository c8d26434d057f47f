// torchtitan job config export (planner/torchtitan_config.h): the keys and values torchtitan reads,
// module names per stage from the layer kinds, placements torchtitan can build, and refusals.
// (tests/interop parses these files with Python's tomllib and runs them in PyTorch.)
#include <gtest/gtest.h>

#include "adaptis/planner/plan_target.h"
#include "adaptis/planner/torchtitan_config.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

Plan builtin(const std::string& schedule, int devices, int chunks, int layers, int m = 8) {
  PlanRequest req;
  req.schedule = schedule;
  req.devices = devices;
  req.microbatches = m;
  req.stages_per_device = chunks;
  return build_plan(req, layers);
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(FormatsTorchtitan, LoopedPlanWithAdaptisProfileKinds) {
  CostTable costs = test::nemotron_costs();  // "M+E" first, "-+H" last, 56 layers
  Plan plan = builtin("interleaved-1f1b", 4, 2, costs.num_layers());
  TorchtitanOptions o;
  o.csv_path = "runs/plan.csv";
  o.microbatch_size = 2;
  o.seq_len = 4096;
  TorchtitanConfig c = export_torchtitan(plan, costs, o);
  EXPECT_EQ(c.style, "loop");
  EXPECT_EQ(c.schedule, "Interleaved1F1B");
  ASSERT_EQ(c.module_names.size(), 8u);
  EXPECT_EQ(c.module_names[0][0], "tok_embeddings");
  EXPECT_EQ(c.module_names[0][1], "layers.0");  // "M+E" is the embedding and a layer
  EXPECT_EQ(c.module_names[7].back(), "output");
  EXPECT_EQ(c.module_names[7][c.module_names[7].size() - 2], "norm");
  // Every layer once, in order, 56 layers: layers.0 .. layers.55.
  int next = 0;
  for (const auto& stage : c.module_names) {
    for (const auto& n : stage) {
      if (n.rfind("layers.", 0) == 0) {
        EXPECT_EQ(n, "layers." + std::to_string(next++));
      }
    }
  }
  EXPECT_EQ(next, 56);
  EXPECT_TRUE(has_line(c.toml, "[parallelism]"));
  EXPECT_TRUE(has_line(c.toml, "pipeline_parallel_degree = 4"));
  EXPECT_TRUE(has_line(c.toml, "pipeline_parallel_schedule = \"Interleaved1F1B\""));
  EXPECT_TRUE(has_line(c.toml, "pipeline_parallel_schedule_csv = \"runs/plan.csv\""));
  EXPECT_TRUE(has_line(c.toml, "pipeline_parallel_microbatch_size = 2"));
  EXPECT_TRUE(has_line(c.toml, "local_batch_size = 16"));  // 8 micro-batches x 2
  EXPECT_TRUE(has_line(c.toml, "seq_len = 4096"));
  EXPECT_NE(c.toml.find("torchrun --nproc_per_node=4 -m torchtitan.train --job.config_file"), std::string::npos);
}

TEST(FormatsTorchtitan, VPlacementAndOneStagePerRank) {
  CostTable costs = test::nemotron_costs();
  TorchtitanOptions o;
  o.csv_path = "p.csv";
  TorchtitanConfig v = export_torchtitan(builtin("zb-v", 4, 0, costs.num_layers()), costs, o);
  EXPECT_EQ(v.style, "v");
  EXPECT_EQ(v.schedule, "ZBVZeroBubble");
  EXPECT_NE(v.toml.find("],  # stage 7, rank 0\n"), std::string::npos) << v.toml;  // the V: rank 0 holds 0 and 7
  TorchtitanConfig one = export_torchtitan(builtin("1f1b", 2, 0, costs.num_layers()), costs, o);
  EXPECT_EQ(one.style, "loop");
  EXPECT_EQ(one.schedule, "1F1B");
  EXPECT_EQ(one.toml.find("\nseq_len ="), std::string::npos);  // unknown without a model spec: left out, with a note
  EXPECT_NE(one.toml.find("training.seq_len is not set"), std::string::npos);
}

TEST(FormatsTorchtitan, TablesWithoutEmbeddingOrHeadGetThemAtTheEnds) {
  CostTable costs;
  for (int l = 0; l < 6; ++l) {
    LayerCost c;
    c.kind = "transformer";
    c.f_ms = c.b_ms = 1;
    costs.layers.push_back(c);
  }
  Plan plan = builtin("1f1b", 2, 0, 6);
  std::vector<std::string> notes;
  auto names = torchtitan_module_names(plan, costs, &notes);
  EXPECT_EQ(names[0], (std::vector<std::string>{"tok_embeddings", "layers.0", "layers.1", "layers.2"}));
  EXPECT_EQ(names[1], (std::vector<std::string>{"layers.3", "layers.4", "layers.5", "norm", "output"}));
  EXPECT_EQ(notes.size(), 2u);
}

TEST(FormatsTorchtitan, EscapesStringsAndRefusesWhatTorchtitanCannotBuild) {
  CostTable costs = test::nemotron_costs();
  TorchtitanOptions o;
  o.csv_path = "C:\\plans\\\"odd\".csv";
  o.description = "line\nbreak";
  TorchtitanConfig c = export_torchtitan(builtin("1f1b", 4, 0, costs.num_layers()), costs, o);
  EXPECT_TRUE(has_line(c.toml, "pipeline_parallel_schedule_csv = \"C:\\\\plans\\\\\\\"odd\\\".csv\"")) << c.toml;
  EXPECT_TRUE(has_line(c.toml, "description = \"line\\nbreak\"")) << c.toml;

  PlanRequest req;
  req.schedule = "gpipe";
  req.devices = 4;
  req.placement = "1|0|2|3";
  Plan odd = build_plan(req, costs.num_layers());
  EXPECT_EQ(torchtitan_placement_style(odd.placement), "");
  test::expect_input_error([&] { export_torchtitan(odd, costs, o); },
                           {"torchtitan export", "cannot build", "the optimizer's torchtitan target"});
  o.csv_path = "";
  test::expect_input_error([&] { export_torchtitan(builtin("1f1b", 4, 0, 56), costs, o); }, {"PyTorch CSV"});
  o.csv_path = "x.csv";
  o.microbatch_size = 0;
  test::expect_input_error([&] { export_torchtitan(builtin("1f1b", 4, 0, 56), costs, o); }, {"micro-batch size"});
}

}  // namespace
}  // namespace adaptis
