// Temporary until the model-spec loader and analytical cost model land (replaced by model_loader.cpp).
#include "adaptis/model/error.h"
#include "adaptis/model/model_loader.h"

namespace adaptis {
CostTable load_model_costs(const std::string& model_path, const Cluster&) {
  throw InputError(model_path + ": model specs are not supported in this build yet; use --costs");
}
}  // namespace adaptis
