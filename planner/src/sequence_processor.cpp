// Packing, slicing and ordering of sequences into units (sequence_processor.h).
#include "adaptis/planner/sequence_processor.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis {

namespace {

struct ModeName {
  PackingMode mode;
  const char* name;
};
constexpr ModeName kModes[] = {{PackingMode::Pad, "pad"},
                               {PackingMode::PackTokens, "pack-tokens"},
                               {PackingMode::Pack, "pack"},
                               {PackingMode::Slice, "slice"},
                               {PackingMode::Elastic, "elastic"}};
struct OrderName {
  UnitOrder order;
  const char* name;
};
constexpr OrderName kOrders[] = {{UnitOrder::AsBuilt, "as-built"},
                                 {UnitOrder::LongFirst, "long-first"},
                                 {UnitOrder::ShortFirst, "short-first"},
                                 {UnitOrder::Interleaved, "interleaved"}};

// Causal pairs of the token range [a, b) of a row of documents.
double range_pairs(const std::vector<long long>& docs, long long a, long long b) {
  double q = 0;
  long long start = 0;
  for (long long d : docs) {
    const long long end = start + d;
    const long long lo = std::max(a, start), hi = std::min(b, end);
    if (hi > lo) {
      const double l = double(hi - lo), o = double(lo - start);
      q += l * o + 0.5 * l * l;
    }
    start = end;
    if (start >= b) break;
  }
  return q;
}

// Variable cost (no per-unit fixed part) of a whole sequence of s tokens.
double sequence_cost(const UnitCostModel& c, long long s) {
  return c.per_token_ms * double(s) + c.per_pair_ms * 0.5 * double(s) * double(s);
}

// Slices of one long sequence: equal cost, at least `min_k`, none longer than `budget`.
std::vector<long long> slice_sequence(long long s, int min_k, long long budget, const UnitCostModel& c,
                                      long long multiple) {
  // The longest slice (the first: it sees the fewest earlier keys) shrinks as k grows: the smallest k
  // whose slices all fit the budget, by bisection.
  auto split = [&](long long k) {
    return equal_cost_split({s}, static_cast<int>(k), c.per_token_ms, c.per_pair_ms, multiple);
  };
  auto fits = [&](const std::vector<long long>& lens) { return *std::max_element(lens.begin(), lens.end()) <= budget; };
  long long lo = std::max<long long>(min_k, (s + budget - 1) / budget), hi = lo;
  std::vector<long long> best = split(lo);
  if (fits(best)) return best;
  // Equal cost makes later slices shorter; under a tight budget on a long sequence (attention pairs
  // dominating) it would need ever more, ever tinier slices (a 128k sequence at 2048 tokens: ~170k
  // slices). Past twice the fewest slices the budget allows, slices of equal tokens are taken instead.
  const long long k_max = std::min(s, 2 * lo);
  while (hi < k_max) {  // grow until it fits
    hi = std::min(k_max, hi * 2);
    best = split(hi);
    if (fits(best)) break;
  }
  if (!fits(best)) {
    for (long long k = lo; k <= s; ++k) {  // equal tokens, rounded to the multiple, the first takes the rest
      const long long base = std::max<long long>(multiple, (s / k) / multiple * multiple);
      if (base * (k - 1) >= s) break;
      std::vector<long long> lens(static_cast<size_t>(k), base);
      lens[0] = s - base * (k - 1);
      if (fits(lens)) return lens;
    }
    return best;  // the budget is below the multiple: the equal-cost split as it is
  }
  while (hi - lo > 1) {  // lo does not fit, hi does
    const long long mid = lo + (hi - lo) / 2;
    std::vector<long long> lens = split(mid);
    if (fits(lens)) hi = mid, best = std::move(lens);
    else lo = mid;
  }
  return best;
}

// A group of units that stays together when ordering: one unit, or every slice of a row.
struct Group {
  std::vector<WorkUnit> units;
  double cost = 0;
};

// Items (sequence indices) into bins of at most `budget` tokens, each into the bin with the least
// weight that has room (opening bins as needed), heaviest item first: longest-processing-time packing.
std::vector<std::vector<long long>> lpt_pack(const std::vector<long long>& items, const std::vector<double>& weight,
                                             long long budget, int bins) {
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return weight[a] > weight[b]; });
  std::vector<std::vector<long long>> out(static_cast<size_t>(std::max(bins, 0)));
  std::vector<double> load(out.size(), 0.0);
  std::vector<long long> fill(out.size(), 0);
  for (size_t i : order) {
    int best = -1;
    for (size_t k = 0; k < out.size(); ++k)
      if (fill[k] + items[i] <= budget && (best < 0 || load[k] < load[best] - 1e-12)) best = static_cast<int>(k);
    if (best < 0) {
      out.emplace_back();
      load.push_back(0);
      fill.push_back(0);
      best = static_cast<int>(out.size()) - 1;
    }
    out[best].push_back(items[i]);
    load[best] += weight[i];
    fill[best] += items[i];
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const auto& b) { return b.empty(); }), out.end());
  return out;
}

}  // namespace

