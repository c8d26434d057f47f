#pragma once
// The data of one training iteration as the planner sees it: the token count of every sequence
// (document) in the global batch, the context length, and the global batch in tokens. Real corpora
// are skewed (most documents short, a long tail up to the context and beyond), so a plan built for
// identical micro-batches does not describe them.
//
// Three sources, all giving the same SequenceLengths:
//   - a lengths file: one positive token count per line ('#' starts a comment, blank lines are skipped);
//     the sequences of the iteration in data-loader order;
//   - a histogram JSON ("format": "adaptis-lengths/1"): bins with a weight each, drawn from with a seed;
//       {"format": "adaptis-lengths/1", "name": "...", "context": 131072,
//        "global_batch_tokens": 4194304, "seed": 7,
//        "bins": [{"min": 1, "max": 1024, "weight": 0.62}, ...]}
//     (a sequence picks a bin by weight, then a length uniformly in [min, max]);
//   - a named synthetic distribution "NAME[:key=value,...]", seeded:
//       uniform:min=A,max=B            lengths uniform in [A, B]
//       lognormal:mu=M,sigma=S         exp(N(M, S^2)) rounded, clamped to [min, max] (defaults 1, context)
//       long-tail                      a pretraining-like mix: most sequences log-normal around
//                                      short_median (default context/16, sigma 1), a `tail` fraction
//                                      (default 0.03) uniform in [tail_min, tail_max] (defaults context/2,
//                                      context)
//       fixed:length=N                 every sequence N tokens (identical micro-batches)
//     every one takes seed=S (default 1).
// Drawn sequences fill the global batch exactly: the last one is cut to the tokens left (what a data
// loader that packs to a token budget does). A lengths file is taken as given, or, when a global batch
// is asked for, its first sequences up to that many tokens (the last one cut).
//
// The context is the most tokens one unit (micro-batch) holds without slicing: what padding pads to and
// what packing fills. A sequence longer than it can only be trained by slicing it across several units
// (token-level pipelining); with slicing off that is an error naming the file and line.
#include <cstdint>
#include <string>
#include <vector>

namespace adaptis {

struct SequenceLengths {
  std::vector<long long> lengths;  // tokens per sequence, in data order; every one >= 1
  std::vector<int> lines;          // per sequence: its line in a lengths file (0 = drawn from a distribution)
  long long context = 0;           // tokens a unit may hold without slicing
  std::string origin;              // the file, or the distribution with every parameter resolved

  long long total_tokens() const;
  long long longest() const;
  // Where sequence i came from, for messages: "FILE line N" or "ORIGIN sequence i".
  std::string where(size_t i) const;
};

struct LengthOptions {
  long long context = 0;              // 0 = from the file (histogram), else the longest sequence
  long long global_batch_tokens = 0;  // 0 = from the file (histogram) / the whole lengths file
};

// True when `spec` names a distribution (has a known NAME before ':' or is a bare known NAME) rather
// than a file.
bool is_length_distribution(const std::string& spec);

// Reads or draws one iteration's sequence lengths. Throws InputError naming the file and line, the
// histogram field, or the distribution parameter at fault: an empty file, a zero, negative or
// non-integer length, a bin with min > max, a global batch the file cannot fill, an unknown
// distribution or parameter, a distribution without a context or global batch.
SequenceLengths load_sequence_lengths(const std::string& spec, const LengthOptions& options = {});

// Refuses a sequence longer than the context when slicing is off (names its file line), and a
// non-positive context.
void check_sequence_lengths(const SequenceLengths& data, bool allow_slicing);

// Power-of-two histogram of the lengths, for reports and views: bins [lo, hi) with lo = 2^k (the first
// bin starts at 1), their sequence count, tokens, and causal attention pairs (sum of s^2/2): the last
// column is what makes two batches of equal tokens cost differently.
struct LengthBin {
  long long lo = 0, hi = 0;  // [lo, hi)
  long long sequences = 0;
  long long tokens = 0;
  double pairs = 0;
};
std::vector<LengthBin> length_histogram(const SequenceLengths& data);

// One count per line (with a header comment naming the origin), loadable by load_sequence_lengths.
std::string format_lengths_file(const SequenceLengths& data);

}  // namespace adaptis
