// Refusing slices on models whose layers carry state from token to token (unit_slicing.h).
#include "adaptis/planner/unit_slicing.h"

#include <algorithm>
#include <cctype>

#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis {

namespace {

bool names_mamba(std::string kind) {
  for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kind.find("mamba") != std::string::npos;
}

}  // namespace

bool cannot_run_slices(const LayerCost& layer) { return layer.recurrent || names_mamba(layer.kind); }

std::string slicing_blocker(const CostTable& costs) {
  for (int i = 0; i < costs.num_layers(); ++i) {
    const LayerCost& l = costs.layers[static_cast<size_t>(i)];
    if (!cannot_run_slices(l)) continue;
    return std::string("layer ") + std::to_string(i) + " ('" + l.name + "', kind '" + l.kind +
           "') holds a Mamba layer, whose scan state would have to cross from one slice to the next, which the cost "
           "model and the executor do not carry; pack without slicing";
  }
  return "";
}

std::string slices_problem(const std::vector<WorkUnit>& units, const CostTable& costs) {
  const auto slice = std::find_if(units.begin(), units.end(), [](const WorkUnit& u) { return u.is_slice(); });
  if (slice == units.end()) return "";
  const std::string why = slicing_blocker(costs);
  if (why.empty()) return "";
  return std::string("unit ") + std::to_string(slice - units.begin()) + " (" + describe_unit(*slice) + ") is a slice, but " + why;
}

void check_slices_runnable(const std::vector<WorkUnit>& units, const CostTable& costs) {
  if (const std::string why = slices_problem(units, costs); !why.empty())
    throw InputError("processing", "it makes slices: " + why);
}

}  // namespace adaptis
