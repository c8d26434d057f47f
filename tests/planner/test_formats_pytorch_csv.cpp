// PyTorch pipelining CSV: round trips of every built-in schedule (compute_only and
// compute_comms), PyTorch's naming and lowering rules, tolerant reading, and bad input.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/simulator.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

using test::expect_input_error;

std::vector<std::vector<std::string>> rows_of(const std::string& csv) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream is(csv);
  std::string line;
  while (std::getline(is, line)) {
    std::vector<std::string> row;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',')) row.push_back(cell);
    rows.push_back(row);
  }
  return rows;
}

PytorchCsvImport import_for(const Plan& plan) {
  PytorchCsvImport ci;
  ci.partition = plan.partition.sizes();
  ci.num_layers = plan.partition.num_layers();
  return ci;
}

TEST(FormatsPytorchCsv, RoundTripEveryScheduleBothFormats) {
  CostTable costs = test::nemotron_costs();
  Cluster cluster = make_uniform_cluster(4);
  for (const auto& [name, plan] : test::all_builtin_plans(costs.num_layers())) {
    for (auto fmt : {PytorchCsvFormat::ComputeOnly, PytorchCsvFormat::ComputeComms}) {
      SCOPED_TRACE(name + (fmt == PytorchCsvFormat::ComputeOnly ? " compute_only" : " compute_comms"));
      std::string csv = format_pytorch_csv(plan, fmt);
      Plan back = parse_pytorch_csv(csv, import_for(plan), "roundtrip.csv");
      EXPECT_EQ(back.num_microbatches, plan.num_microbatches);
      EXPECT_EQ(back.partition.bounds, plan.partition.bounds);
      EXPECT_EQ(test::sorted_placement(back.placement), test::sorted_placement(plan.placement));
      EXPECT_EQ(back.schedule, test::pairs_forward_first(plan.schedule));
      SimResult a = simulate(plan, costs, cluster), b = simulate(back, costs, cluster);
      ASSERT_TRUE(a.ok && b.ok);
      EXPECT_DOUBLE_EQ(a.iteration_ms, b.iteration_ms);
    }
  }
}

TEST(FormatsPytorchCsv, NamingOursToPytorch) {
  EXPECT_EQ(pytorch_action({Op::F, 2, 0}), "2F0");
  EXPECT_EQ(pytorch_action({Op::B, 3, 1}), "3I1");   // our input-gradient B is PyTorch's I
  EXPECT_EQ(pytorch_action({Op::W, 0, 5}), "0W5");
  EXPECT_EQ(pytorch_action({Op::BW, 1, 2}), "1B2");  // our fused BW is PyTorch's full backward B

  // And back: I -> B, B -> BW.
  Plan p = parse_pytorch_csv("0F0,0I0,0W0\n1F0,1B0\n", {{1, 1}, 2, 0, "t"}, "t.csv");
  EXPECT_EQ(p.schedule[0], (std::vector<Action>{{Op::F, 0, 0}, {Op::B, 0, 0}, {Op::W, 0, 0}}));
  EXPECT_EQ(p.schedule[1], (std::vector<Action>{{Op::F, 1, 0}, {Op::BW, 1, 0}}));
}

