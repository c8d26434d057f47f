// Micro-batches of variable-length units (unit_data.h).
#include "adaptis/executor/unit_data.h"

#include <algorithm>
#include <map>

#include "adaptis/executor/layers/rng.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis::exec {

UnitLayout unit_layout(const std::vector<WorkUnit>& units) {
  if (units.empty()) throw InputError("units: none given");
  const std::vector<std::string> problems = unit_problems(units);
  if (!problems.empty()) throw InputError(problems.front());
  UnitLayout l;
  l.units = units;
  std::map<int, std::pair<int, int>> open;  // row -> (last slice seen, id of its last document)
  long long total = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    const WorkUnit& u = units[i];
    const std::string at = "units[" + std::to_string(i) + "]";
    if (u.padded_tokens > u.tokens())
      throw InputError(at + ": padded to " + std::to_string(u.padded_tokens) +
                       " tokens; the executor runs packed documents, not padding (pack or slice instead)");
    std::vector<int> ids;
    for (size_t k = 0; k < u.docs.size(); ++k) {
      if (k == 0 && u.row >= 0 && u.slice > 0) {
        auto it = open.find(u.row);
        if (it == open.end() || it->second.first != u.slice - 1)
          throw InputError(at + ": slice " + std::to_string(u.slice) + " of row " + std::to_string(u.row) +
                           " comes before slice " + std::to_string(u.slice - 1) + " (a row's slices run in order)");
        if (u.first_doc_offset > 0) {
          const int id = it->second.second;
          ids.push_back(id);
          l.doc_length[id] += u.docs[0];
          continue;
        }
      }
      ids.push_back(static_cast<int>(l.doc_length.size()));
      l.doc_length.push_back(u.docs[k]);
    }
    if (u.row >= 0) open[u.row] = {u.slice, ids.back()};
    l.doc_ids.push_back(std::move(ids));
    l.longest_unit = std::max(l.longest_unit, u.tokens());
    total += u.tokens();
  }
  for (long long d : l.doc_length) l.longest_doc = std::max(l.longest_doc, d);
  for (const WorkUnit& u : units) l.loss_weight.push_back(double(units.size()) * double(u.tokens()) / double(total));
  return l;
}

NetConfig unit_net_config(NetConfig cfg, const UnitLayout& layout) {
  cfg.micro_batch = 1;
  cfg.seq = static_cast<int>(std::max(layout.longest_unit, layout.longest_doc));
  return cfg;
}

MicroBatchData make_unit_microbatch(const NetConfig& cfg, const UnitLayout& layout, const std::vector<int32_t>& corpus,
                                    int step, int mb) {
  if (mb < 0 || mb >= static_cast<int>(layout.units.size()))
    throw InputError("unit micro-batch " + std::to_string(mb) + " out of range [0, " +
                     std::to_string(layout.units.size()) + ")");
  const WorkUnit& u = layout.units[mb];
  MicroBatchData d;
  d.row = u.row;
  d.slice = u.slice;
  d.first_doc_offset = static_cast<int>(u.first_doc_offset);
  d.loss_weight = layout.loss_weight[mb];
  for (size_t k = 0; k < u.docs.size(); ++k) {
    const int id = layout.doc_ids[mb][k];
    const long long len = layout.doc_length[id];
    const long long from = k == 0 ? u.first_doc_offset : 0;
    d.docs.push_back(static_cast<int>(u.docs[k]));
    // Document `id`'s stream, positions [from, from + piece).
    Rng rng(mix_seed(mix_seed(cfg.seed ^ 0xD0C5EED5D0C5EED5ull, uint64_t(step)), uint64_t(id)));
    if (!corpus.empty()) {
      if (corpus.size() < size_t(len) + 1)
        throw InputError("corpus of " + std::to_string(corpus.size()) + " tokens is shorter than a document of " +
                         std::to_string(len) + " tokens + 1");
      const size_t off = size_t(rng.below(corpus.size() - size_t(len)));
      for (long long p = from; p < from + u.docs[k]; ++p) {
        for (int32_t id2 : {corpus[off + size_t(p)], corpus[off + size_t(p) + 1]})
          if (id2 < 0 || id2 >= cfg.vocab)
            throw InputError("corpus token " + std::to_string(id2) + " is outside the vocabulary [0, " +
                             std::to_string(cfg.vocab) + ")");
        d.tokens.push_back(corpus[off + size_t(p)]);
        d.targets.push_back(corpus[off + size_t(p) + 1]);
      }
    } else {
      static constexpr int kStrides[] = {1, 2, 3, 5, 7};
      const int64_t stride = kStrides[rng.below(5)];
      const int64_t start = int64_t(rng.below(uint64_t(cfg.vocab)));
      for (long long p = from; p < from + u.docs[k]; ++p) {
        d.tokens.push_back(int32_t((start + p * stride) % cfg.vocab));
        d.targets.push_back(int32_t((start + (p + 1) * stride) % cfg.vocab));
      }
    }
  }
  return d;
}

DataSource unit_data(const NetConfig& cfg, UnitLayout layout, std::vector<int32_t> corpus) {
  return [cfg, layout = std::move(layout), corpus = std::move(corpus)](int step, int mb) {
    return make_unit_microbatch(cfg, layout, corpus, step, mb);
  };
}

}  // namespace adaptis::exec
