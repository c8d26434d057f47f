// What no plan file may do to the readers: size anything by an id the file itself cannot back (one
// cell "0F1000000" used to allocate 4.5 GB), wrap an integer around (4294967303 read as 7), recurse
// without limit (a Megatron layout of 50,000 parentheses), or be accepted while it cannot run (a
// compute_comms CSV whose RECV has no SEND). Each is an InputError naming the file and the place.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>

#include "adaptis/model/json_file.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/validator.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

using test::expect_input_error;

Plan plan_of(const std::string& schedule, int devices = 2, int microbatches = 4, int layers = 8) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = devices;
  r.microbatches = microbatches;
  return build_plan(r, layers);
}

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from << " not in:\n" << s;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

PytorchCsvImport csv_options() {
  PytorchCsvImport o;
  o.num_layers = 8;
  return o;
}

TEST(PytorchCsvLimits, AMicroBatchIdTheFileCannotBackIsRejectedBeforeAllocating) {
  const std::string csv = replace_first(format_pytorch_csv(plan_of("1f1b")), "0F3", "0F1000000");
  const auto t0 = std::chrono::steady_clock::now();
  expect_input_error([&] { parse_pytorch_csv(csv, csv_options(), "big.csv"); },
                     {"big.csv: row 1 (rank 0), column", "cell '0F1000000' uses micro-batch 1000000",
                      "stage 0 has no forward (F) for micro-batch 3", "F actions for 4 of its 1000001"});
  // Well under a second: nothing is sized by the id.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  // A count given by the caller is held to the same rule.
  PytorchCsvImport o = csv_options();
  o.num_microbatches = 1000000;
  expect_input_error([&] { parse_pytorch_csv(format_pytorch_csv(plan_of("1f1b")), o, "given.csv"); },
                     {"given.csv: 1000000 micro-batches were given", "stage 0 has no forward (F) for micro-batch 4"});
  // The largest id a cell may hold is still bounded by its digits.
  expect_input_error([&] { parse_pytorch_csv("0F9999999999\n", csv_options(), "d.csv"); }, {"micro-batch number too large"});
  expect_input_error([&] { parse_pytorch_csv("100000F0\n", csv_options(), "s.csv"); }, {"stage 100000 is beyond 99999"});
  // A cell far longer than any action is not echoed whole.
  expect_input_error([&] { parse_pytorch_csv(std::string(1 << 20, '7') + "\n", csv_options(), "l.csv"); },
                     {"l.csv: row 1 (rank 0), column 1: a cell of 1048576 characters"});
}

TEST(PytorchCsvLimits, EverySendHasItsRecvAndEveryCrossRankInputBoth) {
  const std::string csv = format_pytorch_csv(plan_of("1f1b"), PytorchCsvFormat::ComputeComms);
  ASSERT_NO_THROW(parse_pytorch_csv(csv, csv_options(), "ok.csv"));
  EXPECT_NO_THROW(parse_pytorch_csv("\xEF\xBB\xBF" + csv, csv_options(), "bom.csv"));  // a byte-order mark is fine
  // A SEND_F deleted: the RECV on rank 1 would wait forever.
  expect_input_error([&] { parse_pytorch_csv(replace_first(csv, "0SEND_F0,", ""), csv_options(), "nosend.csv"); },
                     {"nosend.csv: row 2 (rank 1), column", "cell '1RECV_F0' has no matching '0SEND_F0' on rank 0"});
  // A RECV_B deleted: the SEND on rank 1 is never received.
  expect_input_error([&] { parse_pytorch_csv(replace_first(csv, "0RECV_B0,", ""), csv_options(), "norecv.csv"); },
                     {"norecv.csv: row 2 (rank 1)", "cell '1SEND_B0' has no matching '0RECV_B0' on rank 0"});
  // Both ends of a message deleted: the consumer has no input at all.
  std::string both = replace_first(replace_first(csv, "0SEND_F1,", ""), "1RECV_F1,", "");
  expect_input_error([&] { parse_pytorch_csv(both, csv_options(), "none.csv"); },
                     {"none.csv: row 2 (rank 1)", "cell '1F1' needs the activation of stage 0 from rank 0",
                      "no '1RECV_F1'"});
  // A message sent twice.
  expect_input_error([&] { parse_pytorch_csv(replace_first(csv, "0SEND_F0,", "0SEND_F0,0SEND_F0,"), csv_options(), "dup.csv"); },
                     {"dup.csv: row 1 (rank 0)", "repeats"});
  // A RECV placed after the action that needs it.
  std::string late = replace_first(csv, "1RECV_F0,1F0", "1F0,1RECV_F0");
  expect_input_error([&] { parse_pytorch_csv(late, csv_options(), "late.csv"); },
                     {"late.csv: row 2 (rank 1)", "cell '1F0' runs before '1RECV_F0'"});
}

