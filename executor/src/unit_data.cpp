// Packed micro-batches for variable-length units.
#include "adaptis/executor/unit_data.h"

#include <string>

#include "adaptis/executor/layers/rng.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis::exec {

std::vector<double> unit_loss_weights(const std::vector<WorkUnit>& units) {
  long long total = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    if (units[i].tokens() < 1) throw InputError("units[" + std::to_string(i) + "]: a unit needs at least one token");
    total += units[i].tokens();
  }
  std::vector<double> w;
  for (const WorkUnit& u : units) w.push_back(double(u.tokens()) / double(total));
  return w;
}

void check_units_runnable(const NetConfig& cfg, const std::vector<WorkUnit>& units,
                          const std::vector<int32_t>& corpus) {
  if (units.empty()) throw InputError("units: the plan has no units to run");
  const std::vector<std::string> problems = unit_problems(units);
  if (!problems.empty()) throw InputError(problems.front());
  const long long capacity = (long long)cfg.micro_batch * cfg.seq;
  for (size_t i = 0; i < units.size(); ++i) {
    const WorkUnit& u = units[i];
    const std::string at = "units[" + std::to_string(i) + "]";
    if (u.padded_tokens > u.tokens())
      throw InputError(at + ": a padded unit (" + describe_unit(u) +
                       "); the executor runs packed units only (pack the sequences instead of padding them)");
    if (u.is_slice() || u.first_doc_offset > 0)
      throw InputError(at + ": " + describe_unit(u) +
                       "; the CPU executor does not run sliced sequences (keys/values carried across slices); "
                       "pack without slicing, or use a model whose seq holds the longest sequence");
    if (u.tokens() > capacity)
      throw InputError(at + ": " + std::to_string(u.tokens()) + " tokens, more than the model's micro_batch * seq = " +
                       std::to_string(capacity) + " tokens a micro-batch buffer holds");
    for (size_t d = 0; d < u.docs.size(); ++d) {
      if (u.docs[d] > cfg.seq)
        throw InputError(at + ".docs[" + std::to_string(d) + "]: a document of " + std::to_string(u.docs[d]) +
                         " tokens is longer than the model's seq = " + std::to_string(cfg.seq) + " positions");
      if (!corpus.empty() && (long long)corpus.size() < u.docs[d] + 1)
        throw InputError(at + ".docs[" + std::to_string(d) + "]: a document of " + std::to_string(u.docs[d]) +
                         " tokens needs a corpus of at least " + std::to_string(u.docs[d] + 1) + " tokens, the corpus has " +
                         std::to_string(corpus.size()));
    }
  }
}

MicroBatchData make_unit_microbatch(const NetConfig& cfg, const std::vector<int32_t>& corpus, int step,
                                    int unit_index, const WorkUnit& unit, double loss_weight) {
  if (step < 0 || unit_index < 0)
    throw InputError("make_unit_microbatch: step and unit must be >= 0, got step " + std::to_string(step) +
                     ", unit " + std::to_string(unit_index));
  check_units_runnable(cfg, {unit}, corpus);
  const uint64_t base =
      mix_seed(mix_seed(cfg.seed ^ 0x0DDC0FFEE0DDF00Dull, uint64_t(step)), uint64_t(unit_index));
  MicroBatchData d;
  d.loss_weight = loss_weight;
  for (size_t doc = 0; doc < unit.docs.size(); ++doc) {
    const int len = static_cast<int>(unit.docs[doc]);
    d.seq_lens.push_back(len);
    Rng rng(mix_seed(base, uint64_t(doc)));
    if (!corpus.empty()) {
      const size_t off = size_t(rng.below(corpus.size() - size_t(len)));
      for (int i = 0; i <= len; ++i) {
        const int32_t id = corpus[off + size_t(i)];
        if (id < 0 || id >= cfg.vocab)
          throw InputError("corpus token " + std::to_string(id) + " at offset " + std::to_string(off + size_t(i)) +
                           " is outside the vocabulary [0, " + std::to_string(cfg.vocab) + ")");
        if (i < len) d.tokens.push_back(id);
        if (i > 0) d.targets.push_back(id);
      }
    } else {
      static constexpr int kStrides[] = {1, 2, 3, 5, 7};
      const int64_t stride = kStrides[rng.below(5)];
      int64_t v = int64_t(rng.below(uint64_t(cfg.vocab)));
      for (int i = 0; i < len; ++i) {
        d.tokens.push_back(int32_t(v));
        v = (v + stride) % cfg.vocab;
        d.targets.push_back(int32_t(v));
      }
    }
  }
  return d;
}

}  // namespace adaptis::exec
