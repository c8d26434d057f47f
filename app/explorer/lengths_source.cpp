#include "explorer/lengths_source.h"

#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/planner/unit_slicing.h"
#include "adaptis/planner/units.h"

namespace adaptis::explorer {

namespace {

constexpr PackingMode kModes[] = {PackingMode::Pad, PackingMode::PackTokens, PackingMode::Pack, PackingMode::Slice,
                                  PackingMode::Elastic};
constexpr UnitOrder kOrders[] = {UnitOrder::AsBuilt, UnitOrder::LongFirst, UnitOrder::ShortFirst,
                                 UnitOrder::Interleaved};

template <typename T, size_t N>
T cycle(const T (&all)[N], T now, int dir) {
  size_t i = 0;
  while (i < N && all[i] != now) ++i;
  const int n = static_cast<int>(N);
  return all[static_cast<size_t>(((static_cast<int>(i) + (dir < 0 ? -1 : 1)) % n + n) % n)];
}

}  // namespace

std::string describe(const LengthOptions& o) {
  const std::string context = o.context != 0 ? std::string("context ") + std::to_string(o.context) + " tokens"
                                              : std::string("the data's own context");
  const std::string batch = o.global_batch_tokens != 0
                                ? std::string("global batch ") + std::to_string(o.global_batch_tokens) + " tokens"
                                : std::string("the data's own global batch");
  return context + ", " + batch;
}

std::vector<WorkUnit> units_for(const SequenceLengths& data, const CostTable& costs, const SequenceProcessing& p) {
  std::vector<WorkUnit> units = process_sequences(data, unit_cost_model(costs), p);  // refuses slices with slicing off
  try {
    check_slices_runnable(units, costs);
  } catch (const InputError& e) {  // the explorers name the processing in their own message
    throw InputError(e.problem());
  }
  return units;
}

SequenceProcessing next_packing_mode(SequenceProcessing p, int dir) {
  p.mode = cycle(kModes, p.mode, dir);
  return p;
}

SequenceProcessing next_unit_order(SequenceProcessing p, int dir) {
  p.order = cycle(kOrders, p.order, dir);
  return p;
}

SequenceProcessing step_unit_tokens(SequenceProcessing p, int dir, long long context) {
  const long long now = p.unit_tokens > 0 ? p.unit_tokens : context;
  long long next = dir < 0 ? std::max(1LL, now / 2) : now * 2;
  if (next >= context) next = 0;  // the context: the most a unit holds
  p.unit_tokens = next;
  return p;
}

SequenceProcessing step_slices(SequenceProcessing p, int dir) {
  p.slices = std::clamp(p.slices + (dir < 0 ? -1 : 1), 1, 64);
  return p;
}

SequenceProcessing step_min_units(SequenceProcessing p, int dir, int current) {
  // 0 = as few as the budget allows, so stepping starts from the count the plan has now.
  const int base = p.units > 0 ? p.units : std::max(1, current);
  p.units = dir < 0 ? base / 2 : std::min(base * 2, 1 << 16);
  return p;
}

}  // namespace adaptis::explorer
