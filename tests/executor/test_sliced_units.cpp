// Sliced sequences on the executor: slice k of a row attends to the keys and values its earlier slices
// computed (kept on the stage from their F), and its B sends their gradient back before their own B runs.
//
// Against the single-device run over the same rows unsliced, the forward is the same computation (each
// query attends to the same keys in the same order), so every token's loss is bit for bit the same; the
// gradients are sums regrouped (an earlier slice's key gradient = its own queries' part + the later
// slices' part added afterwards, weight gradients summed per unit then over units), so they agree to float
// rounding: the tolerance below is relative to each tensor's largest gradient. A pipelined sliced run and
// the single-device sliced run group the sums alike and agree bitwise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "adaptis/executor/lowering.h"
#include "adaptis/executor/reference_trainer.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "runtime_test_support.h"
#include "sliced_units_test_support.h"
#include "tensor_map_test_support.h"

namespace adaptis::exec {
namespace {

using test::sliced_model;
using test::sliced_units;
using test::unit;

std::vector<WorkUnit> unsliced_units() { return {unit({14}), unit({3, 6}), unit({4, 9})}; }

using test::TensorMap;
using test::by_name;

struct TrainedRun {
  std::vector<double> loss;
  std::vector<std::vector<double>> mb_loss;
  std::vector<TensorMap> grads;
};

TrainedRun reference(const NetConfig& cfg, const std::vector<WorkUnit>& us, int steps) {
  ReferenceOptions ro;
  ro.steps = steps;
  ro.opt.lr = 0.01f;
  ro.corpus = test::bundled_corpus();
  ro.units = us;
  TrainedRun r;
  ReferenceRun run =
      train_reference(cfg, ro, [&](int, const StageCompute& s) { r.grads.push_back(by_name(s, s.grads())); });
  for (const auto& s : run.steps) {
    r.loss.push_back(s.loss);
    r.mb_loss.push_back(s.microbatch_loss);
  }
  return r;
}

// Largest |a - b| over a tensor relative to the tensor's largest |b|.
double max_rel_diff(const TensorMap& got, const TensorMap& want, std::string* worst) {
  double out = 0;
  for (const auto& [name, w] : want) {
    const std::vector<float>& g = got.at(name);
    double scale = 0, diff = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      scale = std::max(scale, double(std::fabs(w[i])));
      diff = std::max(diff, double(std::fabs(g[i] - w[i])));
    }
    const double rel = scale > 0 ? diff / scale : diff;
    if (rel > out) {
      out = rel;
      if (worst) *worst = name;
    }
  }
  return out;
}

// Float sums regrouped: a few hundred units in the last place of the tensor's largest value at most.
constexpr double kGradTolerance = 1e-5;

// One step: after it AdamW would turn rounding-level differences of near-zero gradients into full-size
// updates (it normalises each element), so later steps are compared bitwise between sliced runs only.
TEST(SlicedUnits, SlicesEqualTheUnslicedRowsWithinRounding) {
  const NetConfig cfg = sliced_model();
  const TrainedRun whole = reference(cfg, unsliced_units(), 1);
  const TrainedRun cut = reference(cfg, sliced_units(), 1);
  ASSERT_EQ(cut.loss.size(), 1u);
  // Same token losses, summed in other groups: equal to double rounding.
  EXPECT_NEAR(cut.loss[0], whole.loss[0], 1e-12 * std::fabs(whole.loss[0]));
  // The packed unit (3, 6) is the same micro-batch in both: its loss bitwise.
  EXPECT_EQ(cut.mb_loss[0][3], whole.mb_loss[0][1]);
  // Rows 0 and 1: the slices' means weighted by their tokens give the rows' means.
  const auto& c = cut.mb_loss[0];
  EXPECT_NEAR((5 * c[0] + 5 * c[1] + 4 * c[2]) / 14, whole.mb_loss[0][0], 1e-12);
  EXPECT_NEAR((7 * c[4] + 6 * c[5]) / 13, whole.mb_loss[0][2], 1e-12);
  std::string worst;
  const double rel = max_rel_diff(cut.grads[0], whole.grads[0], &worst);
  EXPECT_LT(rel, kGradTolerance) << "worst tensor " << worst;
  std::cout << "sliced vs unsliced: largest gradient difference " << rel << " of the tensor's largest (" << worst
            << ")\n";
  EXPECT_GT(rel, 0.0) << "regrouped float sums are expected to differ somewhere (else the test compares one path)";
  // Control: without the earlier slices' keys (every slice its own document) the loss moves far beyond
  // the tolerance, so the comparison can fail.
  const TrainedRun alone = reference(cfg, {unit({5}), unit({5}), unit({4}), unit({3, 6}), unit({4, 3}), unit({6})}, 1);
  EXPECT_GT(std::fabs(alone.loss[0] - whole.loss[0]), 1e-4);
}

TEST(SlicedUnits, PipelinedSlicesMatchTheSingleDeviceSlicedRunBitwise) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = sliced_units();
  const TrainedRun ref = reference(cfg, us, 2);
  int ran = 0;
  std::string refused;
  for (const std::string schedule : {"seq1f1b", "terapipe", "1f1b", "gpipe"}) {
    for (int devices : {2, 3}) {
      PlanRequest req;
      req.schedule = schedule;
      req.devices = devices;
      req.units = us;
      Plan plan;
      try {
        plan = build_plan(req, cfg.num_layers());
      } catch (const InputError& e) {
        refused += schedule + " on " + std::to_string(devices) + ": " + e.what() + "\n";
        continue;
      }
      SCOPED_TRACE(schedule + " on " + std::to_string(devices) + " devices");
      RuntimeOptions ro;
      ro.optimizer.lr = 0.01f;
      PipelineRuntime rt(lower_plan(plan), real_stage_factory(cfg), make_mailbox_transport(plan.num_devices()), ro);
      const DataSource data = unit_data(cfg, test::bundled_corpus(), us);
      for (int step = 0; step < 2; ++step) {
        const StepResult r = rt.run_step(step, data);
        EXPECT_EQ(r.loss, ref.loss[size_t(step)]) << "step " << step;
        EXPECT_EQ(r.mb_losses, ref.mb_loss[size_t(step)]) << "step " << step;
        const TensorMap got = by_name(rt.grads());
        for (const auto& [name, want] : ref.grads[size_t(step)]) {
          ASSERT_EQ(got.at(name).size(), want.size()) << name;
          EXPECT_EQ(0, std::memcmp(got.at(name).data(), want.data(), want.size() * sizeof(float)))
              << name << " step " << step;
        }
      }
      ++ran;
    }
  }
  EXPECT_GE(ran, 2) << "schedules refused:\n" << refused;
  std::cout << ran << " sliced pipelines ran; refused:\n" << refused;
}

