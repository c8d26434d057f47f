// The single-device reference trainer on the bundled text: the loss falls well below the uniform guess,
// and training is deterministic (same config, same corpus -> bitwise the same losses and parameters).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "adaptis/executor/reference_trainer.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {
namespace {

NetConfig small_byte_model() {
  NetConfig c = make_net_config({LayerType::Attention, LayerType::Mlp});
  c.name = "byte-lm";
  c.vocab = 256;  // byte tokens
  c.hidden = 32;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 64;
  c.seq = 16;
  c.micro_batch = 2;
  return c;
}

ReferenceOptions corpus_options(int steps) {
  ReferenceOptions o;
  o.steps = steps;
  o.microbatches = 4;
  o.opt.lr = 3e-3f;
  o.corpus = load_text_corpus(bundled_corpus_path(ADAPTIS_SOURCE_DIR));
  return o;
}

TEST(ReferenceTraining, BundledCorpusIsAFewKilobytesOfText) {
  const auto corpus = load_text_corpus(bundled_corpus_path(ADAPTIS_SOURCE_DIR));
  EXPECT_GT(corpus.size(), 2000u);
  EXPECT_LT(corpus.size(), 64u * 1024);
  for (int32_t t : corpus) ASSERT_TRUE(t >= 0 && t < 256);
}

TEST(ReferenceTraining, LossFallsOnTheBundledText) {
  const NetConfig cfg = small_byte_model();
  const ReferenceRun run = train_reference(cfg, corpus_options(40));
  ASSERT_EQ(run.steps.size(), 40u);
  for (const auto& s : run.steps) {
    ASSERT_TRUE(std::isfinite(s.loss));
    ASSERT_TRUE(std::isfinite(s.grad_norm));
    EXPECT_GT(s.grad_norm, 0.0);
  }
  // Starts near the uniform guess over 256 bytes, ends far below it.
  const double uniform = std::log(256.0);
  EXPECT_NEAR(run.steps[0].loss, uniform, 0.5);
  double last5 = 0;
  for (size_t i = run.steps.size() - 5; i < run.steps.size(); ++i) last5 += run.steps[i].loss / 5;
  EXPECT_LT(last5, run.steps[0].loss - 1.5) << "first " << run.steps[0].loss << ", mean of the last five " << last5;
  EXPECT_LT(last5, 3.6);
}

TEST(ReferenceTraining, IsDeterministic) {
  const NetConfig cfg = small_byte_model();
  const ReferenceRun a = train_reference(cfg, corpus_options(3));
  const ReferenceRun b = train_reference(cfg, corpus_options(3));
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].loss, b.steps[i].loss);
    EXPECT_EQ(a.steps[i].microbatch_loss, b.steps[i].microbatch_loss);
  }
  auto pa = a.model->params(), pb = b.model->params();
  ASSERT_EQ(pa.size(), pb.size());
  EXPECT_EQ(0, std::memcmp(pa.data(), pb.data(), pa.size_bytes()));
  // A different seed is a different model.
  NetConfig other = cfg;
  other.seed += 1;
  EXPECT_NE(train_reference(other, corpus_options(1)).steps[0].loss, a.steps[0].loss);
}

TEST(ReferenceTraining, BadCorpusIsAnInputError) {
  NetConfig cfg = small_byte_model();
  ReferenceOptions o = corpus_options(1);
  o.corpus.resize(static_cast<size_t>(cfg.seq));  // shorter than seq + 1
  EXPECT_THROW(train_reference(cfg, o), InputError);
  cfg.vocab = 64;  // bytes above 63 are outside the vocabulary
  EXPECT_THROW(train_reference(cfg, corpus_options(1)), InputError);
  EXPECT_THROW(load_text_corpus("/nonexistent/corpus.txt"), InputError);
}

}  // namespace
}  // namespace adaptis::exec
