// The lowering pass (Plan -> per-device instruction lists) and the static program checker.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/validator.h"

using namespace adaptis;
using namespace adaptis::exec;

namespace {

// Builds a validated plan for `schedule`; returns false when that schedule is not in this build (or
// rejects these options with its own constraint), so loops over all_schedules() can skip it.
bool try_plan(const std::string& schedule, int devices, int m, Plan& out, std::string* why = nullptr,
              const std::string& placement = "") {
  PlanRequest req;
  req.schedule = schedule;
  req.devices = devices;
  req.microbatches = m;
  req.placement = placement;
  try {
    ScheduleOptions so;
    so.devices = devices;
    so.microbatches = m;
    Plan probe = generate_schedule(parse_schedule_kind(schedule), so);
    out = build_plan(req, 2 * probe.placement.num_stages());
    return true;
  } catch (const InputError& e) {
    if (why) *why = e.what();
    return false;
  }
}

int count_kind(const Program& p, InstrKind k) {
  int n = 0;
  for (const auto& l : p.devices)
    for (const auto& i : l) n += i.kind == k;
  return n;
}

// Independent of check_program: every message appears as exactly one SEND on its producer's device and
// one RECV and one WAIT on its consumer's device, RECV before WAIT, and only between different devices.
void expect_pairwise_matching(const Program& p) {
  using Key = std::tuple<int, int, int>;  // kind, stage, mb
  std::map<Key, std::vector<std::pair<int, int>>> sends, posts, waits;  // -> (device, peer)
  std::map<Key, int> post_pos, wait_pos;
  for (int d = 0; d < p.num_devices(); ++d)
    for (size_t i = 0; i < p.devices[d].size(); ++i) {
      const Instruction& ins = p.devices[d][i];
      Key k{static_cast<int>(ins.tensor.kind), ins.tensor.stage, ins.tensor.mb};
      if (ins.kind == InstrKind::Send) sends[k].push_back({d, ins.peer});
      if (ins.kind == InstrKind::PostRecv) posts[k].push_back({d, ins.peer}), post_pos[k] = static_cast<int>(i);
      if (ins.kind == InstrKind::WaitRecv) waits[k].push_back({d, ins.peer}), wait_pos[k] = static_cast<int>(i);
    }
  EXPECT_EQ(sends.size(), posts.size());
  EXPECT_EQ(sends.size(), waits.size());
  for (const auto& [k, s] : sends) {
    ASSERT_EQ(s.size(), 1u);
    ASSERT_EQ(posts[k].size(), 1u);
    ASSERT_EQ(waits[k].size(), 1u);
    auto [src, dst] = s[0];
    EXPECT_NE(src, dst);
    EXPECT_EQ(posts[k][0], std::make_pair(dst, src));
    EXPECT_EQ(waits[k][0], std::make_pair(dst, src));
    EXPECT_LT(post_pos[k], wait_pos[k]);
    const int stage = std::get<1>(k);
    const bool act = std::get<0>(k) == static_cast<int>(TensorKind::Activation);
    EXPECT_EQ(src, p.stage_device[stage]);
    EXPECT_EQ(dst, p.stage_device[act ? stage + 1 : stage - 1]);
  }
}

// Cross-device edges of a plan: F(s)->F(s+1) and B/BW(s+1)->B/BW(s) between different devices.
int cross_device_edges(const Plan& plan) {
  auto sd = plan.placement.stage_device();
  int n = 0;
  for (int s = 0; s + 1 < plan.num_stages(); ++s) n += sd[s] != sd[s + 1] ? 2 * plan.num_microbatches : 0;
  return n;
}

}  // namespace

TEST(Lowering, EveryBuiltInScheduleLowersToAValidDeadlockFreeProgram) {
  int lowered = 0;
  std::set<std::string> ran;
  for (const auto& info : all_schedules()) {
    for (int devices : {2, 4}) {
      for (int m : {4, 8}) {
        Plan plan;
        std::string why;
        if (!try_plan(info.name, devices, m, plan, &why)) {
          // Schedules still being written say so; any other refusal must be the schedule's own constraint.
          if (why.find("not available") == std::string::npos)
            std::cout << "[ note ] " << info.name << " p=" << devices << " m=" << m << " refused: " << why << "\n";
          continue;
        }
        SCOPED_TRACE(std::string(info.name) + " p=" + std::to_string(devices) + " m=" + std::to_string(m));
        for (int lookahead : {0, 1, 3, 1000}) {
          Program prog = lower_plan(plan, {lookahead});
          ProgramReport rep = check_program(prog);
          ASSERT_TRUE(rep.ok()) << rep.message() << "\n" << format_program(prog);
          expect_pairwise_matching(prog);
          // One message per cross-device edge, none for same-device edges.
          EXPECT_EQ(count_kind(prog, InstrKind::Send), cross_device_edges(plan));
          // Computes are the plan's actions, in the plan's order.
          for (int d = 0; d < plan.num_devices(); ++d) {
            std::vector<Action> computes;
            for (const auto& ins : prog.devices[d])
              if (ins.kind == InstrKind::Compute) computes.push_back({ins.op, ins.stage, ins.mb, ins.overlap_prev});
            EXPECT_EQ(computes, plan.schedule[d]);
          }
        }
        ++lowered;
        ran.insert(info.name);
      }
    }
  }
  EXPECT_TRUE(ran.count("gpipe"));
  EXPECT_TRUE(ran.count("1f1b"));
  EXPECT_GE(lowered, 8);
}