TEST(FormatsPytorchCsv, ComputeCommsFollowsPytorchLowering) {
  PlanRequest req;
  req.schedule = "1f1b";
  Plan plan = build_plan(req, 8);  // 4 devices, 8 micro-batches
  auto rows = rows_of(format_pytorch_csv(plan, PytorchCsvFormat::ComputeComms));
  ASSERT_EQ(rows.size(), 4u);
  // Round 1 of the lowering: every rank unshards its stage and issues F of mb 0; the RECV lands
  // before it.
  EXPECT_EQ((std::vector<std::string>(rows[0].begin(), rows[0].begin() + 3)),
            (std::vector<std::string>{"0UNSHARD", "0F0", "0SEND_F0"}));
  EXPECT_EQ((std::vector<std::string>(rows[1].begin(), rows[1].begin() + 4)),
            (std::vector<std::string>{"1UNSHARD", "1RECV_F0", "1F0", "1SEND_F0"}));
  // The last stage sends no activation; the first sends no gradient.
  for (const auto& c : rows[3]) EXPECT_EQ(c.find("SEND_F"), std::string::npos) << c;
  for (const auto& c : rows[0]) EXPECT_EQ(c.find("SEND_B"), std::string::npos) << c;
  // Every SEND has its RECV on the peer's row and one WAIT_SEND on its own: 3 links x 8 mbs x 2
  // directions; each stage reduces its gradients once, after its last backward, and reshards last.
  std::map<std::string, int> sends, recvs, waits;
  int reduces = 0;
  for (size_t r = 0; r < rows.size(); ++r)
    for (const auto& c : rows[r]) {
      const std::string type = c.substr(c.find_first_not_of("0123456789"));
      if (type.rfind("SEND_", 0) == 0) ++sends[c];
      if (type.rfind("RECV_", 0) == 0) ++recvs[c];
      if (type.rfind("WAIT_SEND_", 0) == 0) ++waits[c];
      if (type == "REDUCE_GRAD") ++reduces;
    }
  int total = 0;
  for (const auto& [cell, n] : sends) total += n;
  EXPECT_EQ(total, 48);
  EXPECT_EQ(recvs.size(), sends.size());
  EXPECT_EQ(waits.size(), sends.size());
  EXPECT_EQ(reduces, 4);
  EXPECT_EQ(recvs.count("1RECV_B0"), 1u);  // the gradient of stage 2 arrives at stage 1
  // A row ends by resharding its stage, or with the waits for the gradients it sent back.
  for (size_t r = 0; r < rows.size(); ++r)
    EXPECT_TRUE(rows[r].back() == std::to_string(r) + "RESHARD" || rows[r].back().find("WAIT_SEND_B") != std::string::npos)
        << rows[r].back();
  // A RECV precedes the compute that consumes it on every row, and a SEND its WAIT.
  for (size_t r = 0; r < rows.size(); ++r) {
    std::map<std::string, size_t> pos;
    for (size_t i = 0; i < rows[r].size(); ++i) pos[rows[r][i]] = i;
    for (const auto& [cell, i] : pos) {
      if (cell.find("RECV_F") != std::string::npos) {
        std::string stage = cell.substr(0, cell.find('R')), mb = cell.substr(cell.find("RECV_F") + 6);
        ASSERT_TRUE(pos.count(stage + "F" + mb)) << cell;
        EXPECT_LT(i, pos[stage + "F" + mb]) << cell;
      }
      if (cell.find("WAIT_SEND") != std::string::npos) {
        ASSERT_TRUE(pos.count(cell.substr(0, cell.find('W')) + cell.substr(cell.find("WAIT_") + 5))) << cell;
        EXPECT_GT(i, pos[cell.substr(0, cell.find('W')) + cell.substr(cell.find("WAIT_") + 5)]) << cell;
      }
    }
  }
}

TEST(FormatsPytorchCsv, ReadsSpacesEmptyCellsQuotesCrlfAndIgnoredActions) {
  std::string csv =
      "0UNSHARD, 0F0 ,,\"0F1\", 0B0 ,0B1,0RESHARD,0REDUCE_GRAD\r\n"
      " 1F0,1F1 , 1B0,,1B1\r\n"
      "\r\n";
  PytorchCsvImport ci;
  ci.num_layers = 6;  // even split over the 2 stages
  Plan p = parse_pytorch_csv(csv, ci, "tolerant.csv");
  EXPECT_EQ(p.num_microbatches, 2);
  EXPECT_EQ(p.partition.sizes(), (std::vector<int>{3, 3}));
  EXPECT_EQ(p.num_devices(), 2);
  EXPECT_EQ(p.schedule[0].size(), 4u);
  EXPECT_EQ(p.schedule[1].size(), 4u);
}

TEST(FormatsPytorchCsv, ReadsOverlapFB) {
  Plan p = parse_pytorch_csv("0F0,0F1,0B0,0B1\n1F0,(1F1;1B0)OVERLAP_F_B,1B1\n", {{2, 2}, 4, 0, "t"}, "pair.csv");
  ASSERT_EQ(p.schedule[1].size(), 4u);
  EXPECT_EQ(p.schedule[1][1], (Action{Op::F, 1, 1, false}));
  EXPECT_EQ(p.schedule[1][2], (Action{Op::BW, 1, 0, true}));
  // Written back as one compound cell, forward first.
  EXPECT_EQ(rows_of(format_pytorch_csv(p))[1][1], "(1F1;1B0)OVERLAP_F_B");
}

TEST(FormatsPytorchCsv, InfersPlacementAndMicrobatches) {
  // A V placement: rank 0 holds stages 0 and 3, rank 1 holds 1 and 2.
  std::string csv =
      "0F0,0F1,3F0,3B0,3F1,3B1,0B0,0B1\n"
      "1F0,1F1,2F0,2F1,2B0,1B0,2B1,1B1\n";
  PytorchCsvImport ci;
  ci.num_layers = 8;
  Plan p = parse_pytorch_csv(csv, ci, "v.csv");
  EXPECT_EQ(p.num_microbatches, 2);
  EXPECT_EQ(p.placement.device_stages, (std::vector<std::vector<int>>{{0, 3}, {1, 2}}));
}

