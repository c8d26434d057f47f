// What no input file may do to the model library: crash it with deep nesting (parse-time depth limit,
// bounded error excerpts), slip an overflowing or truncated number past it (1e999, 4294967297 read as
// 1, 1e308 ms scaled to inf), or be silently misread (a field of the wrong type or a misspelled field
// ignored). Each case is an InputError naming the file, the position or field, and what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "adaptis/model.h"
#include "adaptis/model/checked.h"
#include "adaptis/model/cost_model.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"
#include "adaptis/model/model_spec.h"

namespace adaptis {
namespace {

namespace fs = std::filesystem;

class InputLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("adaptis-limits-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& text) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  fs::path dir_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

void expect_all(const std::string& msg, std::initializer_list<std::string> fragments) {
  for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "missing '" << frag << "' in: " << msg;
}

std::string nested(size_t depth, const std::string& open = "[", const std::string& close = "]") {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += open;
  for (size_t i = 0; i < depth; ++i) s += close;
  return s;
}

std::string costs_with(const std::string& f_value, const std::string& extra = "") {
  return "{\"model\": \"m\"" + extra + ", \"layers\": [{\"type\": \"M\", \"f\": " + f_value + ", \"b\": 2, \"w\": 1}]}";
}

TEST_F(InputLimits, DeepNestingIsRejectedAtParseTimeWithItsPosition) {
  // 100000 levels in a field that wants a number: the error used to dump the value recursively.
  const std::string p = file("deep.json", costs_with(nested(100000)));
  const std::string msg = error_of([&] { load_cost_table(p); });
  expect_all(msg, {p + ":1:", "nested deeper than 512 levels"});
  // The column is the bracket that opens level 513 (the text before the value opens 3 levels).
  const size_t col = std::string("{\"model\": \"m\", \"layers\": [{\"type\": \"M\", \"f\": ").size() + (513 - 3);
  EXPECT_NE(msg.find(":1:" + std::to_string(col) + ":"), std::string::npos) << msg;
  // Objects count too, and brackets inside strings do not.
  expect_all(error_of([&] { parse_json_text(nested(600, "{\"a\":", "}"), "o.json"); }), {"o.json:1:", "nested deeper"});
  EXPECT_NO_THROW(parse_json_text("{\"a\": \"" + std::string(100000, '[') + "\"}", "s.json"));
  EXPECT_NO_THROW(parse_json_text(nested(kMaxJsonDepth), "ok.json"));
}

TEST_F(InputLimits, WrongTypeMessagesQuoteABoundedExcerpt) {
  // 500 levels parse, but the message names the type and at most ~60 characters of the value.
  const std::string p = file("wrong.json", costs_with(nested(500)));
  const std::string msg = error_of([&] { load_cost_table(p); });
  expect_all(msg, {p + ": layers[0]: field 'f' must be a number, got an array [[[[", "..."});
  EXPECT_LT(msg.size(), 300u) << msg;
  // A megabyte-long string is cut too.
  const std::string q = file("long.json", costs_with("\"" + std::string(1 << 20, 'x') + "\""));
  const std::string m2 = error_of([&] { load_cost_table(q); });
  expect_all(m2, {"must be a number, got a string \"xxx", "..."});
  EXPECT_LT(m2.size(), 300u);
  // describe_json on a value far deeper than any parser allows (built in memory) is still bounded
  // and does not recurse.
  nlohmann::json deep = nlohmann::json::array();
  nlohmann::json* inner = &deep;
  for (int i = 0; i < 200000; ++i) {
    inner->push_back(nlohmann::json::array());
    inner = &(*inner)[0];
  }
  const std::string d = describe_json(deep);
  EXPECT_EQ(d.rfind("an array [[[[", 0), 0u) << d;
  EXPECT_LT(d.size(), 80u) << d;
  EXPECT_EQ(describe_json(nlohmann::json("fast")), "a string \"fast\"");
  EXPECT_EQ(describe_json(nlohmann::json::object({{"a", 1}})), "an object {\"a\":1}");
}

TEST_F(InputLimits, NumbersThatOverflowADoubleNameFileLineAndColumn) {
  const std::string p = file("big.json", "{\n  \"model\": \"m\",\n  \"time_unit_ms\": 1e999,\n  \"layers\": []\n}\n");
  expect_all(error_of([&] { load_cost_table(p); }), {p + ":3:", "number out of range", "1e999"});
}

TEST_F(InputLimits, ScaledTimesMustStayFinite) {
  // The check used to run before scaling: 10 x 1e308 = inf ms, then "iteration inf ms".
  const std::string unit = file("unit.json", costs_with("10", ", \"time_unit_ms\": 1e308"));
  expect_all(error_of([&] { load_cost_table(unit); }), {unit + ": layers[0]: field 'f'", "time_unit_ms", "got inf"});
  const std::string f = file("f.json", costs_with("1e308"));
  expect_all(error_of([&] { load_cost_table(f); }), {f + ": layers[0]: field 'f'", "in [0, 1e+09]", "1e+308"});
  const std::string neg = file("neg.json", costs_with("-1"));
  expect_all(error_of([&] { load_cost_table(neg); }), {"field 'f'", "got -1"});
  const std::string mb = file("mb.json", costs_with("1", ", \"microbatches\": 4294967297"));
  expect_all(error_of([&] { load_cost_table(mb); }), {"field 'microbatches'", "4294967297"});
}

TEST_F(InputLimits, FilesThatAreNotJsonDocuments) {
  expect_all(error_of([&] { load_cost_table(dir_.string()); }), {dir_.string() + ": is a directory"});
  const std::string empty = file("empty.json", "");
  expect_all(error_of([&] { load_cost_table(empty); }), {empty + ": the file is empty"});
  const std::string blank = file("blank.json", " \n\t\n");
  expect_all(error_of([&] { load_cluster(blank); }), {blank + ": holds only white space"});
  const std::string garbage = file("garbage.json", std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10));
  expect_all(error_of([&] { load_cost_table(garbage); }), {garbage + ":1:1: malformed JSON"});
  const std::string nul = file("nul.json", std::string("{\"model\": \"a\0b\"}", 16));
  expect_all(error_of([&] { load_cost_table(nul); }), {nul + ":1:", "malformed JSON"});
  expect_all(error_of([&] { load_cost_table((dir_ / "missing.json").string()); }), {"missing.json: cannot open file: No such file"});
  if (::geteuid() != 0) {  // root reads any file
    const std::string locked = file("locked.json", costs_with("1"));
    fs::permissions(locked, fs::perms::none);
    expect_all(error_of([&] { load_cost_table(locked); }), {locked + ": cannot open file: Permission denied"});
  }
  // A UTF-8 byte-order mark is fine.
  const std::string bom = file("bom.json", "\xEF\xBB\xBF" + costs_with("1"));
  EXPECT_EQ(load_cost_table(bom).num_layers(), 1);
}

TEST_F(InputLimits, ClusterFieldsAreTypedRangedAndKnown) {
  auto cluster = [&](const std::string& device, const std::string& top = "") {
    return file("c.json", "{\"devices\": [{\"type\": \"H100-SXM\"" + device + "}]" + top + "}");
  };
  std::string p = cluster(", \"hbm_bandwidth_tbs\": -3");
  expect_all(error_of([&] { load_cluster(p); }), {p + ": devices[0]: field 'hbm_bandwidth_tbs'", "got -3"});
  p = cluster("", ", \"intra_node\": \"fast\"");
  expect_all(error_of([&] { load_cluster(p); }), {p + ": field 'intra_node' must be an object, got a string \"fast\""});
  p = cluster(", \"node\": 4294967297");
  expect_all(error_of([&] { load_cluster(p); }), {p + ": devices[0]: field 'node'", "4294967297"});
  p = cluster(", \"node\": 18446744073709551615");
  expect_all(error_of([&] { load_cluster(p); }), {"field 'node'", "18446744073709551615"});
  p = cluster("", ", \"inter_node\": {\"latency_us\": " + nested(300) + "}");
  expect_all(error_of([&] { load_cluster(p); }), {"inter_node: field 'latency_us' must be a number, got an array"});
  p = cluster(", \"hbm_bandwith_tbs\": 4");
  expect_all(error_of([&] { load_cluster(p); }), {"devices[0]: unknown field \"hbm_bandwith_tbs\"", "hbm_bandwidth_tbs"});
  // Found by the fuzzer: a denormal bandwidth made every transfer take inf ms (0 means no limit).
  p = cluster("", ", \"intra_node\": {\"bandwidth_gbs\": 1e-320}");
  expect_all(error_of([&] { load_cluster(p); }), {"intra_node: field 'bandwidth_gbs' (0 = no limit): must be in [0.001,"});
  p = cluster("", ", \"intra_node\": {\"bandwidth_gbs\": 0}");
  EXPECT_EQ(load_cluster(p).intra_node.bandwidth, 0.0);
  p = cluster(", \"speed\": 1e-300");
  expect_all(error_of([&] { load_cluster(p); }), {"field 'speed'"});
  // Comments are free-form.
  p = cluster(", \"note\": {\"any\": [1, 2]}", ", \"_comment\": 3");
  EXPECT_EQ(load_cluster(p).num_devices(), 1);
}

TEST_F(InputLimits, CostFilesRejectUnknownAndMistypedFields) {
  std::string p = file("typo.json", "{\"layers\": [{\"f\": 1, \"b\": 1, \"W\": 1}]}");
  expect_all(error_of([&] { load_cost_table(p); }), {p + ": layers[0]: unknown field \"W\"", "known: "});
  p = file("type.json", "{\"layers\": [{\"f\": 1, \"b\": 1, \"type\": 7}]}");
  expect_all(error_of([&] { load_cost_table(p); }), {"field 'type' must be a string, got an integer 7"});
}

TEST_F(InputLimits, ModelSpecErrorsAreBoundedAndDerivedCostsFinite) {
  const std::string head = "{\"seq_len\": 16, \"micro_batch_size\": 1, \"layers\": [{\"kind\": \"mlp\", \"hidden\": ";
  std::string p = file("m.json", head + nested(400) + ", \"ffn_hidden\": 64}]}");
  std::string msg = error_of([&] { load_model_spec(p); });
  expect_all(msg, {"field 'hidden' must be an integer, got an array [[["});
  EXPECT_LT(msg.size(), 300u);
  p = file("deep.json", head + nested(100000) + ", \"ffn_hidden\": 64}]}");
  expect_all(error_of([&] { load_model_spec(p); }), {"nested deeper than 512"});
  p = file("huge.json", head + "18446744073709551615, \"ffn_hidden\": 64}]}");
  expect_all(error_of([&] { load_model_spec(p); }), {"field 'hidden' must be in [1,", "18446744073709551615"});
  // Every efficiency is in (0, 1], yet 1e-300 makes each GEMM take ~1e300 ms: the derived costs are checked.
  p = file("eff.json", "{\"seq_len\": 16, \"micro_batch_size\": 1, \"efficiency\": {\"gemm\": 1e-300}, "
                       "\"layers\": [{\"kind\": \"mlp\", \"hidden\": 64, \"ffn_hidden\": 64}]}");
  const ModelSpec spec = load_model_spec(p);
  expect_all(error_of([&] { analytical_costs(spec, Device{}); }),
             {p + ": analytical costs on H100-SXM: layers[0] ('layers.0'): field 'f' (ms)", "in [0, 1e+09]"});
}

TEST(CheckedNumbers, NarrowOnlyAfterTheRangeCheck) {
  EXPECT_EQ(checked_int(7, 0, 10, "x"), 7);
  expect_all(error_of([] { checked_int(4294967303LL, 0, 10, "plan.json: partition[0]"); }),
             {"plan.json: partition[0]: must be in [0, 10], got 4294967303"});
  EXPECT_EQ(checked_finite(2.5, 0, 3, "x"), 2.5);
  expect_all(error_of([] { checked_finite(std::numeric_limits<double>::infinity(), 0, 3, "f"); }),
             {"f: must be a finite number in [0, 3], got inf"});
  expect_all(error_of([] { checked_finite(std::nan(""), 0, 3, "f"); }), {"got nan"});
  nlohmann::json j = {{"n", 4294967297LL}, {"u", 18446744073709551615ULL}, {"s", "1"}};
  expect_all(error_of([&] { json_int_in(j, "n", 0, 100, "f.json"); }), {"f.json: field 'n': must be in [0, 100], got 4294967297"});
  expect_all(error_of([&] { json_int_in(j, "u", 0, 100, "f.json"); }), {"field 'u'", "18446744073709551615"});
  expect_all(error_of([&] { json_int(j, "u", "f.json"); }), {"field 'u' is out of range"});
  expect_all(error_of([&] { json_int_in(j, "s", 0, 100, "f.json"); }), {"must be an integer, got a string \"1\""});
}

TEST(QuotedExcerpt, IsBoundedAndShowsControlCharacters) {
  EXPECT_EQ(quoted_excerpt("abc"), "'abc'");
  EXPECT_EQ(quoted_excerpt("a\x1b[2Jb"), "'a\\x1b[2Jb'");
  const std::string long_text(100000, 'y');
  EXPECT_EQ(quoted_excerpt(long_text, 10), "'yyyyyyyyyy...'");
}

}  // namespace
}  // namespace adaptis
