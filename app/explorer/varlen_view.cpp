#include "explorer/varlen_view.h"

#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"
#include "common/format.h"

namespace adaptis::explorer {

VarlenView varlen_view(const Plan& plan, const SimResult& sim, const CostTable& costs, const LengthsSource& lengths) {
  VarlenView v;
  if (plan.units.empty()) return v;
  v.has_units = true;
  if (lengths.processing) v.processing = describe(*lengths.processing);
  v.can_repack = lengths.data != nullptr;

  if (const SequenceLengths* data = lengths.data.get()) {
    v.data_line = app::strf("%zu sequences, %lld tokens, context %lld, longest %lld (%s)", data->lengths.size(),
                            data->total_tokens(), data->context, data->longest(), data->origin.c_str());
    // Options left at 0 took the data's own: say which, since doubling or halving starts from it.
    const bool lines_file = std::any_of(data->lines.begin(), data->lines.end(), [](int l) { return l > 0; });
    v.context = data->context;
    v.global_batch_tokens = data->total_tokens();
    const char* own_context = lines_file ? " (the longest sequence)" : " (the data's own)";
    const char* own_batch = lines_file ? " (the whole file)" : " (the data's own)";
    v.settings_line = app::strf("context %lld tokens%s, global batch %lld tokens%s", v.context,
                                lengths.options.context > 0 ? "" : own_context, v.global_batch_tokens,
                                lengths.options.global_batch_tokens > 0 ? "" : own_batch);
    v.can_set_lengths = !lengths.spec.empty();
    const double tokens = double(data->total_tokens());
    double pairs = 0;
    for (long long s : data->lengths) pairs += 0.5 * double(s) * double(s);
    for (const LengthBin& b : length_histogram(*data)) {
      LengthBinRow r;
      r.lo = b.lo;
      r.hi = b.hi;
      r.sequences = b.sequences;
      r.tokens = b.tokens;
      r.token_share = tokens > 0 ? double(b.tokens) / tokens : 0;
      r.pair_share = pairs > 0 ? b.pairs / pairs : 0;
      v.max_bin_sequences = std::max(v.max_bin_sequences, b.sequences);
      v.bins.push_back(r);
    }
  } else {
    v.data_line = "the units came with the plan: their sequence lengths are not known here, so they cannot be re-packed";
  }

  // The cost model needs the table's reference micro-batch; a table without one still shows the
  // simulated times (the simulator had the same problem, so they are unlikely, but say why).
  UnitCostModel model;
  bool have_model = true;
  try {
    model = unit_cost_model(costs);
  } catch (const InputError& e) {
    have_model = false;
    v.cost_note = std::string("unit costs unknown: ") + e.what();
  }
  const bool simulated = sim.unit_work_ms.size() == plan.units.size();
  long long content = 0, run = 0;
  int slices = 0;
  double lo = 0, hi = 0, sum = 0;
  for (size_t i = 0; i < plan.units.size(); ++i) {
    const WorkUnit& u = plan.units[i];
    UnitRow r;
    r.unit = static_cast<int>(i);
    r.what = describe_unit(u);
    r.docs = static_cast<int>(u.docs.size());
    r.tokens = u.run_tokens();
    r.pairs = u.pairs();
    r.cost_ms = have_model ? model.ms(u) : 0;
    r.simulated_ms = simulated ? sim.unit_work_ms[i] : 0;
    r.slice = u.is_slice();
    const double c = have_model ? r.cost_ms : r.simulated_ms;
    lo = i == 0 ? c : std::min(lo, c);
    hi = std::max(hi, c);
    sum += c;
    content += u.tokens();
    run += u.run_tokens();
    slices += r.slice;
    v.units.push_back(std::move(r));
  }
  v.max_cost_ms = hi;
  const double mean = sum / double(plan.units.size());
  v.units_line = app::strf("%zu units (%d slices), %lld tokens", plan.units.size(), slices, content);
  if (run > content) v.units_line += app::strf(" + %lld padding", run - content);
  v.units_line += app::strf("; cost %s..%s (max/mean %.2f)", app::format_ms(lo).c_str(), app::format_ms(hi).c_str(),
                            mean > 0 ? hi / mean : 0.0);
  return v;
}

std::string unit_text(const Plan& plan, int mb) {
  if (mb < 0 || mb >= static_cast<int>(plan.units.size())) return "";
  return app::strf("unit %d: %s", mb, describe_unit(plan.units[static_cast<size_t>(mb)]).c_str());
}

}  // namespace adaptis::explorer
