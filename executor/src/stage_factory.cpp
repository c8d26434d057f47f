// The runtime's bindings to the real layer math. Kept apart from runtime.cpp so the runtime can be linked
// and tested with any StageCompute (tests use small deterministic fakes).
#include "adaptis/executor/runtime.h"

namespace adaptis::exec {

StageFactory real_stage_factory(const NetConfig& cfg) {
  return [cfg](int first_layer, int last_layer, int num_microbatches) {
    return StageCompute::create(cfg, first_layer, last_layer, num_microbatches);
  };
}

DataSource model_data(const NetConfig& cfg, std::vector<int32_t> corpus) {
  return [cfg, corpus = std::move(corpus)](int step, int mb) { return make_microbatch(cfg, corpus, step, mb); };
}

}  // namespace adaptis::exec
