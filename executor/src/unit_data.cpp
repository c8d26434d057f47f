// Micro-batches for variable-length units: packed documents and slices of rows.
#include "adaptis/executor/unit_data.h"

#include <map>
#include <string>

#include "adaptis/executor/layers/rng.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis::exec {
namespace {

// Where each document piece of a unit comes from: the iteration's document `number`, the document's
// whole length and the piece's offset in it.
struct DocPiece {
  long long number = 0, length = 0, offset = 0, len = 0;
};

// Per unit, its pieces. A unit's first piece continues the document its row's previous slice ended with
// when first_doc_offset > 0; every other piece starts a new document.
std::vector<std::vector<DocPiece>> document_pieces(const std::vector<WorkUnit>& units) {
  const SliceLinks links = slice_links(units);
  std::vector<std::vector<DocPiece>> pieces(units.size());
  std::map<long long, long long> length;  // document number -> tokens over all its pieces
  long long next_number = 0;
  for (size_t u = 0; u < units.size(); ++u) {
    for (size_t d = 0; d < units[u].docs.size(); ++d) {
      DocPiece p;
      p.len = units[u].docs[d];
      const int prev = links.prev[u];
      if (d == 0 && units[u].first_doc_offset > 0 && prev >= 0 && prev < int(u) && !pieces[size_t(prev)].empty()) {
        p.number = pieces[size_t(prev)].back().number;
        p.offset = units[u].first_doc_offset;
      } else {
        p.number = next_number++;
      }
      length[p.number] += p.len;
      pieces[u].push_back(p);
    }
  }
  for (auto& per_unit : pieces)
    for (DocPiece& p : per_unit) p.length = length[p.number];
  return pieces;
}

bool has_layer(const NetConfig& cfg, LayerType t) {
  for (LayerType l : cfg.layers)
    if (l == t) return true;
  return false;
}

}  // namespace

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
  const std::vector<std::vector<DocPiece>> pieces = document_pieces(units);
  const SliceLinks links = slice_links(units);
  for (size_t i = 0; i < units.size(); ++i) {
    const WorkUnit& u = units[i];
    const std::string at = "units[" + std::to_string(i) + "]";
    if (u.padded_tokens > u.tokens())
      throw InputError(at + ": a padded unit (" + describe_unit(u) +
                       "); the executor runs packed units only (pack the sequences instead of padding them)");
    if (u.is_slice()) {
      for (LayerType t : {LayerType::Mamba, LayerType::Moe})
        if (has_layer(cfg, t))
          throw InputError(at + ": " + describe_unit(u) + ", but model '" + cfg.name + "' has " + layer_type_name(t) +
                           " layers, which the executor cannot run on slices (" +
                           (t == LayerType::Mamba ? "the scan state would have to cross slices"
                                                  : "its load-balancing loss is per micro-batch, so slices would "
                                                    "train another objective than the whole rows") +
                           "); pack without slicing");
      if (u.first_doc_offset > 0 && links.prev[i] > int(i))
        throw InputError(at + ": " + describe_unit(u) + " comes before the earlier slice it continues (units[" +
                         std::to_string(links.prev[i]) + "])");
    }
    if (u.tokens() > capacity)
      throw InputError(at + ": " + std::to_string(u.tokens()) + " tokens, more than the model's micro_batch * seq = " +
                       std::to_string(capacity) + " tokens a micro-batch buffer holds");
    for (size_t d = 0; d < pieces[i].size(); ++d) {
      const DocPiece& p = pieces[i][d];
      if (p.offset + p.len > cfg.seq)
        throw InputError(at + ".docs[" + std::to_string(d) + "]: a document of " + std::to_string(p.length) +
                         " tokens is longer than the model's seq = " + std::to_string(cfg.seq) + " positions");
      if (!corpus.empty() && (long long)corpus.size() < p.length + 1)
        throw InputError(at + ".docs[" + std::to_string(d) + "]: a document of " + std::to_string(p.length) +
                         " tokens needs a corpus of at least " + std::to_string(p.length + 1) + " tokens, the corpus has " +
                         std::to_string(corpus.size()));
    }
  }
}

MicroBatchData make_unit_microbatch(const NetConfig& cfg, const std::vector<int32_t>& corpus, int step,
                                    const std::vector<WorkUnit>& units, int u) {
  if (step < 0 || u < 0 || u >= static_cast<int>(units.size()))
    throw InputError("make_unit_microbatch: step must be >= 0 and the unit in [0, " + std::to_string(units.size()) +
                     "), got step " + std::to_string(step) + ", unit " + std::to_string(u));
  const std::vector<std::vector<DocPiece>> pieces = document_pieces(units);
  const uint64_t base = mix_seed(cfg.seed ^ 0x0DDC0FFEE0DDF00Dull, uint64_t(step));
  const WorkUnit& unit = units[size_t(u)];
  MicroBatchData d;
  d.loss_weight = unit_loss_weights(units)[size_t(u)];
  const SliceLinks links = slice_links(units);
  if (unit.first_doc_offset > 0) {
    d.first_pos = static_cast<int>(unit.first_doc_offset);
    d.prev_slice_mb = links.prev[size_t(u)];
  }
  // The next slice reads this one's keys only when it continues the document (a row may be cut between
  // documents: then the next slice starts afresh and reads nothing).
  const int next = links.next[size_t(u)];
  if (next >= 0 && units[size_t(next)].first_doc_offset > 0) d.next_slice_mb = next;
  for (const DocPiece& p : pieces[size_t(u)]) {
    d.seq_lens.push_back(static_cast<int>(p.len));
    Rng rng(mix_seed(base, uint64_t(p.number)));
    if (!corpus.empty()) {
      if ((long long)corpus.size() < p.length + 1)
        throw InputError("a document of " + std::to_string(p.length) + " tokens needs a corpus of at least " +
                         std::to_string(p.length + 1) + " tokens, the corpus has " + std::to_string(corpus.size()));
      const size_t start = size_t(rng.below(corpus.size() - size_t(p.length))) + size_t(p.offset);
      for (long long i = 0; i <= p.len; ++i) {
        const int32_t id = corpus[start + size_t(i)];
        if (id < 0 || id >= cfg.vocab)
          throw InputError("corpus token " + std::to_string(id) + " at offset " + std::to_string(start + size_t(i)) +
                           " is outside the vocabulary [0, " + std::to_string(cfg.vocab) + ")");
        if (i < p.len) d.tokens.push_back(id);
        if (i > 0) d.targets.push_back(id);
      }
    } else {
      static constexpr int kStrides[] = {1, 2, 3, 5, 7};
      const int64_t stride = kStrides[rng.below(5)];
      const int64_t first = int64_t(rng.below(uint64_t(cfg.vocab)));
      for (long long i = 0; i < p.len; ++i) {
        const int64_t pos = p.offset + i;
        d.tokens.push_back(int32_t((first + pos * stride) % cfg.vocab));
        d.targets.push_back(int32_t((first + (pos + 1) * stride) % cfg.vocab));
      }
    }
  }
  return d;
}

}  // namespace adaptis::exec