const char* packing_mode_name(PackingMode m) {
  for (const auto& k : kModes)
    if (k.mode == m) return k.name;
  return "?";
}

PackingMode parse_packing_mode(const std::string& name) {
  std::string all;
  for (const auto& k : kModes) {
    if (name == k.name) return k.mode;
    all += std::string(all.empty() ? "" : ", ") + k.name;
  }
  throw InputError("packing mode '" + name + "': unknown (choose from: " + all + ")");
}

const char* unit_order_name(UnitOrder o) {
  for (const auto& k : kOrders)
    if (k.order == o) return k.name;
  return "?";
}

UnitOrder parse_unit_order(const std::string& name) {
  std::string all;
  for (const auto& k : kOrders) {
    if (name == k.name) return k.order;
    all += std::string(all.empty() ? "" : ", ") + k.name;
  }
  throw InputError("unit order '" + name + "': unknown (choose from: " + all + ")");
}

std::string describe(const SequenceProcessing& p) {
  std::string s = packing_mode_name(p.mode);
  if (p.unit_tokens > 0) s += ", <=" + std::to_string(p.unit_tokens) + " tok/unit";
  if (p.units > 0 && (p.mode == PackingMode::Pack || p.mode == PackingMode::PackTokens || p.mode == PackingMode::Elastic ||
                      p.mode == PackingMode::Slice))
    s += ", >=" + std::to_string(p.units) + " units";
  if (p.mode == PackingMode::Slice) s += ", " + std::to_string(p.slices) + " slices/row";
  if (p.order != UnitOrder::AsBuilt) s += std::string(", ") + unit_order_name(p.order);
  if (!p.allow_slicing) s += ", no slicing";
  return s;
}

std::vector<long long> equal_cost_split(const std::vector<long long>& docs, int k, double alpha, double beta,
                                        long long multiple) {
  long long total = 0;
  for (long long d : docs) {
    if (d < 1) throw InputError("equal-cost split: document lengths must be >= 1 token");
    total += d;
  }
  if (k < 1) throw InputError("equal-cost split: needs at least one slice, got " + std::to_string(k));
  if (total < k)
    throw InputError("equal-cost split: a row of " + std::to_string(total) + " tokens cannot be cut into " +
                     std::to_string(k) + " slices");
  if (multiple < 1) multiple = 1;
  auto cost = [&](long long a, long long b) { return alpha * double(b - a) + beta * range_pairs(docs, a, b); };
  const double target = cost(0, total) / k;
  std::vector<long long> lens;
  long long end = total;
  for (int i = 0; i + 1 < k; ++i) {
    const long long room = end - (k - 1 - i);  // leave a token for every slice still to cut
    // The longest slice ending at `end` (a multiple of `multiple`) that costs at most the target.
    long long lo = 0, hi = room / multiple;
    while (lo < hi) {
      const long long mid = (lo + hi + 1) / 2;
      if (cost(end - mid * multiple, end) <= target) lo = mid;
      else hi = mid - 1;
    }
    long long x = lo * multiple;
    if (x < 1) x = std::min<long long>(room, multiple);  // even one multiple is over the target
    x = std::max<long long>(1, std::min(x, room));
    lens.push_back(x);
    end -= x;
  }
  lens.push_back(end);
  std::reverse(lens.begin(), lens.end());
  return lens;
}

