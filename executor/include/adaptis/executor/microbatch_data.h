#pragma once
// Training data for the executor's small models: a byte-level tokenizer (token id = byte value, so any
// text file is a corpus for vocab >= 256) and deterministic micro-batches cut from it.
#include <cstdint>
#include <string>
#include <vector>

namespace adaptis::exec {

struct NetConfig;

// Token ids and next-token targets of one micro-batch: micro_batch * seq each, row-major (sequence, position).
struct MicroBatchData {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;
};

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
