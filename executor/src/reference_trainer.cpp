// Single-device reference training loop.
#include "adaptis/executor/reference_trainer.h"

#include <cmath>
#include <string>

#include "adaptis/executor/runtime.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

double l2_norm(std::span<const float> values) {
  double ss = 0;
  for (float v : values) ss += double(v) * double(v);
  return std::sqrt(ss);
}

ReferenceRun train_reference(const NetConfig& cfg, const ReferenceOptions& opts,
                             const std::function<void(int, const StageCompute&)>& on_step) {
  if (opts.steps < 0) throw InputError("reference trainer: steps must be >= 0, got " + std::to_string(opts.steps));
  ReferenceRun run;
  const bool packed = !opts.units.empty();
  const int m = packed ? static_cast<int>(opts.units.size()) : opts.microbatches;
  const DataSource data_of = packed ? unit_data(cfg, opts.corpus, opts.units) : model_data(cfg, opts.corpus);
  const std::vector<double> weights = packed ? unit_loss_weights(opts.units) : std::vector<double>{};
  run.model = StageCompute::create(cfg, 0, cfg.num_layers(), m);
  StageCompute& model = *run.model;
  for (int step = 0; step < opts.steps; ++step) {
    model.zero_grad();
    ReferenceStep rec;
    for (int mb = 0; mb < m; ++mb) {
      const MicroBatchData data = data_of(step, mb);
      model.forward(mb, data, nullptr, nullptr);
      model.backward_input(mb, data, nullptr, nullptr);
      model.backward_weight(mb);
      rec.microbatch_loss.push_back(model.loss(mb));
    }
    model.finish_backward();
    rec.loss = step_loss(rec.microbatch_loss, weights);
    rec.grad_norm = l2_norm(model.grads());
    if (on_step) on_step(step, model);
    model.step(opts.opt, step);
    run.steps.push_back(std::move(rec));
  }
  return run;
}

}  // namespace adaptis::exec
