// Byte-level tokenizer and deterministic micro-batches.
#include "adaptis/executor/microbatch_data.h"

#include <cmath>
#include <string>

#include "adaptis/executor/layers/rng.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"

namespace adaptis::exec {

std::vector<int32_t> byte_tokens(const std::string& text) {
  std::vector<int32_t> out(text.size());
  for (size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
  return out;
}

std::string bytes_from_tokens(const std::vector<int32_t>& tokens) {
  std::string s(tokens.size(), '?');
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] >= 0 && tokens[i] < 256) s[i] = static_cast<char>(static_cast<unsigned char>(tokens[i]));
  return s;
}

std::vector<int32_t> load_text_corpus(const std::string& path) {
  const std::string text = read_text_file(path);
  if (text.empty()) throw InputError(path + ": corpus file is empty");
  return byte_tokens(text);
}

std::string bundled_corpus_path(const std::string& source_dir) {
  return source_dir + "/samples/data/tiny_corpus.txt";
}

MicroBatchData make_microbatch(const NetConfig& cfg, const std::vector<int32_t>& corpus, int step, int mb) {
  if (step < 0 || mb < 0)
    throw InputError("make_microbatch: step and micro-batch must be >= 0, got step " + std::to_string(step) +
                     ", micro-batch " + std::to_string(mb));
  if (cfg.seq < 1 || cfg.micro_batch < 1 || cfg.vocab < 2)
    throw InputError("make_microbatch: seq, micro_batch must be >= 1 and vocab >= 2");
  const int seq = cfg.seq;
  const uint64_t base = mix_seed(mix_seed(cfg.seed ^ 0x5EEDDA7A5EEDDA7Aull, uint64_t(step)), uint64_t(mb));
  MicroBatchData d;
  d.tokens.resize(size_t(cfg.micro_batch) * seq);
  d.targets.resize(d.tokens.size());
  if (!corpus.empty() && corpus.size() < size_t(seq) + 1)
    throw InputError("corpus of " + std::to_string(corpus.size()) + " tokens is shorter than seq + 1 = " +
                     std::to_string(seq + 1));
  for (int row = 0; row < cfg.micro_batch; ++row) {
    Rng rng(mix_seed(base, uint64_t(row)));
    int32_t* tok = d.tokens.data() + size_t(row) * seq;
    int32_t* tgt = d.targets.data() + size_t(row) * seq;
    if (!corpus.empty()) {
      const size_t off = size_t(rng.below(corpus.size() - size_t(seq)));
      for (int i = 0; i <= seq; ++i) {
        const int32_t id = corpus[off + i];
        if (id < 0 || id >= cfg.vocab)
          throw InputError("corpus token " + std::to_string(id) + " at offset " + std::to_string(off + i) +
                           " is outside the vocabulary [0, " + std::to_string(cfg.vocab) + ")");
        if (i < seq) tok[i] = id;
        if (i > 0) tgt[i - 1] = id;
      }
    } else {
      static constexpr int kStrides[] = {1, 2, 3, 5, 7};
      const int64_t stride = kStrides[rng.below(5)];
      int64_t v = int64_t(rng.below(uint64_t(cfg.vocab)));
      for (int i = 0; i < seq; ++i) {
        tok[i] = int32_t(v);
        v = (v + stride) % cfg.vocab;
        tgt[i] = int32_t(v);
      }
    }
  }
  return d;
}

int microbatch_tokens(const NetConfig& cfg, const MicroBatchData& data) {
  return data.seq_lens.empty() ? cfg.micro_batch * cfg.seq : static_cast<int>(data.tokens.size());
}

std::vector<SequenceSpan> sequence_spans(const NetConfig& cfg, const MicroBatchData& data, int mb) {
  const std::string where = "micro-batch " + std::to_string(mb);
  if (!std::isfinite(data.loss_weight) || data.loss_weight < 0)
    throw InputError(where + ": loss_weight must be finite and >= 0, got " + std::to_string(data.loss_weight));
  if (data.first_pos < 0 || data.prev_slice_mb < -1)
    throw InputError(where + ": first_pos and prev_slice_mb must be >= 0 (or -1 for no previous slice)");
  if (data.first_pos > 0 && (data.seq_lens.empty() || data.prev_slice_mb < 0 || data.prev_slice_mb == mb))
    throw InputError(where + ": first_pos " + std::to_string(data.first_pos) +
                     " continues a document, which needs seq_lens and the micro-batch of the previous slice "
                     "(prev_slice_mb, not the micro-batch itself)");
  if (data.next_slice_mb < -1)
    throw InputError(where + ": next_slice_mb must be >= 0 (or -1 for no next slice), got " +
                     std::to_string(data.next_slice_mb));
  if (data.next_slice_mb >= 0 && (data.seq_lens.empty() || data.next_slice_mb == mb))
    throw InputError(where + ": next_slice_mb " + std::to_string(data.next_slice_mb) +
                     " says a later slice continues its last document, which needs seq_lens and another "
                     "micro-batch than this one");
  std::vector<SequenceSpan> spans;
  if (data.seq_lens.empty()) {
    for (int b = 0; b < cfg.micro_batch; ++b) spans.push_back({b * cfg.seq, cfg.seq, 0});
    return spans;
  }
  const size_t capacity = size_t(cfg.micro_batch) * size_t(cfg.seq);
  if (data.tokens.size() > capacity)
    throw InputError(where + ": " + std::to_string(data.tokens.size()) +
                     " tokens do not fit the model's micro_batch * seq = " + std::to_string(capacity) +
                     " tokens of a micro-batch");
  size_t at = 0;
  for (size_t i = 0; i < data.seq_lens.size(); ++i) {
    const int len = data.seq_lens[i];
    if (len < 1)
      throw InputError(where + ": seq_lens[" + std::to_string(i) + "] = " + std::to_string(len) + " must be >= 1");
    const int pos0 = i == 0 ? data.first_pos : 0;
    if ((long long)pos0 + len > cfg.seq)
      throw InputError(where + ": seq_lens[" + std::to_string(i) + "] = " + std::to_string(len) + " tokens" +
                       (pos0 > 0 ? " from position " + std::to_string(pos0) : std::string()) +
                       " end past the model's seq = " + std::to_string(cfg.seq) +
                       " positions (use a model with a longer seq)");
    spans.push_back({int(at), len, pos0});
    at += size_t(len);
  }
  if (at != data.tokens.size())
    throw InputError(where + ": seq_lens add up to " + std::to_string(at) + " tokens but the micro-batch holds " +
                     std::to_string(data.tokens.size()));
  return spans;
}

}  // namespace adaptis::exec
