// Single-device reference training loop.
#include "adaptis/executor/reference_trainer.h"

#include <cmath>
#include <string>

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
  run.model = StageCompute::create(cfg, 0, cfg.num_layers(), opts.microbatches);
  StageCompute& model = *run.model;
  for (int step = 0; step < opts.steps; ++step) {
    model.zero_grad();
    ReferenceStep rec;
    for (int mb = 0; mb < opts.microbatches; ++mb) {
      const MicroBatchData data = make_microbatch(cfg, opts.corpus, step, mb);
      model.forward(mb, data, nullptr, nullptr);
      model.backward_input(mb, data, nullptr, nullptr);
      model.backward_weight(mb);
      rec.microbatch_loss.push_back(model.loss(mb));
    }
    model.finish_backward();
    double sum = 0;
    for (double l : rec.microbatch_loss) sum += l;
    rec.loss = sum / opts.microbatches;
    rec.grad_norm = l2_norm(model.grads());
    if (on_step) on_step(step, model);
    model.step(opts.opt, step);
    run.steps.push_back(std::move(rec));
  }
  return run;
}

}  // namespace adaptis::exec
