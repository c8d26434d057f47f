// Slicing is refused on models with a layer that carries state from token to token (unit_slicing.h): the
// layer is told by its structure (a Mamba mixer among a block's components), not by its name, and cost
// files keep the flag (files from before it still read, as not recurrent).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_model.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/error.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/model/parallel_config.h"
#include "adaptis/model/parallel_costs.h"
#include "adaptis/model/recompute.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/unit_slicing.h"
#include "units_test_support.h"

namespace adaptis {
namespace {

// An attention + MLP transformer, then a hybrid block of attention and a Mamba-2 mixer whose name and kind
// say nothing of Mamba.
ModelSpec hybrid_spec() {
  const nlohmann::json doc = nlohmann::json::parse(R"({
    "format": "adaptis-model/1", "name": "hybrid-slicing-test", "dtype": "bf16",
    "seq_len": 2048, "micro_batch_size": 1, "global_batch_size": 8,
    "defaults": {"hidden": 512, "norm": "rmsnorm", "vocab": 32000, "heads": 8, "kv_heads": 8, "head_dim": 64},
    "layers": [
      {"kind": "embedding"},
      {"kind": "transformer", "ffn_hidden": 2048},
      {"kind": "block", "name": "mixer.0", "parts": [
        {"kind": "attention"},
        {"kind": "mamba", "mamba_version": 2, "mamba_heads": 16, "mamba_head_dim": 64, "groups": 1, "state": 64,
         "conv_kernel": 4, "chunk": 128}]},
      {"kind": "lm_head"}
    ]})");
  return parse_model_spec(doc, "hybrid-slicing-test.json");
}

TEST(UnitSlicing, AHybridBlockWithAMambaMixerIsRecurrentWhateverItsName) {
  const ModelSpec spec = hybrid_spec();
  ASSERT_EQ(spec.layers[2].name, "mixer.0");
  ASSERT_EQ(spec.layers[2].kind, "block");
  const CostTable costs = analytical_costs(spec, make_uniform_cluster(1).devices[0]);
  ASSERT_EQ(costs.num_layers(), 4);
  EXPECT_FALSE(costs.layers[0].recurrent);
  EXPECT_FALSE(costs.layers[1].recurrent);  // attention carries its context through keys and values
  EXPECT_TRUE(costs.layers[2].recurrent);
  EXPECT_FALSE(costs.layers[3].recurrent);
  // The parallel cost builder says the same.
  ParallelConfig p;
  p.micro_batch_size = 1;
  p.microbatches = 8;
  p.global_batch_size = 8;
  const CostTable sharded = parallel_costs(spec, make_uniform_cluster(1), p);
  EXPECT_FALSE(sharded.layers[1].recurrent);
  EXPECT_TRUE(sharded.layers[2].recurrent);
}

TEST(UnitSlicing, SlicesOfAHybridModelAreRefusedNamingTheLayer) {
  const CostTable costs = analytical_costs(hybrid_spec(), make_uniform_cluster(1).devices[0]);
  const std::string why = slicing_blocker(costs);
  EXPECT_NE(why.find("layer 2 ('mixer.0', kind 'block') holds a Mamba layer"), std::string::npos) << why;
  EXPECT_NE(why.find("pack without slicing"), std::string::npos) << why;
  // Packed units pass; a slice among them is refused, naming the unit.
  const std::vector<WorkUnit> packed = {test::packed({100, 200}), test::packed({300})};
  EXPECT_EQ(slices_problem(packed, costs), "");
  std::vector<WorkUnit> sliced = {test::packed({100})};
  for (const WorkUnit& u : slice_row({500}, {300, 200}, 0)) sliced.push_back(u);
  const std::string problem = slices_problem(sliced, costs);
  EXPECT_EQ(problem.rfind("unit 1 (", 0), 0u) << problem;
  EXPECT_NE(problem.find("is a slice, but layer 2 ('mixer.0'"), std::string::npos) << problem;
  // Without the Mamba mixer the same units may be slices.
  CostTable attention_only = costs;
  attention_only.layers[2].recurrent = false;
  EXPECT_EQ(slicing_blocker(attention_only), "");
  EXPECT_EQ(slices_problem(sliced, attention_only), "");

  // The check every caller uses throws that reason on the processing's field, in the library's words
  // (the CLI puts its --pack in front of problem()).
  EXPECT_NO_THROW(check_slices_runnable(packed, costs));
  EXPECT_NO_THROW(check_slices_runnable(sliced, attention_only));
  try {
    check_slices_runnable(sliced, costs);
    ADD_FAILURE() << "a slice of a Mamba model passed";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "processing");
    EXPECT_EQ(e.problem(), "it makes slices: " + problem);
    EXPECT_EQ(std::string(e.what()), "processing: it makes slices: " + problem);
  }
}

TEST(UnitSlicing, CostFilesKeepTheFlagAndOlderFilesReadAsNotRecurrent) {
  const CostTable costs = analytical_costs(hybrid_spec(), make_uniform_cluster(1).devices[0]);
  const nlohmann::json j = cost_table_json(costs);
  EXPECT_FALSE(j["layers"][1].contains("recurrent"));  // written only when true
  EXPECT_EQ(j["layers"][2]["recurrent"], true);
  const std::string path = ::testing::TempDir() + "/adaptis-recurrent-costs.json";
  save_cost_table(costs, path);
  const CostTable back = load_cost_table(path);
  EXPECT_FALSE(back.layers[1].recurrent);
  EXPECT_TRUE(back.layers[2].recurrent);
  EXPECT_NE(slicing_blocker(back), "");
  // A file from before the field: the block reads as not recurrent (and its name does not refuse it), while
  // a layer whose kind names Mamba still does.
  nlohmann::json old = j;
  old["layers"][2].erase("recurrent");
  old["layers"][1]["kind"] = "mamba";
  {
    std::ofstream(path) << old.dump();
  }
  const CostTable older = load_cost_table(path);
  EXPECT_FALSE(older.layers[2].recurrent);
  EXPECT_NE(slicing_blocker(older).find("layer 1 ("), std::string::npos) << slicing_blocker(older);
  // Not a boolean: refused naming the field.
  nlohmann::json bad = j;
  bad["layers"][2]["recurrent"] = "yes";
  {
    std::ofstream(path) << bad.dump();
  }
  try {
    load_cost_table(path);
    ADD_FAILURE() << "a non-boolean 'recurrent' must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layers[2]: field 'recurrent' must be true or false"), std::string::npos)
        << e.what();
  }
}

// A times-only profile ("M" is Mamba in one profile and MoE in another) completed with a spec's memory
// learns which rows are recurrent from the spec's layers.
TEST(UnitSlicing, AProfileCompletedWithASpecsMemoryLearnsWhichRowsAreRecurrent) {
  const CostTable memory = analytical_costs(hybrid_spec(), make_uniform_cluster(1).devices[0]);
  CostTable times;
  times.model = "hybrid-slicing-test";
  for (const char* kind : {"E", "*-", "M", "H"}) {
    LayerCost l;
    l.kind = kind;
    l.name = kind;
    l.f_ms = l.b_ms = 1;
    times.layers.push_back(l);
  }
  EXPECT_EQ(slicing_blocker(times), "");  // type symbols alone cannot tell
  const CostTable both = attach_memory(times, memory);
  EXPECT_FALSE(both.layers[1].recurrent);
  EXPECT_TRUE(both.layers[2].recurrent);
  EXPECT_NE(slicing_blocker(both).find("layer 2 ('M', kind 'M')"), std::string::npos) << slicing_blocker(both);
}

}  // namespace
}  // namespace adaptis
