#include "explorer/lengths_source.h"

#include <algorithm>
#include <cctype>

#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis::explorer {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

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

std::string slicing_blocker(const CostTable& costs) {
  // Model specs name their layer kinds ("mamba", or a block whose name says so). Profiles that only
  // carry a type symbol ("M" is Mamba in one profile and MoE in another) cannot be told apart, so they
  // are not refused.
  for (int i = 0; i < costs.num_layers(); ++i) {
    const LayerCost& l = costs.layers[static_cast<size_t>(i)];
    if (lower(l.kind).find("mamba") != std::string::npos)
      return "layer " + std::to_string(i) + " (" + l.name + ") is a Mamba layer: its scan state would have to cross " +
             "from one slice to the next, which the cost model and the executor do not carry; pack without slicing";
  }
  return "";
}

std::vector<WorkUnit> units_for(const SequenceLengths& data, const CostTable& costs, const SequenceProcessing& p) {
  std::vector<WorkUnit> units = process_sequences(data, unit_cost_model(costs), p);  // refuses slices with slicing off
  const auto slice = std::find_if(units.begin(), units.end(), [](const WorkUnit& u) { return u.is_slice(); });
  if (slice != units.end()) {
    const std::string why = slicing_blocker(costs);
    if (!why.empty())
      throw InputError("it makes slices (unit " + std::to_string(slice - units.begin()) + ": " + describe_unit(*slice) +
                       "), but " + why);
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