TEST(Lowering, WaitSitsRightBeforeItsConsumerAndPostIsEarlier) {
  Plan plan;
  ASSERT_TRUE(try_plan("1f1b", 4, 8, plan));
  Program prog = lower_plan(plan, {2});
  for (int d = 0; d < prog.num_devices(); ++d) {
    const auto& l = prog.devices[d];
    for (size_t i = 0; i < l.size(); ++i) {
      if (l[i].kind != InstrKind::WaitRecv) continue;
      // Only other waits may sit between a wait and the compute that consumes it.
      size_t j = i + 1;
      while (j < l.size() && l[j].kind == InstrKind::WaitRecv) ++j;
      ASSERT_LT(j, l.size());
      const Instruction& c = l[j];
      ASSERT_EQ(c.kind, InstrKind::Compute) << l[i].to_string();
      const TensorTag& t = l[i].tensor;
      if (t.kind == TensorKind::Activation) {
        EXPECT_TRUE(c.op == Op::F && c.stage == t.stage + 1 && c.mb == t.mb);
      }
      // The post was issued two computes earlier (or at the start of the list).
      int computes_between = 0;
      size_t k = i;
      while (k-- > 0 && !(l[k].kind == InstrKind::PostRecv && l[k].tensor == t))
        computes_between += l[k].kind == InstrKind::Compute;
      ASSERT_NE(k, static_cast<size_t>(-1)) << "no post for " << l[i].to_string();
      EXPECT_LE(computes_between, 2);
    }
  }
}

TEST(Lowering, SendFollowsItsProducer) {
  Plan plan;
  ASSERT_TRUE(try_plan("gpipe", 3, 4, plan));
  Program prog = lower_plan(plan);
  for (const auto& l : prog.devices)
    for (size_t i = 0; i < l.size(); ++i)
      if (l[i].kind == InstrKind::Send) {
        ASSERT_GT(i, 0u);
        const Instruction& prev = l[i - 1];
        EXPECT_EQ(prev.kind, InstrKind::Compute);
        EXPECT_EQ(prev.stage, l[i].tensor.stage);
        EXPECT_EQ(prev.mb, l[i].tensor.mb);
      }
}

TEST(Lowering, CustomIrregularPlacementLowers) {
  Plan plan;
  std::string why;
  ASSERT_TRUE(try_plan("1f1b", 4, 6, plan, &why, "2|0|3|1")) << why;
  Program prog = lower_plan(plan);
  ProgramReport rep = check_program(prog);
  ASSERT_TRUE(rep.ok()) << rep.message();
  expect_pairwise_matching(prog);
  EXPECT_EQ(prog.stage_device, (std::vector<int>{1, 3, 0, 2}));
}

TEST(Lowering, SameDeviceNeighboursExchangeNoMessages) {
  // Two stages per device, neighbours together: 0,1 | 2,3. Only the 1->2 edge crosses devices.
  Plan plan;
  plan.name = "custom";
  plan.num_microbatches = 2;
  plan.partition = Partition::from_sizes({1, 1, 1, 1});
  plan.placement.device_stages = {{0, 1}, {2, 3}};
  plan.schedule.resize(2);
  for (int mb = 0; mb < 2; ++mb) {
    plan.schedule[0].push_back({Op::F, 0, mb});
    plan.schedule[0].push_back({Op::F, 1, mb});
    plan.schedule[1].push_back({Op::F, 2, mb});
    plan.schedule[1].push_back({Op::F, 3, mb});
  }
  for (int mb = 0; mb < 2; ++mb) {
    plan.schedule[1].push_back({Op::BW, 3, mb});
    plan.schedule[1].push_back({Op::BW, 2, mb});
    plan.schedule[0].push_back({Op::BW, 1, mb});
    plan.schedule[0].push_back({Op::BW, 0, mb});
  }
  ASSERT_TRUE(validate_plan(plan, 4).ok()) << validate_plan(plan, 4).message();
  Program prog = lower_plan(plan);
  ASSERT_TRUE(check_program(prog).ok()) << check_program(prog).message();
  EXPECT_EQ(count_kind(prog, InstrKind::Send), 4);  // act s1 mb0/1 and grad s2 mb0/1
  for (const auto& l : prog.devices)
    for (const auto& i : l)
      if (i.kind == InstrKind::Send) {
        EXPECT_TRUE((i.tensor.kind == TensorKind::Activation && i.tensor.stage == 1) ||
                    (i.tensor.kind == TensorKind::Gradient && i.tensor.stage == 2))
            << i.to_string();
      }
}

