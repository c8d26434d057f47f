// Sequence-length inputs: lengths files, histogram JSON and seeded distributions fill the global
// batch exactly, are reproducible from their seed, and every bad input is named by file and line or
// by field / parameter.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "adaptis/model/cancellable_read.h"
#include "adaptis/model/error.h"
#include "adaptis/model/sequence_lengths.h"

namespace adaptis {
namespace {

namespace fs = std::filesystem;
const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";

fs::path temp_file(const std::string& name, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("adaptis-lengths-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << text;
  return p;
}

void expect_input_error(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& frag : fragments) {
      EXPECT_NE(msg.find(frag), std::string::npos) << "missing '" << frag << "' in: " << msg;
    }
  }
}

TEST(SequenceLengths, LengthsFileKeepsOrderLinesAndContext) {
  fs::path p = temp_file("ok.lengths", "# a comment\n512\n\n  4096  # trailing comment\n77\n");
  SequenceLengths s = load_sequence_lengths(p.string());
  EXPECT_EQ(s.lengths, (std::vector<long long>{512, 4096, 77}));
  EXPECT_EQ(s.lines, (std::vector<int>{2, 4, 5}));
  EXPECT_EQ(s.context, 4096);  // the longest, when not given
  EXPECT_EQ(s.total_tokens(), 512 + 4096 + 77);
  EXPECT_EQ(s.where(1), p.string() + " line 4");
  // A global batch takes the first sequences and cuts the last to fit exactly.
  LengthOptions o;
  o.global_batch_tokens = 1000;
  o.context = 8192;
  SequenceLengths cut = load_sequence_lengths(p.string(), o);
  EXPECT_EQ(cut.lengths, (std::vector<long long>{512, 488}));
  EXPECT_EQ(cut.context, 8192);
  fs::remove(p);
}

// The cancellable read (cancellable_read.h): the same lengths and the same errors as the blocking one;
// a FIFO nobody writes is given up once the flag is set from another thread, and one that is written is
// read to its end.
TEST(SequenceLengths, ACancellableReadGivesTheSameLengthsAndStopsWhenTold) {
  const std::atomic<bool> go_on{false};
  fs::path p = temp_file("cancellable.lengths", "512\n4096\n77\n");
  LengthOptions o;
  o.global_batch_tokens = 1000;
  const std::optional<SequenceLengths> read = load_sequence_lengths(p.string(), o, go_on);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->lengths, load_sequence_lengths(p.string(), o).lengths);
  EXPECT_EQ(read->lines, (std::vector<int>{1, 2}));
  fs::path bad = temp_file("cancellable-bad.lengths", "12\nx\n");
  expect_input_error([&] { load_sequence_lengths(bad.string(), {}, go_on); }, {bad.string() + " line 2: "});
  fs::remove(p);
  fs::remove(bad);

  const fs::path fifo = fs::temp_directory_path() / ("adaptis-lengths-" + std::to_string(::getpid()) + ".fifo");
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  EXPECT_FALSE(load_sequence_lengths(fifo.string(), {}, stop).has_value());  // returns: nobody ever wrote it
  stopper.join();
  std::thread writer([&] { std::ofstream(fifo) << "300\n200\n"; });  // opening waits for the reader
  const std::optional<SequenceLengths> piped = load_sequence_lengths(fifo.string(), {}, go_on);
  writer.join();
  ASSERT_TRUE(piped.has_value());
  EXPECT_EQ(piped->lengths, (std::vector<long long>{300, 200}));
  fs::remove(fifo);
}

TEST(SequenceLengths, BadLengthsFilesNameFileAndLine) {
  fs::path empty = temp_file("empty.lengths", "# only a comment\n\n");
  expect_input_error([&] { load_sequence_lengths(empty.string()); }, {empty.string(), "empty"});
  fs::path zero = temp_file("zero.lengths", "12\n0\n");
  expect_input_error([&] { load_sequence_lengths(zero.string()); }, {zero.string() + " line 2", ">= 1 token", "0"});
  fs::path neg = temp_file("neg.lengths", "12\n13\n-5\n");
  expect_input_error([&] { load_sequence_lengths(neg.string()); }, {neg.string() + " line 3", "-5"});
  fs::path text = temp_file("text.lengths", "12\n1.5\n");
  expect_input_error([&] { load_sequence_lengths(text.string()); }, {text.string() + " line 2", "whole number", "1.5"});
  fs::path few = temp_file("few.lengths", "100\n100\n");
  LengthOptions o;
  o.global_batch_tokens = 1000;
  expect_input_error([&] { load_sequence_lengths(few.string(), o); }, {few.string(), "200 tokens", "1000"});
  expect_input_error([] { load_sequence_lengths("/nonexistent/adaptis.lengths"); }, {"/nonexistent/adaptis.lengths", "cannot open"});
  fs::path huge = temp_file("huge.lengths", "12\n99999999999\n");
  expect_input_error([&] { load_sequence_lengths(huge.string()); }, {huge.string() + " line 2", "at most", "99999999999"});
  for (const auto& p : {empty, zero, neg, text, few, huge}) fs::remove(p);
}