std::vector<WorkUnit> slice_row(const std::vector<long long>& docs, const std::vector<long long>& lengths, int row) {
  std::vector<WorkUnit> out;
  size_t d = 0;
  long long used = 0;  // tokens of docs[d] already in earlier slices
  for (size_t k = 0; k < lengths.size(); ++k) {
    WorkUnit u;
    u.row = row;
    u.slice = static_cast<int>(k);
    u.first_doc_offset = used;
    long long need = lengths[k];
    while (need > 0 && d < docs.size()) {
      const long long take = std::min(need, docs[d] - used);
      u.docs.push_back(take);
      need -= take;
      used += take;
      if (used == docs[d]) ++d, used = 0;
    }
    out.push_back(std::move(u));
  }
  return out;
}

void order_units(std::vector<WorkUnit>& units, const UnitCostModel& cost, UnitOrder order) {
  // Groups: a unit, or the run of consecutive units that are slices of one row.
  std::vector<Group> groups;
  for (const WorkUnit& u : units) {
    if (!groups.empty() && u.row >= 0 && groups.back().units.back().row == u.row) {
      groups.back().units.push_back(u);
    } else {
      groups.push_back({{u}, 0});
    }
    groups.back().cost += cost.ms(u);
  }
  if (order == UnitOrder::LongFirst || order == UnitOrder::Interleaved)
    std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.cost > b.cost; });
  else if (order == UnitOrder::ShortFirst)
    std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.cost < b.cost; });
  if (order == UnitOrder::Interleaved) {
    std::vector<Group> mixed;
    size_t lo = 0, hi = groups.size();
    while (lo < hi) {
      mixed.push_back(std::move(groups[lo++]));
      if (lo < hi) mixed.push_back(std::move(groups[--hi]));
    }
    groups.swap(mixed);
  }
  units.clear();
  // Rows renumbered in order of appearance.
  std::map<int, int> rows;
  for (auto& g : groups)
    for (auto& u : g.units) {
      if (u.row >= 0) {
        auto it = rows.find(u.row);
        if (it == rows.end()) it = rows.emplace(u.row, static_cast<int>(rows.size())).first;
        u.row = it->second;
      }
      units.push_back(std::move(u));
    }
}