TEST(FormatsPytorchCsv, BadCellsNameRowAndColumn) {
  PytorchCsvImport ci;
  ci.num_layers = 4;
  expect_input_error([&] { parse_pytorch_csv("0F0,0X1\n1F0\n", ci, "bad.csv"); },
                     {"bad.csv", "row 1 (rank 0), column 2", "0X1", "unknown action type"});
  expect_input_error([&] { parse_pytorch_csv("0F0\n1F0,1F\n", ci, "bad.csv"); },
                     {"row 2 (rank 1), column 2", "missing the micro-batch"});
  expect_input_error([&] { parse_pytorch_csv("F0\n", ci, "bad.csv"); }, {"row 1 (rank 0), column 1", "stage number"});
  expect_input_error([&] { parse_pytorch_csv("0F0x\n", ci, "bad.csv"); }, {"column 1", "unexpected 'x'"});
  expect_input_error([&] { parse_pytorch_csv(",,(0F0)OVERLAP_F_B\n", ci, "bad.csv"); },
                     {"column 3", "exactly two sub-actions"});
  expect_input_error([&] { parse_pytorch_csv("(0F0;0F1)MERGE\n", ci, "bad.csv"); }, {"unknown compound"});
  expect_input_error([&] { parse_pytorch_csv("(0F0;0SEND_F0)OVERLAP_F_B\n", ci, "bad.csv"); },
                     {"must be a compute action"});
  expect_input_error([&] { parse_pytorch_csv("0F0,\"0F1\n", ci, "bad.csv"); }, {"unterminated quoted"});
}

TEST(FormatsPytorchCsv, StructuralErrors) {
  PytorchCsvImport ci;
  ci.num_layers = 4;
  expect_input_error([&] { parse_pytorch_csv("0F0,0B0\n0F1,0B1\n", ci, "two.csv"); },
                     {"row 2 (rank 1), column 1", "stage 0 also appears on rank 0"});
  expect_input_error([&] { parse_pytorch_csv("0F0,0B0\n2F0,2B0\n", ci, "gap.csv"); }, {"stage 1 has no actions"});
  expect_input_error([&] { parse_pytorch_csv("", ci, "empty.csv"); }, {"no rows"});
  expect_input_error([&] { parse_pytorch_csv("0UNSHARD\n", ci, "none.csv"); }, {"no compute actions"});
  // SEND/RECV must name a stage of the row's own rank.
  expect_input_error([&] { parse_pytorch_csv("0F0,1SEND_B0,0B0\n1F0,1B0\n", ci, "comm.csv"); },
                     {"column 2", "stage 1 runs on rank 1"});
  // The CSV cannot say the partition: it must come from somewhere.
  expect_input_error([&] { parse_pytorch_csv("0F0,0B0\n1F0,1B0\n", {}, "nopart.csv"); }, {"give the partition"});
  expect_input_error([&] { parse_pytorch_csv("0F0,0B0\n1F0,1B0\n", {{1, 1, 2}, 4, 0, "x"}, "p.csv"); },
                     {"2 stages but the partition gives 3"});
  // Missing backward for a micro-batch: the validator names it.
  expect_input_error([&] { parse_pytorch_csv("0F0,0F1,0B0\n1F0,1B0,1F1,1B1\n", ci, "miss.csv"); },
                     {"stage 0 mb 1", "missing its backward"});
}

TEST(FormatsPytorchCsv, DeadlockingCsvIsReported) {
  // Rank 0 waits in B(0,0) for rank 1's B(1,0), which is queued behind F(1,1), which needs
  // rank 0's F(0,1), queued behind B(0,0).
  std::string csv = "0F0,0B0,0F1,0B1\n1F1,1F0,1B0,1B1\n";
  PytorchCsvImport ci;
  ci.num_layers = 2;
  expect_input_error([&] { parse_pytorch_csv(csv, ci, "dead.csv"); }, {"dead.csv", "deadlock", "device 0", "device 1"});
  // Lowering such an order to compute_comms cannot succeed either.
  Plan p;
  p.num_microbatches = 2;
  p.partition = Partition::from_sizes({1, 1});
  p.placement.device_stages = {{0}, {1}};
  p.schedule = {{{Op::F, 0, 0}, {Op::BW, 0, 0}, {Op::F, 0, 1}, {Op::BW, 0, 1}},
                {{Op::F, 1, 1}, {Op::F, 1, 0}, {Op::BW, 1, 0}, {Op::BW, 1, 1}}};
  expect_input_error([&] { format_pytorch_csv(p, PytorchCsvFormat::ComputeComms); },
                     {"send-recv-lowering", "deadlock", "device 0", "device 1"});
}

}  // namespace
}  // namespace adaptis
