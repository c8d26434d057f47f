// The runtime's bindings to the real layer math. Kept apart from runtime.cpp so the runtime can be linked
// and tested with any StageCompute (tests use small deterministic fakes).
#include "adaptis/executor/runtime.h"

#include <string>

#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

StageFactory real_stage_factory(const NetConfig& cfg) {
  return [cfg](int first_layer, int last_layer, int num_microbatches) {
    return StageCompute::create(cfg, first_layer, last_layer, num_microbatches);
  };
}

DataSource model_data(const NetConfig& cfg, std::vector<int32_t> corpus) {
  return [cfg, corpus = std::move(corpus)](int step, int mb) { return make_microbatch(cfg, corpus, step, mb); };
}

DataSource unit_data(const NetConfig& cfg, std::vector<int32_t> corpus, std::vector<WorkUnit> units) {
  check_units_runnable(cfg, units, corpus);
  return [cfg, corpus = std::move(corpus), units = std::move(units)](int step, int mb) {
    if (mb < 0 || mb >= static_cast<int>(units.size()))
      throw InputError("micro-batch " + std::to_string(mb) + " has no unit (the plan has " +
                       std::to_string(units.size()) + " units)");
    return make_unit_microbatch(cfg, corpus, step, units, mb);
  };
}

}  // namespace adaptis::exec