TEST(Lowering, OverlappedPairWaitsForBothInputsFirstAndSendsAfterBoth) {
  // Device 1 runs F1.1 overlapped with BW1.0 (DualPipe-style pair).
  Plan plan;
  plan.name = "custom";
  plan.num_microbatches = 2;
  plan.partition = Partition::from_sizes({1, 1, 1});
  plan.placement.device_stages = {{0}, {1}, {2}};
  plan.schedule = {
      {{Op::F, 0, 0}, {Op::F, 0, 1}, {Op::BW, 0, 0}, {Op::BW, 0, 1}},
      {{Op::F, 1, 0}, {Op::F, 1, 1}, {Op::BW, 1, 0, true}, {Op::BW, 1, 1}},
      {{Op::F, 2, 0}, {Op::BW, 2, 0}, {Op::F, 2, 1}, {Op::BW, 2, 1}},
  };
  ASSERT_TRUE(validate_plan(plan, 3).ok()) << validate_plan(plan, 3).message();
  Program prog = lower_plan(plan, {0});
  ASSERT_TRUE(check_program(prog).ok()) << check_program(prog).message();
  const auto& l = prog.devices[1];
  std::vector<std::string> text;
  for (const auto& i : l) text.push_back(i.to_string());
  // ... WAIT act s0 mb1, F s1 mb1, &BW s1 mb0, SEND act s1 mb1, SEND grad s1 mb0 ...
  auto pos = [&](const std::string& s) {
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == s) return static_cast<int>(i);
    return -1;
  };
  int f = pos("F s1 mb1"), bw = pos("&BW s1 mb0");
  ASSERT_GE(f, 0);
  EXPECT_EQ(bw, f + 1);
  EXPECT_LT(pos("WAIT act s0 mb1 <- d0"), f);
  EXPECT_LT(pos("WAIT grad s2 mb0 <- d2"), f);
  EXPECT_GT(pos("SEND act s1 mb1 -> d2"), bw);
  EXPECT_GT(pos("SEND grad s1 mb0 -> d0"), bw);
}

TEST(Lowering, DeadlockingPlanIsRejectedByValidatorAndChecker) {
  // Device 0 waits for the gradient of mb 0 before sending mb 1's activation; device 1 wants mb 1 first.
  Plan plan;
  plan.name = "custom";
  plan.num_microbatches = 2;
  plan.partition = Partition::from_sizes({1, 1});
  plan.placement.device_stages = {{0}, {1}};
  plan.schedule = {
      {{Op::F, 0, 0}, {Op::BW, 0, 0}, {Op::F, 0, 1}, {Op::BW, 0, 1}},
      {{Op::F, 1, 1}, {Op::F, 1, 0}, {Op::BW, 1, 0}, {Op::BW, 1, 1}},
  };
  EXPECT_FALSE(validate_plan(plan, 2).ok());
  Program prog = lower_plan(plan);
  ProgramReport rep = check_program(prog);
  ASSERT_FALSE(rep.ok());
  const std::string msg = rep.message();
  EXPECT_NE(msg.find("deadlock"), std::string::npos) << msg;
  EXPECT_NE(msg.find("device 0 blocks at"), std::string::npos) << msg;
  EXPECT_NE(msg.find("WAIT grad s1 mb0 <- d1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("WAIT act s0 mb1 <- d0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
}

namespace {
Program two_device_program() {
  Plan plan;
  std::string why;
  EXPECT_TRUE(try_plan("1f1b", 2, 2, plan, &why)) << why;
  return lower_plan(plan);
}
}  // namespace

TEST(CheckProgram, MissingReceiveIsReported) {
  Program p = two_device_program();
  auto& l = p.devices[1];
  for (size_t i = 0; i < l.size(); ++i)
    if (l[i].kind == InstrKind::PostRecv) {
      l.erase(l.begin() + static_cast<long>(i));
      break;
    }
  ProgramReport rep = check_program(p);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.message().find("no device posts a receive"), std::string::npos) << rep.message();
}

TEST(CheckProgram, ComputeBeforeWaitIsReported) {
  Program p = two_device_program();
  auto& l = p.devices[1];
  // Move the first WAIT after the compute it guards.
  for (size_t i = 0; i + 1 < l.size(); ++i)
    if (l[i].kind == InstrKind::WaitRecv && l[i + 1].kind == InstrKind::Compute) {
      std::swap(l[i], l[i + 1]);
      break;
    }
  ProgramReport rep = check_program(p);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.message().find("computes before waiting for its input"), std::string::npos) << rep.message();
}

