#include "adaptis/model/problem_limits.h"

namespace adaptis {

const char* problem_field_name(ProblemField field) {
  switch (field) {
    case ProblemField::Layers: return "layers";
    case ProblemField::Devices: return "devices";
    case ProblemField::Microbatches: return "microbatches";
    case ProblemField::Actions: return "actions";
  }
  return "?";
}

namespace {

void check(ProblemField field, long long value, long long limit, const std::string& why) {
  if (value <= limit) return;
  throw ProblemTooLarge(field, value, limit,
                        std::to_string(value) + " is above the limit of " + std::to_string(limit) + " (" + why + ")");
}

}  // namespace

void check_problem_size(const ProblemSize& s) {
  check(ProblemField::Layers, s.layers, ProblemLimits::kLayers, "layers per model");
  check(ProblemField::Devices, s.devices, ProblemLimits::kDevices, "pipeline devices");
  check(ProblemField::Microbatches, s.microbatches, ProblemLimits::kMicrobatches, "micro-batches per iteration");
  const long long stages = s.stages > 0 ? s.stages : s.devices;
  if (s.microbatches > 0 && stages > 0) {
    // In double: a bad plan file may claim any stage count, and the product must not overflow.
    const double actions = 3.0 * static_cast<double>(stages) * static_cast<double>(s.microbatches);
    check(ProblemField::Actions, actions > 9e18 ? static_cast<long long>(9e18) : static_cast<long long>(actions),
          ProblemLimits::kActions,
          "F, B and W actions of one plan: " + std::to_string(stages) + " stages x " +
              std::to_string(s.microbatches) + " micro-batches x 3; use fewer micro-batches or stages");
  }
}

}  // namespace adaptis