std::vector<WorkUnit> process_sequences(const SequenceLengths& data, const UnitCostModel& cost,
                                    const SequenceProcessing& p) {
  check_sequence_lengths(data, true);
  const long long budget = p.unit_tokens > 0 ? p.unit_tokens : data.context;
  if (budget > data.context)
    throw InputError("unit tokens: " + std::to_string(budget) + " is above the context of " + std::to_string(data.context) +
                     " tokens (a unit holds at most the context)");
  if (p.units < 0) throw InputError("units: must be >= 0 (0 = as few as the token budget allows)");
  if (p.mode == PackingMode::Slice && p.slices < 1) throw InputError("slices: must be >= 1 per row");
  if (p.slice_multiple < 1) throw InputError("slice multiple: must be >= 1 token");
  const long long limit = p.mode == PackingMode::Pad ? data.context : budget;
  for (size_t i = 0; i < data.lengths.size(); ++i)
    if (!p.allow_slicing && data.lengths[i] > limit)
      throw InputError(data.where(i) + ": a sequence of " + std::to_string(data.lengths[i]) +
                       " tokens is longer than the " + (limit == data.context ? "context" : "unit budget") + " of " +
                       std::to_string(limit) + " tokens and slicing is off (allow slicing, or raise it)");

  std::vector<WorkUnit> units;
  int next_row = 0;
  auto add_slices = [&](const std::vector<long long>& docs, const std::vector<long long>& lens) {
    std::vector<WorkUnit> s = slice_row(docs, lens, next_row++);
    if (s.size() == 1) s[0].row = -1, s[0].slice = 0;  // one slice is a whole row
    for (auto& u : s) units.push_back(std::move(u));
  };
  const long long total = data.total_tokens();
  const int min_bins = static_cast<int>(std::max<long long>(p.units, (total + budget - 1) / budget));

  if (p.mode == PackingMode::Pad) {
    for (long long s : data.lengths) {
      if (s <= data.context) {
        WorkUnit u;
        u.docs = {s};
        u.padded_tokens = data.context;
        units.push_back(std::move(u));
      } else {
        add_slices({s}, slice_sequence(s, 1, data.context, cost, p.slice_multiple));
      }
    }
  } else {
    // Which sequences are sliced on their own, and into how many.
    std::vector<long long> shorts;
    std::vector<std::pair<long long, std::vector<long long>>> sliced;
    double target = 0;
    if (p.mode == PackingMode::Elastic) {
      double v = 0;
      for (long long s : data.lengths) v += sequence_cost(cost, s);
      target = v / std::max(1, min_bins);
    }
    for (long long s : data.lengths) {
      const bool too_long = s > budget;
      const bool too_costly = p.mode == PackingMode::Elastic && sequence_cost(cost, s) > target * (1 + 1e-9);
      if (too_long || too_costly) {
        int k = 1;
        if (too_costly) k = static_cast<int>(std::ceil(sequence_cost(cost, s) / target - 1e-9));
        sliced.push_back({s, slice_sequence(s, std::max(1, k), budget, cost, p.slice_multiple)});
      } else {
        shorts.push_back(s);
      }
    }
    int slice_units = 0;
    for (const auto& sl : sliced) slice_units += static_cast<int>(sl.second.size());
    std::vector<double> weight(shorts.size());
    const bool by_tokens = p.mode == PackingMode::PackTokens || p.mode == PackingMode::Slice;
    for (size_t i = 0; i < shorts.size(); ++i)
      weight[i] = by_tokens ? double(shorts[i]) : sequence_cost(cost, shorts[i]);
    long long short_tokens = 0;
    for (long long s : shorts) short_tokens += s;
    int bins = static_cast<int>((short_tokens + budget - 1) / budget);
    if (p.mode == PackingMode::Elastic) bins = std::max(bins, min_bins - slice_units);
    else bins = std::max(bins, p.units > 0 ? p.units - slice_units : 0);
    std::vector<std::vector<long long>> packs = shorts.empty() ? std::vector<std::vector<long long>>{}
                                                               : lpt_pack(shorts, weight, budget, std::max(bins, 1));
    for (auto& docs : packs) {
      if (p.mode == PackingMode::Slice) {
        long long row_tokens = 0;
        for (long long d : docs) row_tokens += d;
        const int k = static_cast<int>(std::min<long long>(p.slices, row_tokens));
        add_slices(docs, equal_cost_split(docs, k, cost.per_token_ms, cost.per_pair_ms, p.slice_multiple));
      } else {
        WorkUnit u;
        u.docs = std::move(docs);
        units.push_back(std::move(u));
      }
    }
    for (auto& [s, lens] : sliced) {
      if (p.mode == PackingMode::Slice && static_cast<int>(lens.size()) < p.slices && s >= p.slices)
        lens = slice_sequence(s, p.slices, budget, cost, p.slice_multiple);
      add_slices({s}, lens);
    }
  }
  order_units(units, cost, p.order);
  // Slice and elastic processing cut rows by design, whatever the budget; with slicing off that is refused
  // rather than quietly done.
  if (!p.allow_slicing)
    if (const auto slice = std::find_if(units.begin(), units.end(), [](const WorkUnit& u) { return u.is_slice(); });
        slice != units.end())
      throw InputError("slicing is off, but " + std::string(packing_mode_name(p.mode)) + " makes slices (unit " +
                       std::to_string(slice - units.begin()) + ": " + describe_unit(*slice) +
                       "); turn slicing on, or choose pad, pack-tokens or pack");
  return units;
}

}  // namespace adaptis