TEST(CheckProgram, SendBeforeProducerAndDuplicateAreReported) {
  Program p = two_device_program();
  auto& l = p.devices[0];
  // Put the first SEND at the front of the list: sent before F produced it.
  for (size_t i = 0; i < l.size(); ++i)
    if (l[i].kind == InstrKind::Send) {
      Instruction s = l[i];
      l.erase(l.begin() + static_cast<long>(i));
      l.insert(l.begin(), s);
      l.push_back(s);  // and a duplicate at the end
      break;
    }
  ProgramReport rep = check_program(p);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.message().find("sent before the compute that produces it"), std::string::npos) << rep.message();
  EXPECT_NE(rep.message().find("appears twice"), std::string::npos) << rep.message();
}

TEST(CheckProgram, WrongDeviceAndMissingBackwardAreReported) {
  Program p = two_device_program();
  // Drop device 1's last compute (a BW) and move a stage-0 compute onto device 1.
  for (size_t i = p.devices[1].size(); i-- > 0;)
    if (p.devices[1][i].kind == InstrKind::Compute) {
      p.devices[1].erase(p.devices[1].begin() + static_cast<long>(i));
      break;
    }
  Instruction stray = Instruction::compute({Op::F, 0, 0});
  p.devices[1].push_back(stray);
  ProgramReport rep = check_program(p);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.message().find("lives on device 0"), std::string::npos) << rep.message();
  EXPECT_NE(rep.message().find("stage 0 mb 0: computes F 2 times"), std::string::npos) << rep.message();
}

TEST(CheckProgram, RequireValidProgramThrowsInputError) {
  Program p = two_device_program();
  p.devices[0].clear();
  EXPECT_THROW(require_valid_program(p, "test"), InputError);
}

TEST(Lowering, RejectsPlansWithUnplacedStages) {
  Plan plan;
  plan.num_microbatches = 1;
  plan.partition = Partition::from_sizes({1, 1});
  plan.placement.device_stages = {{0}};
  plan.schedule = {{{Op::F, 0, 0}, {Op::BW, 0, 0}}};
  EXPECT_THROW(lower_plan(plan), InputError);
}

TEST(Lowering, InstructionText) {
  EXPECT_EQ(Instruction::send({TensorKind::Activation, 2, 1}, 3).to_string(), "SEND act s2 mb1 -> d3");
  EXPECT_EQ(Instruction::post_recv({TensorKind::Gradient, 3, 0}, 2).to_string(), "RECV grad s3 mb0 <- d2");
  EXPECT_EQ(Instruction::wait_recv({TensorKind::Gradient, 3, 0}, 2).to_string(), "WAIT grad s3 mb0 <- d2");
  EXPECT_EQ(Instruction::compute({Op::B, 1, 4, true}).to_string(), "&B s1 mb4");
  EXPECT_STREQ(Instruction::compute({Op::BW, 1, 4}).kind_name(), "BW");
  EXPECT_STREQ(Instruction::wait_recv({TensorKind::Gradient, 3, 0}, 2).kind_name(), "WAIT");
}

TEST(Lowering, MapProgramLayersReexpressesStageBounds) {
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 3;
  req.microbatches = 3;
  req.partition = {2, 1, 3};
  const Program p = lower_plan(build_plan(req, 6));
  ASSERT_EQ(p.stage_bounds, (std::vector<int>{0, 2, 3, 6}));
  // Plan layers 0..5 over our layers: the embedding + a block, three blocks of two, the head.
  const Program m = map_program_layers(p, {0, 3, 5, 7, 9, 10, 11});
  EXPECT_EQ(m.stage_bounds, (std::vector<int>{0, 5, 7, 11}));
  EXPECT_EQ(m.devices.size(), p.devices.size());
  EXPECT_TRUE(check_program(m).ok());
  EXPECT_THROW(map_program_layers(p, {0, 1, 2, 3}), InputError);        // 3 units for a 6-layer plan
  EXPECT_THROW(map_program_layers(p, {0, 1, 1, 2, 3, 4, 5}), InputError);  // an empty unit
}
