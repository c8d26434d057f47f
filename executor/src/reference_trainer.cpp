// Single-device reference training loop.
#include "adaptis/executor/reference_trainer.h"

#include <cmath>
#include <string>

#include "adaptis/executor/runtime.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

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
  SliceLinks links;
  if (packed) links = slice_links(opts.units);
  links.prev.resize(size_t(m), -1);
  links.next.resize(size_t(m), -1);
  run.model = StageCompute::create(cfg, 0, cfg.num_layers(), m);
  StageCompute& model = *run.model;
  for (int step = 0; step < opts.steps; ++step) {
    model.zero_grad();
    ReferenceStep rec;
    rec.microbatch_loss.assign(size_t(m), 0.0);
    for (int mb = 0; mb < m; ++mb) {
      const MicroBatchData data = data_of(step, mb);
      model.forward(mb, data, nullptr, nullptr);
      rec.microbatch_loss[size_t(mb)] = model.loss(mb);
      // A slice's B waits for the later slices of its row (they send back the gradient of its keys and
      // values): after a row's last F, its slices run B and W from the last to the first.
      if (links.next[size_t(mb)] >= 0) continue;
      for (int k = mb; k >= 0; k = links.prev[size_t(k)]) {
        model.backward_input(k, data_of(step, k), nullptr, nullptr);
        model.backward_weight(k);
      }
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
