#pragma once
// What the runtime tests share: a small model with every layer kind (embedding, attention, MLP, MoE, Mamba,
// LM head; 9 layers, enough for 8 stages), the bundled token corpus, and an InputError expectation.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"
#include "adaptis/executor/run_session.h"

namespace adaptis::exec::test {

inline NetConfig every_layer_kind_model(const std::string& name, uint64_t seed) {
  NetConfig c = make_net_config({LayerType::Attention, LayerType::Mlp, LayerType::Moe, LayerType::Mamba,
                                 LayerType::Attention, LayerType::Mlp, LayerType::Moe});
  c.name = name;
  c.vocab = 256;
  c.hidden = 16;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 24;
  c.experts = 4;
  c.top_k = 2;
  c.expert_ffn = 8;
  c.shared_experts = 1;
  c.mamba_state = 4;
  c.seq = 8;
  c.micro_batch = 2;
  c.seed = seed;
  return c;
}

inline std::vector<int32_t> bundled_corpus() { return load_text_corpus(bundled_corpus_path(ADAPTIS_SOURCE_DIR)); }

// `f` throws an InputError whose message contains `needle`.
inline void expect_input_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an InputError containing '" << needle << "'";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace adaptis::exec::test