TEST(SlicedUnits, ABackwardBeforeTheLaterSlicesIsRefused) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = {unit({6}, 0, 0), unit({6}, 0, 1, 6)};
  auto stage = StageCompute::create(cfg, 0, cfg.num_layers(), 2);
  const MicroBatchData d0 = make_unit_microbatch(cfg, {}, 0, us, 0), d1 = make_unit_microbatch(cfg, {}, 0, us, 1);
  EXPECT_EQ(d1.first_pos, 6);
  EXPECT_EQ(d1.prev_slice_mb, 0);
  EXPECT_EQ(d0.next_slice_mb, 1);
  EXPECT_EQ(d1.next_slice_mb, -1);
  // F of slice 1 before slice 0's F: its keys are not there.
  EXPECT_THROW(stage->forward(1, d1, nullptr, nullptr), std::logic_error);
  auto fresh = StageCompute::create(cfg, 0, cfg.num_layers(), 2);
  fresh->forward(0, d0, nullptr, nullptr);
  fresh->forward(1, d1, nullptr, nullptr);
  try {
    fresh->backward_input(0, d0, nullptr, nullptr);
    ADD_FAILURE() << "B of slice 0 before B of slice 1 must be refused";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("before the B of 1 later slice(s)"), std::string::npos) << e.what();
  }
}