TEST(OctopipeLimits, IdsAreBoundedByTheFileBeforeAllocating) {
  OctopipeImport o;
  o.num_layers = 8;
  const std::string good = "partition: [4, 4]\nscheduling:\n- (f, 0, 0, 0, 0, 1)\n- (f, 0, 1, 1, 1, 2)\n"
                           "- (b, 0, 1, 1, 2, 3)\n- (b, 0, 0, 0, 3, 4)\n";
  ASSERT_NO_THROW(parse_octopipe_yaml(good, o, "ok.yaml"));
  EXPECT_NO_THROW(parse_octopipe_yaml("\xEF\xBB\xBF" + good, o, "bom.yaml"));
  // Without a partition the stage count comes from the ids: the file must back them.
  const std::string no_partition = replace_first(good, "partition: [4, 4]\n", "");
  expect_input_error(
      [&] { parse_octopipe_yaml(replace_first(no_partition, "(f, 0, 1, 1,", "(f, 0, 999999999, 1,"), o, "sid.yaml"); },
      {"sid.yaml:3: stage 999999999 but the file has only 4 actions"});
  expect_input_error([&] { parse_octopipe_yaml(replace_first(good, "(f, 0, 1, 1,", "(f, 0, 999999999, 1,"), o, "sid.yaml"); },
                     {"sid.yaml:4: stage 999999999 does not exist (the partition has 2 stages)"});
  expect_input_error([&] { parse_octopipe_yaml(replace_first(good, "(f, 0, 1, 1,", "(f, 0, 1, 999999999,"), o, "did.yaml"); },
                     {"did.yaml:4: device 999999999 but the file has only 4 actions"});
  expect_input_error([&] { parse_octopipe_yaml(replace_first(good, "(b, 0, 1, 1,", "(b, 999999999, 1, 1,"), o, "mid.yaml"); },
                     {"mid.yaml:5: micro-batch 999999999, but stage 0 has no forward (f) for micro-batch 1"});
  expect_input_error([&] { parse_octopipe_yaml(replace_first(good, "[4, 4]", "[4294967297, 4]"), o, "part.yaml"); },
                     {"part.yaml:1: partition[0]: must be in [0, 100000], got 4294967297"});
  expect_input_error([&] { parse_octopipe_yaml(replace_first(good, "[4, 4]", "[70000, 70000]"), o, "sum.yaml"); },
                     {"add up to more than 100000"});
  expect_input_error([&] { parse_octopipe_yaml("placement: [[4294967296]]\n" + good, o, "pl.yaml"); },
                     {"pl.yaml:1: placement: placement[0][0] (a stage id): must be in [0, 99999], got 4294967296"});
  // A flow list left open over many lines is read in linear time.
  std::string open = "partition: [1,\n";
  for (int i = 0; i < 200000; ++i) open += " 1,\n";
  const auto t0 = std::chrono::steady_clock::now();
  expect_input_error([&] { parse_octopipe_yaml(open, o, "open.yaml"); }, {"open.yaml"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

TEST(PlanJsonLimits, IntegersAreRangeCheckedBeforeNarrowing) {
  nlohmann::json j = plan_to_json(plan_of("1f1b"));
  auto with = [&](const char* key, nlohmann::json v) {
    nlohmann::json k = j;
    k[key] = std::move(v);
    return k;
  };
  expect_input_error([&] { plan_from_json(with("partition", {4294967303LL, 4}), "p.json"); },
                     {"p.json: partition[0] (layers in stage 0): must be in [1, 100000], got 4294967303"});
  expect_input_error([&] { plan_from_json(with("placement", {{4294967296LL}, {1}}), "p.json"); },
                     {"p.json: placement[0][0] (a stage index): must be in [0, 1], got 4294967296"});
  expect_input_error([&] { plan_from_json(with("microbatches", 18446744073709551615ULL), "p.json"); },
                     {"p.json: field 'microbatches'", "18446744073709551615"});
  expect_input_error([&] { plan_from_json(with("partition", {100000, 100000}), "p.json"); },
                     {"p.json: field 'partition' adds up to 200000 layers"});
  expect_input_error([&] { plan_from_json(with("schedul", nlohmann::json::array()), "p.json"); },
                     {"p.json: unknown field \"schedul\""});
  // A placement entry holding a deeply nested value: a bounded excerpt, no recursion.
  nlohmann::json deep = nlohmann::json::array();
  nlohmann::json* inner = &deep;
  for (int i = 0; i < 100000; ++i) {
    inner->push_back(nlohmann::json::array());
    inner = &(*inner)[0];
  }
  nlohmann::json pl = {nlohmann::json::array(), {1}};
  pl[0].push_back(std::move(deep));
  expect_input_error([&] { plan_from_json(with("placement", std::move(pl)), "p.json"); },
                     {"p.json: placement[0][0] (a stage index): must be an integer, got an array [[[["});
}

TEST(PlanJsonLimits, MicroBatchesTheScheduleCannotBackAreRejectedBeforeAllocating) {
  const nlohmann::json j = parse_json_text(
      R"({"microbatches": 1000000, "partition": [1], "placement": [[0]], "schedule": [["F0.0", "BW0.0"]]})", "few.json");
  const Plan p = plan_from_json(j, "few.json");
  const auto t0 = std::chrono::steady_clock::now();
  expect_input_error([&] { require_valid_plan(p, -1, "few.json"); },
                     {"few.json: invalid plan", "holds 2 actions, but 1 stages x 1000000 micro-batches"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  // Many problems: the first are listed, the rest counted.
  nlohmann::json k = plan_to_json(plan_of("1f1b", 2, 64));
  for (auto& list : k["schedule"])
    for (auto& a : list) a = "F0.0";
  ValidationReport r = validate_plan(plan_from_json(k, "many.json"), -1);
  ASSERT_FALSE(r.ok());
  EXPECT_LE(r.errors.size(), 21u);
  EXPECT_NE(r.errors.back().find("more problems"), std::string::npos) << r.errors.back();
}

TEST(PartitionLimits, SizesCannotWrapAround) {
  expect_input_error([] { Partition::from_sizes({2147483647, 1, 1, 1}); }, {"partition: the layers per stage add up to more than 100000"});
}

TEST(MegatronLayoutLimits, NestingAndExpansionAreBounded) {
  const std::string deep = std::string(50000, '(') + "Et|tL" + std::string(50000, ')');
  try {
    parse_megatron_layout(deep, 2, {});
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("at character 33: parentheses nested deeper than 32 levels"), std::string::npos) << msg.substr(0, 300);
    EXPECT_LT(msg.size(), 300u) << "the 100 kB layout is quoted whole";
  }
  const auto t0 = std::chrono::steady_clock::now();
  expect_input_error([] { parse_megatron_layout("E|((t*999999)*999999)|L", 3, {}); }, {"expands to more than 500000 symbols"});
  expect_input_error([] { parse_megatron_layout("E|(((((t*999)*999)*999)*999)*999)|L", 3, {}); }, {"expands to more than"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  expect_input_error([] { parse_megatron_layout("E|t*9999999|L", 3, {}); }, {"repeat count too large"});
  EXPECT_NO_THROW(parse_megatron_layout("(Et|((t|)*2))tL", 4, {}));
}

}  // namespace
}  // namespace adaptis