TEST(SequenceLengths, LongerThanContextIsRefusedOnlyWithoutSlicing) {
  fs::path p = temp_file("long.lengths", "100\n9000\n50\n");
  LengthOptions o;
  o.context = 8192;
  SequenceLengths s = load_sequence_lengths(p.string(), o);
  EXPECT_NO_THROW(check_sequence_lengths(s, true));
  expect_input_error([&] { check_sequence_lengths(s, false); },
                     {p.string() + " line 2", "9000 tokens", "longer than the context of 8192", "slicing is off"});
  fs::remove(p);
}

TEST(SequenceLengths, DistributionsFillTheBatchAndRepeatFromTheirSeed) {
  LengthOptions o;
  o.context = 8192;
  o.global_batch_tokens = 1 << 20;
  for (const char* spec : {"uniform:min=100,max=8192", "lognormal:median=1024,sigma=1.2", "long-tail", "fixed:length=4096",
                           "long-tail:tail=0.1,tail_max=32768,seed=9"}) {
    SequenceLengths a = load_sequence_lengths(spec, o), b = load_sequence_lengths(spec, o);
    EXPECT_EQ(a.total_tokens(), o.global_batch_tokens) << spec;
    EXPECT_EQ(a.lengths, b.lengths) << spec << ": the same seed must give the same batch";
    for (long long v : a.lengths) {
      EXPECT_GE(v, 1) << spec;
    }
    EXPECT_NE(a.origin.find("seed="), std::string::npos) << a.origin;  // parameters resolved into the origin
  }
  // Different seeds differ; the origin records the parameters.
  SequenceLengths s1 = load_sequence_lengths("lognormal:mu=7,sigma=1,seed=1", o);
  SequenceLengths s2 = load_sequence_lengths("lognormal:mu=7,sigma=1,seed=2", o);
  EXPECT_NE(s1.lengths, s2.lengths);
  // Distribution shape: uniform stays in range, fixed is fixed, lognormal's median is near exp(mu).
  for (long long v : load_sequence_lengths("uniform:min=100,max=200", o).lengths) {
    EXPECT_LE(v, 200);
  }
  SequenceLengths f = load_sequence_lengths("fixed:length=4096", o);
  EXPECT_EQ(f.lengths.size(), size_t(256));
  std::vector<long long> sorted = s1.lengths;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NEAR(std::log(double(sorted[sorted.size() / 2])), 7.0, 0.25);
  // The long-tail mix: most sequences short, a tail up to the context, most tokens in the tail.
  SequenceLengths lt = load_sequence_lengths("long-tail:tail=0.05", o);
  long long tail_tokens = 0, tail_count = 0;
  for (long long v : lt.lengths)
    if (v >= 4096) tail_tokens += v, ++tail_count;
  EXPECT_LT(double(tail_count) / lt.lengths.size(), 0.15);
  EXPECT_GT(double(tail_tokens) / lt.total_tokens(), 0.3);
  EXPECT_EQ(lt.longest() <= 8192, true);
}

TEST(SequenceLengths, BadDistributionsNameTheParameter) {
  LengthOptions o;
  o.context = 8192;
  o.global_batch_tokens = 100000;
  expect_input_error([&] { load_sequence_lengths("uniform:min=500,max=100", o); }, {"min 500 is above max 100"});
  expect_input_error([&] { load_sequence_lengths("lognormal:sigma=1", o); }, {"mu=M", "median"});
  expect_input_error([&] { load_sequence_lengths("lognormal:mu=7,sigma=-1", o); }, {"'sigma'", "> 0"});
  expect_input_error([&] { load_sequence_lengths("uniform:min=1,max=9,colour=3", o); }, {"unknown parameter 'colour'"});
  expect_input_error([&] { load_sequence_lengths("uniform:min=abc", o); }, {"'min'", "number", "abc"});
  expect_input_error([&] { load_sequence_lengths("fixed:length=0", o); }, {"'length'", ">= 1"});
  expect_input_error([&] { load_sequence_lengths("long-tail:tail=2", o); }, {"'tail'", "[0, 1]"});
  LengthOptions no_batch;
  no_batch.context = 8192;
  // Library errors name the option's field (the CLI maps it to its flag).
  try {
    load_sequence_lengths("long-tail", no_batch);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "global_batch_tokens") << e.what();
  }
  LengthOptions no_ctx;
  no_ctx.global_batch_tokens = 1000;
  expect_input_error([&] { load_sequence_lengths("uniform:min=1,max=9", no_ctx); }, {"context"});
  o.context = -1;
  expect_input_error([&] { load_sequence_lengths("long-tail", o); }, {"context", "[1, "});
  // No runaway memory: a batch that would take more sequences than supported is refused.
  LengthOptions huge;
  huge.context = 8192;
  huge.global_batch_tokens = 1LL << 40;
  expect_input_error([&] { load_sequence_lengths("fixed:length=1", huge); }, {"global_batch_tokens", "sequences"});
  huge.global_batch_tokens = (1LL << 40) + 1;
  expect_input_error([&] { load_sequence_lengths("fixed:length=1", huge); }, {"global_batch_tokens", "[1, "});
}

