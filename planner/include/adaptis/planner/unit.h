#pragma once
// One unit of a variable-length plan: what flows through the pipeline as one micro-batch when the
// micro-batches are not identical (Plan::units). A unit is a packed micro-batch of whole documents, a
// slice (token range) of one long sequence, or a slice of a packed row; each has its own tokens T and
// causal attention pairs Q, hence its own time and memory on every stage (planner/units.h).
//
// Slices: a row (one sequence, or one packed set of documents) cut into token ranges runs as units
// with the same `row` and slice indices 0..k-1. Slice k's attention reads the keys and values of
// slices 0..k-1 of the row, which adds dependencies on every stage: the forwards run in slice order,
// the backwards in reverse (the gradient of the keys/values slice k read flows back into the earlier
// slices), and each slice's activations, its keys/values included, stay until its own backward.
#include <vector>

namespace adaptis {

struct WorkUnit {
  // The documents (or pieces of documents) in this unit, in order, tokens each (>= 1). A packed unit
  // lists whole documents; a slice lists the part of its row it covers.
  std::vector<long long> docs;
  // Tokens of docs[0]'s document that an earlier slice of the same row holds (0 when the unit starts on
  // a document boundary): docs[0]'s queries also attend to those keys.
  long long first_doc_offset = 0;
  // Tokens the unit runs including padding (0 = unpadded). A padded unit is one sequence padded to this
  // length: its compute, memory and attention are those of the padded length.
  long long padded_tokens = 0;
  // Slices: the row this unit is a slice of (>= 0) and its index in the row; row -1 = a whole row.
  int row = -1;
  int slice = 0;

  // Content tokens (sum of docs).
  long long tokens() const {
    long long t = 0;
    for (long long d : docs) t += d;
    return t;
  }
  // Tokens computed: padded_tokens when padded, else tokens().
  long long run_tokens() const { return padded_tokens > tokens() ? padded_tokens : tokens(); }
  // Causal (query, key) pairs the attention computes: a piece of l tokens whose document already has o
  // tokens before it contributes l*o + l^2/2 (a whole document of s tokens: s^2/2); a padded unit
  // run_tokens()^2/2. Summed over the slices of one row this is the row's sum of s^2/2.
  double pairs() const {
    if (padded_tokens > tokens()) return 0.5 * double(padded_tokens) * double(padded_tokens);
    double q = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      const double l = double(docs[i]), o = i == 0 ? double(first_doc_offset) : 0.0;
      q += l * o + 0.5 * l * l;
    }
    return q;
  }
  // Query x key rectangle of the attention: a piece of l tokens after o earlier ones of its document spans
  // l * (o + l) (a whole document of s tokens: s^2; a padded unit run_tokens()^2). What an attention that
  // materialises its scores keeps grows with this (LayerCost::act_score_bytes), not with pairs(): the masked
  // half of each piece's diagonal block is stored too.
  double attention_area() const {
    if (padded_tokens > tokens()) return double(padded_tokens) * double(padded_tokens);
    double a = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      const double l = double(docs[i]), o = i == 0 ? double(first_doc_offset) : 0.0;
      a += l * (o + l);
    }
    return a;
  }
  bool is_slice() const { return row >= 0; }

  bool operator==(const WorkUnit&) const = default;
};

}  // namespace adaptis
