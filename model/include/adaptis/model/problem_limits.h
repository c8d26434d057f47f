#pragma once
// The largest planning problem adaptis takes on. Every command that builds, simulates or searches plans
// (simulate, compare, optimize, export, import, the explorers) checks these up front, before any work or
// allocation that grows with the input, so an absurd input ends at once with a clear error instead of
// minutes of work or gigabytes of memory. They are far above any real pipeline (a few hundred layers,
// at most a few thousand pipeline ranks, hundreds of micro-batches) and leave room for synthetic tests.
// In the model library so that its loaders (the model spec's layer count) share the same numbers.
#include <string>

#include "adaptis/model/error.h"
#include "adaptis/model/limits.h"

namespace adaptis {

struct ProblemLimits {
  static constexpr long long kLayers = kMaxLayers;    // layers of the model (cost table rows; limits.h)
  static constexpr long long kDevices = 4096;         // pipeline devices (cluster size)
  static constexpr long long kMicrobatches = 16384;   // micro-batches per iteration
  // F, B and W actions of one plan (stages x micro-batches x 3): what the simulator's time and memory grow
  // with (about 200 bytes and a microsecond each, so one simulation of the largest plan stays under a
  // second and a few hundred MB).
  static constexpr long long kActions = 1000000;
};

// Which size is over its limit: the library names the field, the caller maps it to its flag or file.
enum class ProblemField { Layers, Devices, Microbatches, Actions };
const char* problem_field_name(ProblemField field);  // "layers", "devices", "microbatches", "actions"

class ProblemTooLarge : public InputError {
 public:
  ProblemTooLarge(ProblemField field, long long value, long long limit, const std::string& detail)
      : InputError(problem_field_name(field), detail),
        field(field), value(value), limit(limit), detail(detail) {}
  ProblemField field;
  long long value, limit;
  std::string detail;  // the message without the field name: "100000 is above the limit of 65536 (...)"
};

// The sizes known so far; 0 = not known (not checked).
struct ProblemSize {
  long long layers = 0;
  long long devices = 0;
  long long microbatches = 0;
  long long stages = 0;  // for the action count (devices when 0)
};

// Throws ProblemTooLarge for the first size over its limit, e.g. "microbatches: 100000 is above the
// limit of 65536". The action count is checked when micro-batches and stages (or devices) are known.
void check_problem_size(const ProblemSize& size);

}  // namespace adaptis
