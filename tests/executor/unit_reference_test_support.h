#pragma once
// The one-device reference run over variable-length units that the executor's unit tests compare
// pipelined runs against: per step the loss, each micro-batch's loss and the gradients by tensor name,
// and the trained parameters.
#include <vector>

#include "adaptis/executor/reference_trainer.h"
#include "adaptis/planner/unit.h"
#include "runtime_test_support.h"
#include "tensor_map_test_support.h"

namespace adaptis::exec::test {

struct UnitReference {
  std::vector<double> loss;
  std::vector<std::vector<double>> mb_loss;
  std::vector<TensorMap> grads;
  TensorMap params;
};

inline UnitReference unit_reference(const NetConfig& cfg, const std::vector<WorkUnit>& us, int steps, const AdamW& opt) {
  ReferenceOptions ro;
  ro.steps = steps;
  ro.opt = opt;
  ro.corpus = bundled_corpus();
  ro.units = us;
  UnitReference r;
  ReferenceRun run =
      train_reference(cfg, ro, [&](int, const StageCompute& s) { r.grads.push_back(by_name(s, s.grads())); });
  for (const auto& s : run.steps) {
    r.loss.push_back(s.loss);
    r.mb_loss.push_back(s.microbatch_loss);
  }
  r.params = by_name(*run.model, run.model->params());
  return r;
}

}  // namespace adaptis::exec::test
