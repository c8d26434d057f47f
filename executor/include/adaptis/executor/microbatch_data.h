#pragma once
// Training data for the executor's small models: a byte-level tokenizer (token id = byte value, so any
// text file is a corpus for vocab >= 256) and deterministic micro-batches cut from it.
#include <cstdint>
#include <string>
#include <vector>

namespace adaptis::exec {

struct NetConfig;

// Token ids and next-token targets of one micro-batch, row-major (sequence, position).
//
// Equal micro-batches (seq_lens empty): micro_batch rows of seq tokens each. Variable-length micro-batches
// (a packed unit, Plan::units): the tokens of several independent sequences (documents) one after another,
// seq_lens[i] tokens each, as packed training with cu_seqlens lays them out: each sequence attends only to
// itself (causally), and its positions (RoPE) and any scan state restart at its first token. A unit holds
// at most micro_batch * seq tokens (the stage-to-stage buffers are that size) and each sequence at most
// seq (the positions the model has).
struct MicroBatchData {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;
  std::vector<int> seq_lens;
  // Sliced sequences: the first sequence continues a document an earlier slice of the same row began.
  // first_pos = its first token's position in the document (the earlier slices hold that many of its
  // tokens), prev_slice_mb = the micro-batch of the previous slice of the row (-1 = none). Its queries
  // attend to the earlier slices' keys and values, kept on the stage from their F, and its B sends the
  // gradient of those keys and values back to them (so the B of a slice runs before the B of the slice
  // before it).
  int first_pos = 0;
  int prev_slice_mb = -1;
  // The other direction: the micro-batch of the next slice of the row when its first sequence continues
  // this one's last document (-1 = none). Its queries will read this micro-batch's keys and values, so a
  // recomputed (dropped) micro-batch keeps them from its F until its B (attention.h).
  int next_slice_mb = -1;
  // Weight of this micro-batch's mean token loss (and its aux losses) in the iteration's objective;
  // 0 = 1 / num_microbatches (equal micro-batches). Packed units use tokens / tokens of the iteration, so
  // the objective is the sum of every token's loss over the iteration's tokens, whatever the packing.
  double loss_weight = 0;
};

// One independent sequence of a micro-batch: tokens [start, start + len), at positions pos0.. of their
// document (pos0 > 0 only for the first sequence of a slice continuing a document).
struct SequenceSpan {
  int start = 0, len = 0, pos0 = 0;
};
// The sequences of `data` (seq_lens, or micro_batch rows of cfg.seq). Throws InputError naming the
// micro-batch when they do not tile data.tokens exactly, a length is < 1, a sequence ends past cfg.seq
// positions, the micro-batch holds more than micro_batch * seq tokens, loss_weight is negative or not finite,
// or first_pos / prev_slice_mb / next_slice_mb are inconsistent (negative, a continuation without a previous
// slice or without seq_lens, a next slice without seq_lens, a previous or next slice that is the micro-batch
// itself).
std::vector<SequenceSpan> sequence_spans(const NetConfig& cfg, const MicroBatchData& data, int mb);
// Tokens of `data`: micro_batch * seq for an equal micro-batch, its own tokens for a packed unit (which may
// hold fewer than the micro-batch buffer's micro_batch * seq).
int microbatch_tokens(const NetConfig& cfg, const MicroBatchData& data);

// Byte-level tokenizer: one token per byte (0..255).
std::vector<int32_t> byte_tokens(const std::string& text);
std::string bytes_from_tokens(const std::vector<int32_t>& tokens);  // ids outside 0..255 become '?'
// Reads a text file as byte tokens; InputError when it cannot be read.
std::vector<int32_t> load_text_corpus(const std::string& path);
// The bundled public-domain-style sample text (samples/data/tiny_corpus.txt) under a source tree.
std::string bundled_corpus_path(const std::string& source_dir);

// Micro-batch `mb` of iteration `step`, a pure function of (cfg.seed, step, mb, corpus):
// - corpus non-empty: each row is a window of seq+1 consecutive tokens at a pseudo-random offset
//   (tokens = window[0..seq), targets = window[1..seq]). InputError when the corpus is shorter than seq+1
//   tokens or holds an id outside [0, vocab).
// - corpus empty: synthetic but learnable rows, arithmetic progressions t_{i+1} = (t_i + stride) mod vocab
//   with a pseudo-random start and a stride from a small set, so next-token loss can fall below log(vocab).
MicroBatchData make_microbatch(const NetConfig& cfg, const std::vector<int32_t>& corpus, int step, int mb);

}  // namespace adaptis::exec
