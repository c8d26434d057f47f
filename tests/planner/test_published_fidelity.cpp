// Fidelity against published Megatron-LM runs (samples/published/megatron-a100-runs.json), as a
// regression guard beside bench/bench_fidelity.cpp (which also runs the search and prints the
// table): every run's iteration time and every measured layer time is predicted within 15% from
// its published configuration and the cluster's one set of constants. The runs file is read, not
// copied, so a change to the cost model, the samples or the constants that breaks a row fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "adaptis/model.h"
#include "adaptis/planner.h"

namespace adaptis {
namespace {

namespace fs = std::filesystem;
const fs::path kRuns = fs::path(ADAPTIS_SOURCE_DIR) / "samples/published/megatron-a100-runs.json";

// Narayanan et al. 2021 report FLOP/s per GPU counting full recomputation:
// F = 96 B s l h^2 (1 + s/6h + V/16lh) per iteration; their iteration time is F / (GPUs x FLOP/s).
double narayanan_iteration_s(const ModelSpec& m, const ParallelConfig& p, double tflops_per_gpu) {
  double h = 0, l = 0, V = 0;
  for (const auto& layer : m.layers)
    for (const auto& c : layer.parts) {
      if (c.kind == ComponentKind::Attention) h = double(c.hidden), l += 1;
      if (c.kind == ComponentKind::LmHead) V = double(c.vocab);
    }
  const double s = double(m.seq_len), B = double(p.global_batch_size);
  const double flops = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
  return flops / (double(p.gpus()) * tflops_per_gpu * 1e12);
}

// Megatron's split: body layers evenly, the embedding with the first stage, the head with the last.
std::vector<int> megatron_partition(int num_layers, int stages) {
  std::vector<int> sizes(stages, (num_layers - 2) / stages);
  sizes.front() += 1;
  sizes.back() += 1;
  return sizes;
}

TEST(PublishedFidelity, EveryRunWithinFifteenPercent) {
  const nlohmann::json doc = read_json_file(kRuns.string());
  const fs::path dir = kRuns.parent_path();
  const Cluster cluster = load_cluster((dir / doc.at("cluster").get<std::string>()).string());
  int rows = 0;
  for (const auto& run : doc.at("runs")) {
    const std::string name = run.at("name").get<std::string>();
    const ModelSpec model = load_model_spec((dir / run.at("model").get<std::string>()).string());
    const ParallelConfig p = parallel_config_from_json(run.at("parallel"), name);
    const int v = run.value("stages_per_device", 0);
    const CostTable costs = parallel_costs(model, cluster, p);
    PlanRequest req;
    req.schedule = run.at("schedule").get<std::string>();
    req.devices = p.pp;
    req.microbatches = p.microbatches;
    req.stages_per_device = v;
    req.partition = megatron_partition(costs.num_layers(), p.pp * std::max(1, v));
    Plan plan = build_plan(req, costs.num_layers());
    plan.parallel = p;
    SimOptions so;
    so.record_gaps = false;
    const SimResult sim = simulate(plan, costs, replica_cluster(cluster, p), so);
    ASSERT_TRUE(sim.ok) << name << ": " << sim.error;
    EXPECT_FALSE(sim.oom) << name;
    const nlohmann::json& pub = run.at("published");
    const double published_s = pub.contains("tflops_per_gpu")
                                   ? narayanan_iteration_s(model, p, pub.at("tflops_per_gpu").get<double>())
                                   : pub.at("iteration_s").get<double>();
    const double predicted_s = sim.iteration_ms / 1e3;
    EXPECT_NEAR(predicted_s / published_s, 1.0, 0.15)
        << name << ": predicted " << predicted_s << " s, published " << published_s << " s";
    ++rows;
  }
  EXPECT_EQ(rows, 13);
}

// Korthikanti et al. 2022 Table 4: one 22B layer's forward and backward (input and weight
// gradients, with any recomputation) without and with sequence parallelism and recomputation.
TEST(PublishedFidelity, MeasuredLayerTimesWithinFifteenPercent) {
  const nlohmann::json doc = read_json_file(kRuns.string());
  const fs::path dir = kRuns.parent_path();
  const Cluster cluster = load_cluster((dir / doc.at("cluster").get<std::string>()).string());
  const double speed = cluster.devices.front().speed;  // costs are on a speed-1.0 device
  int rows = 0;
  double selective_b = 0, full_b = 0;
  for (const auto& entry : doc.at("layers")) {
    const std::string name = entry.at("name").get<std::string>();
    const ModelSpec model = load_model_spec((dir / entry.at("model").get<std::string>()).string());
    const ParallelConfig p = parallel_config_from_json(entry.at("parallel"), name);
    const CostTable costs = parallel_costs(model, cluster, p);
    const LayerCost& layer = costs.layers.at(1);  // the first transformer layer
    const double f = layer.f_ms / speed, b = (layer.b_ms + layer.w_ms) / speed;
    EXPECT_NEAR(f / entry.at("published").at("forward_ms").get<double>(), 1.0, 0.15) << name << ": F " << f << " ms";
    EXPECT_NEAR(b / entry.at("published").at("backward_ms").get<double>(), 1.0, 0.15) << name << ": B " << b << " ms";
    if (p.recompute == Recompute::Selective && !p.sequence_parallel) selective_b = b;
    if (p.recompute == Recompute::Full) full_b = b;
    ++rows;
  }
  EXPECT_EQ(rows, 5);
  // The ordering the paper measured: full recompute costs far more than selective.
  EXPECT_GT(full_b, 1.3 * selective_b);
}

}  // namespace
}  // namespace adaptis