TEST(SequenceLengths, HistogramJsonIsDrawnFromWithItsSeed) {
  fs::path p = temp_file("hist.json", R"({"format": "adaptis-lengths/1", "context": 16384, "global_batch_tokens": 500000,
    "seed": 3, "bins": [{"min": 1, "max": 1000, "weight": 9}, {"min": 12000, "max": 16384, "weight": 1}]})");
  SequenceLengths a = load_sequence_lengths(p.string()), b = load_sequence_lengths(p.string());
  EXPECT_EQ(a.lengths, b.lengths);
  EXPECT_EQ(a.total_tokens(), 500000);
  EXPECT_EQ(a.context, 16384);
  long long longs = 0;
  for (size_t i = 0; i + 1 < a.lengths.size(); ++i) {  // the last one may be cut
    const long long v = a.lengths[i];
    EXPECT_TRUE((v >= 1 && v <= 1000) || (v >= 12000 && v <= 16384)) << v;
    longs += v >= 12000;
  }
  EXPECT_NEAR(double(longs) / a.lengths.size(), 0.1, 0.05);
  // Flags override the file.
  LengthOptions o;
  o.global_batch_tokens = 100000;
  EXPECT_EQ(load_sequence_lengths(p.string(), o).total_tokens(), 100000);

  fs::path bad = temp_file("bad-hist.json", R"({"format": "adaptis-lengths/1", "context": 100, "global_batch_tokens": 10,
    "bins": [{"min": 50, "max": 10, "weight": 1}]})");
  expect_input_error([&] { load_sequence_lengths(bad.string()); }, {bad.string(), "bins[0]", "'max'"});
  fs::path no_bins = temp_file("nobins.json", R"({"format": "adaptis-lengths/1", "context": 100, "global_batch_tokens": 10, "bins": []})");
  expect_input_error([&] { load_sequence_lengths(no_bins.string()); }, {no_bins.string(), "'bins' is empty"});
  fs::path wrong = temp_file("wrong.json", R"({"format": "adaptis-plan/1"})");
  expect_input_error([&] { load_sequence_lengths(wrong.string()); }, {wrong.string(), "adaptis-lengths/1"});
  for (const auto& f : {p, bad, no_bins, wrong}) fs::remove(f);
}

TEST(SequenceLengths, HistogramCountsTokensAndPairs) {
  SequenceLengths s;
  s.lengths = {1, 3, 4, 7, 1000};
  s.context = 1024;
  s.origin = "test";
  std::vector<LengthBin> h = length_histogram(s);
  ASSERT_GE(h.size(), 3u);
  EXPECT_EQ(h[0].lo, 1);
  EXPECT_EQ(h[0].hi, 2);
  EXPECT_EQ(h[0].sequences, 1);
  // [2,4): 3; [4,8): 4 and 7; [512,1024): 1000.
  EXPECT_EQ(h[1].sequences, 1);
  EXPECT_EQ(h[2].sequences, 2);
  EXPECT_EQ(h[2].tokens, 11);
  EXPECT_DOUBLE_EQ(h[2].pairs, 0.5 * (16 + 49));
  EXPECT_EQ(h.back().lo, 512);
  EXPECT_EQ(h.back().sequences, 1);
  long long n = 0;
  for (const auto& b : h) n += b.sequences;
  EXPECT_EQ(n, 5);
}

TEST(SequenceLengths, BundledSamplesLoad) {
  // A skewed pretraining-like mix and a long-context mix with sequences up to 128k tokens.
  SequenceLengths mix = load_sequence_lengths(kSamples + "/data/pretrain-mix.lengths");
  EXPECT_GT(mix.lengths.size(), 100u);
  std::vector<long long> sorted = mix.lengths;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_LT(sorted[sorted.size() / 2] * 4, sorted.back()) << "the mix should be skewed: median far below the longest";
  SequenceLengths lc = load_sequence_lengths(kSamples + "/data/long-context-128k.json");
  EXPECT_LE(lc.longest(), 131072);
  EXPECT_GT(lc.longest(), lc.context) << "the long-context mix needs slicing";
}

}  // namespace
}  // namespace adaptis