// Which micro-batches a later slice reads: the slices whose last document the row's next slice continues,
// not a row's last slice, not a packed unit, not a slice whose row is cut between two documents.
TEST(SlicedUnits, EachSliceKnowsWhetherTheNextSliceReadsIt) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = sliced_units();
  std::vector<int> next;
  for (int u = 0; u < int(us.size()); ++u) next.push_back(make_unit_microbatch(cfg, {}, 0, us, u).next_slice_mb);
  EXPECT_EQ(next, (std::vector<int>{1, 2, -1, -1, 5, -1}));
  const std::vector<WorkUnit> between = {unit({4}, 0, 0), unit({5}, 0, 1)};  // slice 1 starts a new document
  EXPECT_EQ(make_unit_microbatch(cfg, {}, 0, between, 0).next_slice_mb, -1);
  EXPECT_EQ(make_unit_microbatch(cfg, {}, 0, between, 1).prev_slice_mb, -1);
}

TEST(SlicedUnits, LayersThatCannotBeSlicedAreRefusedByKind) {
  const std::vector<WorkUnit> us = {unit({6}, 0, 0), unit({6}, 0, 1, 6)};
  NetConfig with_mamba = sliced_model();
  with_mamba.layers = make_net_config({LayerType::Attention, LayerType::Mamba}).layers;
  NetConfig with_moe = sliced_model();
  with_moe.layers = make_net_config({LayerType::Attention, LayerType::Moe}).layers;
  for (const auto& [cfg, kind] : {std::pair{with_mamba, std::string("mamba")}, std::pair{with_moe, std::string("moe")}}) {
    try {
      check_units_runnable(cfg, us, {});
      ADD_FAILURE() << kind << " layers must be refused on slices";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("has " + kind + " layers, which the executor cannot run on slices"),
                std::string::npos)
          << e.what();
    }
  }
  // The stage itself refuses a continuing slice on a Mamba layer before any layer runs.
  auto stage = StageCompute::create(with_mamba, 0, with_mamba.num_layers(), 2);
  const MicroBatchData d1 = make_unit_microbatch(with_mamba, {}, 0, us, 1);
  try {
    stage->forward(1, d1, nullptr, nullptr);
    ADD_FAILURE() << "a Mamba stage must refuse a continuing slice";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("(mamba) cannot run slices"), std::string::npos) << e.what();
  }
  // Packed units without slices still run on both.
  EXPECT_NO_THROW(check_units_runnable(with_mamba, {unit({6, 6})}, {}));
  EXPECT_NO_THROW(check_units_runnable(with_moe, {unit({6, 6})}, {}));
}

TEST(SlicedUnits, MalformedSliceDataIsRefused) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = {unit({6}, 0, 0), unit({6}, 0, 1, 6)};
  auto stage = StageCompute::create(cfg, 0, cfg.num_layers(), 2);
  const MicroBatchData d0 = make_unit_microbatch(cfg, {}, 0, us, 0);
  stage->forward(0, d0, nullptr, nullptr);
  MicroBatchData d1 = make_unit_microbatch(cfg, {}, 0, us, 1);
  MicroBatchData bad = d1;
  bad.first_pos = 4;  // the previous slice holds 6 tokens of the document
  EXPECT_THROW(stage->forward(1, bad, nullptr, nullptr), InputError);
  bad = d1;
  bad.prev_slice_mb = -1;
  EXPECT_THROW(stage->forward(1, bad, nullptr, nullptr), InputError);
  bad = d1;
  bad.first_pos = 12;  // 12 + 6 positions > seq 16
  EXPECT_THROW(stage->forward(1, bad, nullptr, nullptr), InputError);
  bad = d1;
  bad.next_slice_mb = 1;  // itself
  test::expect_input_error([&] { stage->forward(1, bad, nullptr, nullptr); },
                           "micro-batch 1: next_slice_mb 1 says a later slice continues its last document");
  bad.next_slice_mb = -2;
  test::expect_input_error([&] { stage->forward(1, bad, nullptr, nullptr); },
                           "micro-batch 1: next_slice_mb must be >= 0 (or -1 for no next slice), got -2");
  MicroBatchData equal;  // an equal micro-batch (no seq_lens) has no slices
  equal.next_slice_mb = 0;
  test::expect_input_error([&] { (void)sequence_spans(cfg, equal, 1); }, "which needs seq_lens");
  // A document whose slices run past the model's positions is refused up front, naming the unit.
  try {
    check_units_runnable(cfg, {unit({10}, 0, 0), unit({10}, 0, 1, 10)}, {});
    ADD_FAILURE() << "a 20-token document on a 16-position model must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("units[1].docs[0]: a document of 20 tokens is longer than the model's seq = 16"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace adaptis::exec
