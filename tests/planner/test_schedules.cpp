// Built-in schedule generators: the exact per-device orders of the reference implementations
// (worked examples traced by hand through the reference implementations' rules),
// cross-checks between implementations, constraint errors, and a validity sweep over p and m.
#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "adaptis/model.h"
#include "adaptis/planner.h"

using namespace adaptis;

namespace {

Plan generate(const std::string& name, int p, int m, int v = 0, int g = 0) {
  ScheduleOptions o;
  o.devices = p;
  o.microbatches = m;
  o.stages_per_device = v;
  o.group_size = g;
  return generate_schedule(parse_schedule_kind(name), o);
}

// Megatron docstring notation for rank r of p: "F3" / "B3" (one chunk, B = full backward) or
// "F0.c1" / "B0.c1" (micro-batch 0 on local chunk 1 = stage 1*p + r).
std::vector<Action> parse_megatron(const std::string& text, int r, int p) {
  std::vector<Action> out;
  std::istringstream is(text);
  std::string tok;
  static const std::regex re(R"(([FB])(\d+)(?:\.c(\d+))?)");
  while (is >> tok) {
    std::smatch mt;
    if (!std::regex_match(tok, mt, re)) ADD_FAILURE() << "bad token " << tok;
    int chunk = mt[3].matched ? std::stoi(mt[3]) : 0;
    Op op = mt[1] == "F" ? Op::F : Op::BW;
    out.push_back(Action{op, chunk * p + r, std::stoi(mt[2]), false});
  }
  return out;
}

// PyTorch pipelining notation: "{stage}{F|I|W|B}{mb}" with I = our B and B = our BW, and
// "({stage}F{mb};{stage}B{mb})OVERLAP_F_B" for a DualPipe overlapped pair.
std::vector<Action> parse_torch(const std::string& text) {
  std::vector<Action> out;
  std::istringstream is(text);
  std::string tok;
  static const std::regex single(R"((\d+)([FIWB])(\d+))");
  static const std::regex pair(R"(\((\d+)F(\d+);(\d+)B(\d+)\)OVERLAP_F_B)");
  while (is >> tok) {
    std::smatch mt;
    if (std::regex_match(tok, mt, pair)) {
      out.push_back(Action{Op::F, std::stoi(mt[1]), std::stoi(mt[2]), false});
      out.push_back(Action{Op::BW, std::stoi(mt[3]), std::stoi(mt[4]), true});
    } else if (std::regex_match(tok, mt, single)) {
      char c = mt[2].str()[0];
      Op op = c == 'F' ? Op::F : c == 'I' ? Op::B : c == 'W' ? Op::W : Op::BW;
      out.push_back(Action{op, std::stoi(mt[1]), std::stoi(mt[3]), false});
    } else {
      ADD_FAILURE() << "bad token " << tok;
    }
  }
  return out;
}

std::string show(const std::vector<Action>& v) {
  std::string s;
  for (const auto& a : v) s.append(s.empty() ? "" : ", ").append(to_string(a));
  return s;
}

#define EXPECT_ORDER(actual, expected) EXPECT_EQ(show(actual), show(expected))

}  // namespace

// ---------------------------------------------------------------------------------------------
// Exact orders

TEST(ScheduleOrders, OneFOneBMegatronP4M8) {
  // schedules.md §1.2
  const char* rows[] = {
      "F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7",
      "F0 F1 F2 B0 F3 B1 F4 B2 F5 B3 F6 B4 F7 B5 B6 B7",
      "F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7",
      "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7",
  };
  Plan plan = generate("1f1b", 4, 8);
  ASSERT_EQ(plan.num_devices(), 4);
  for (int r = 0; r < 4; ++r) EXPECT_ORDER(plan.schedule[r], parse_megatron(rows[r], r, 4)) << "rank " << r;
}

TEST(ScheduleOrders, GPipeP2M3) {
  Plan plan = generate("gpipe", 2, 3);
  for (int r = 0; r < 2; ++r) EXPECT_ORDER(plan.schedule[r], parse_megatron("F0 F1 F2 B0 B1 B2", r, 2));
}

TEST(ScheduleOrders, InterleavedMegatronP2V2M4G2) {
  // schedules.md §1.3 (Megatron docstring example, re-derived full orders)
  const char* r0 = "F0.c0 F1.c0 F0.c1 F1.c1 F2.c0 B0.c1 F3.c0 B1.c1 F2.c1 B0.c0 F3.c1 B1.c0 B2.c1 B3.c1 B2.c0 B3.c0";
  const char* r1 = "F0.c0 F1.c0 F0.c1 B0.c1 F1.c1 B1.c1 F2.c0 B0.c0 F3.c0 B1.c0 F2.c1 B2.c1 F3.c1 B3.c1 B2.c0 B3.c0";
  Plan plan = generate("interleaved-1f1b", 2, 4, 2, 2);
  EXPECT_EQ(format_placement(plan.placement), "0,2|1,3");
  EXPECT_ORDER(plan.schedule[0], parse_megatron(r0, 0, 2));
  EXPECT_ORDER(plan.schedule[1], parse_megatron(r1, 1, 2));
}

TEST(ScheduleOrders, InterleavedMegatronTunableTableP2N3M5) {
  // Megatron's comment on get_schedule_table: PP2, N(group)=3, M=5, VP2 gives
  //   microbatch_id  0 1 2 0 1 2 3 4 3 4
  //   model_chunk_id 0 0 0 1 1 1 0 0 1 1
  // as the forward order of every rank; backwards follow the same table on mirrored chunks.
  const int mb[] = {0, 1, 2, 0, 1, 2, 3, 4, 3, 4};
  const int ck[] = {0, 0, 0, 1, 1, 1, 0, 0, 1, 1};
  Plan plan = generate("interleaved-1f1b", 2, 5, 2, 3);
  for (int r = 0; r < 2; ++r) {
    std::vector<Action> fwd, bwd, want_f, want_b;
    for (const auto& a : plan.schedule[r]) (a.op == Op::F ? fwd : bwd).push_back(a);
    for (int k = 0; k < 10; ++k) {
      want_f.push_back(Action{Op::F, ck[k] * 2 + r, mb[k], false});
      want_b.push_back(Action{Op::BW, (1 - ck[k]) * 2 + r, mb[k], false});
    }
    EXPECT_ORDER(fwd, want_f) << "rank " << r;
    EXPECT_ORDER(bwd, want_b) << "rank " << r;
    // Warm-up 2(p-r-1) + (v-1)g forwards, then the steady state opens with one more F before the
    // first backward (Megatron's steady loop is forward-then-backward).
    int leading_f = 0;
    while (plan.schedule[r][leading_f].op == Op::F) ++leading_f;
    EXPECT_EQ(leading_f, 2 * (2 - r - 1) + 3 + 1);
  }
}

TEST(ScheduleOrders, InterleavedTorchP2V2M4) {
  // PyTorch rounds variant by hand: rounds = 2, 2 micro-batches per round, warm-up (v-1)*2 + 2(p-1-r).
  // With m a multiple of p it coincides with Megatron's depth-first order.
  Plan plan = generate("interleaved-1f1b-torch", 2, 4, 2);
  EXPECT_ORDER(plan.schedule[0], parse_torch("0F0 0F1 2F0 2F1 0F2 2B0 0F3 2B1 2F2 0B0 2F3 0B1 2B2 2B3 0B2 0B3"));
  EXPECT_ORDER(plan.schedule[1], parse_torch("1F0 1F1 3F0 3B0 3F1 3B1 1F2 1B0 1F3 1B1 3F2 3B2 3F3 3B3 1B2 1B3"));
}

TEST(ScheduleOrders, InterleavedTorchEqualsMegatronWithGroupOfOneRound) {
  // PyTorch's round of m / max(1, m/p) micro-batches plays the role of Megatron's group size g;
  // wherever both accept the input the two independently written generators must agree.
  int compared = 0;
  for (int p = 1; p <= 6; ++p)
    for (int v = 1; v <= 3; ++v)
      for (int m = p; m <= 4 * p; ++m) {
        int rounds = std::max(1, m / p);
        if (m % rounds != 0) continue;
        int g = m / rounds;
        Plan torch = generate("interleaved-1f1b-torch", p, m, v);
        Plan megatron = generate("interleaved-1f1b", p, m, v, g);
        for (int r = 0; r < p; ++r) EXPECT_ORDER(torch.schedule[r], megatron.schedule[r]) << p << " " << v << " " << m;
        ++compared;
      }
  EXPECT_GT(compared, 100);
}

TEST(ScheduleOrders, LoopedBfsP2V2M2) {
  // PyTorch ScheduleLoopedBFS: forwards stage by stage, backwards of the stages in reverse, each
  // stage's micro-batches in reverse.
  Plan plan = generate("looped-bfs", 2, 2, 2);
  EXPECT_ORDER(plan.schedule[0], parse_torch("0F0 0F1 2F0 2F1 2B1 2B0 0B1 0B0"));
  EXPECT_ORDER(plan.schedule[1], parse_torch("1F0 1F1 3F0 3F1 3B1 3B0 1B1 1B0"));
}

TEST(ScheduleOrders, ZeroBubbleH1P4M8) {
  // Rank r: 1F1B warm-up (p-1-r forwards), then F B and, from the (r+1)-th B on, the oldest W;
  // the r deferred W's close the rank.
  const char* rows[] = {
      "0F0 0F1 0F2 0F3 0I0 0W0 0F4 0I1 0W1 0F5 0I2 0W2 0F6 0I3 0W3 0F7 0I4 0W4 0I5 0W5 0I6 0W6 0I7 0W7",
      "1F0 1F1 1F2 1I0 1F3 1I1 1W0 1F4 1I2 1W1 1F5 1I3 1W2 1F6 1I4 1W3 1F7 1I5 1W4 1I6 1W5 1I7 1W6 1W7",
      "2F0 2F1 2I0 2F2 2I1 2F3 2I2 2W0 2F4 2I3 2W1 2F5 2I4 2W2 2F6 2I5 2W3 2F7 2I6 2W4 2I7 2W5 2W6 2W7",
      "3F0 3I0 3F1 3I1 3F2 3I2 3F3 3I3 3W0 3F4 3I4 3W1 3F5 3I5 3W2 3F6 3I6 3W3 3F7 3I7 3W4 3W5 3W6 3W7",
  };
  Plan plan = generate("zb-h1", 4, 8);
  for (int r = 0; r < 4; ++r) EXPECT_ORDER(plan.schedule[r], parse_torch(rows[r])) << "rank " << r;
}

TEST(ScheduleOrders, ZeroBubbleH1EqualsTorchInterleavedZbWithOneChunk) {
  // PyTorch's ScheduleInterleavedZeroBubble with one stage per rank is ZB1P = ZB-H1.
  for (int p = 1; p <= 6; ++p)
    for (int m = 1; m <= 3 * p; ++m) {
      if (m % std::max(1, m / p) != 0) continue;
      Plan h1 = generate("zb-h1", p, m);
      Plan torch = generate("interleaved-zb", p, m, 1);
      for (int r = 0; r < p; ++r) EXPECT_ORDER(h1.schedule[r], torch.schedule[r]) << "p=" << p << " m=" << m;
    }
}

TEST(ScheduleOrders, ZeroBubbleH2P4M8) {
  // Rank i: 2(p-i)-1 forwards; m-w cycles of B [W] F, the last 2i without their W; then the
  // remaining B's each with the oldest W; then the pending W's.
  const char* rows[] = {
      "0F0 0F1 0F2 0F3 0F4 0F5 0F6 0I0 0W0 0F7 0I1 0W1 0I2 0W2 0I3 0W3 0I4 0W4 0I5 0W5 0I6 0W6 0I7 0W7",
      "1F0 1F1 1F2 1F3 1F4 1I0 1W0 1F5 1I1 1F6 1I2 1F7 1I3 1W1 1I4 1W2 1I5 1W3 1I6 1W4 1I7 1W5 1W6 1W7",
      "2F0 2F1 2F2 2I0 2W0 2F3 2I1 2F4 2I2 2F5 2I3 2F6 2I4 2F7 2I5 2W1 2I6 2W2 2I7 2W3 2W4 2W5 2W6 2W7",
      "3F0 3I0 3W0 3F1 3I1 3F2 3I2 3F3 3I3 3F4 3I4 3F5 3I5 3F6 3I6 3F7 3I7 3W1 3W2 3W3 3W4 3W5 3W6 3W7",
  };
  Plan plan = generate("zb-h2", 4, 8);
  for (int r = 0; r < 4; ++r) EXPECT_ORDER(plan.schedule[r], parse_torch(rows[r])) << "rank " << r;
}

TEST(ScheduleOrders, ZeroBubbleVP2M4) {
  // schedules.md §1.5, PyTorch ScheduleZBVZeroBubble re-derived (PyTorch I = our B).
  const char* r0 = "0F0 0F1 0F2 3F0 3I0 3W0 3F1 3I1 3W1 0F3 0I0 0W0 3F2 3I2 3W2 0I1 0W1 3F3 3I3 3W3 0I2 0W2 0I3 0W3";
  const char* r1 = "1F0 2F0 1F1 2F1 2I0 2W0 1F2 1I0 1W0 2F2 2I1 2W1 1F3 1I1 1W1 2F3 2I2 2W2 1I2 2I3 1I3 1W2 2W3 1W3";
  Plan plan = generate("zb-v", 2, 4);
  EXPECT_EQ(format_placement(plan.placement), "0,3|1,2");
  EXPECT_ORDER(plan.schedule[0], parse_torch(r0));
  EXPECT_ORDER(plan.schedule[1], parse_torch(r1));
}

TEST(ScheduleOrders, ZeroBubbleVDropsPaddingMicroBatches) {
  // PyTorch pads to n = max(2p-1, m) micro-batches and blanks the extra ones: with m < 2p-1 the
  // order is the m = 2p-1 order restricted to the real micro-batches.
  Plan full = generate("zb-v", 3, 5);
  Plan small = generate("zb-v", 3, 2);
  for (int r = 0; r < 3; ++r) {
    std::vector<Action> kept;
    for (const auto& a : full.schedule[r])
      if (a.mb < 2) kept.push_back(a);
    EXPECT_ORDER(small.schedule[r], kept);
  }
}

TEST(ScheduleOrders, DualPipeVP2M4) {
  // Hand-derived from the eight DualPipeV loops (dualpipev.py / PyTorch ScheduleDualPipeV):
  // rank 0 = stages 0 and 3, rank 1 = stages 1 and 2; the last rank runs its first pair of the
  // main loop unoverlapped; step 6 switches to split backwards at its middle.
  const char* r0 =
      "0F0 0F1 0F2 3F0 3I0 3W0 3F1 (0F3;3B1)OVERLAP_F_B (3F2;0B0)OVERLAP_F_B 3B2 (3F3;0B1)OVERLAP_F_B "
      "3B3 0I2 0W2 0I3 0W3";
  const char* r1 =
      "1F0 2F0 1F1 2F1 1F2 2B0 (2F2;1B0)OVERLAP_F_B (1F3;2B1)OVERLAP_F_B (2F3;1B1)OVERLAP_F_B "
      "2B2 1B2 2I3 1I3 2W3 1W3";
  Plan plan = generate("dualpipev", 2, 4);
  EXPECT_EQ(format_placement(plan.placement), "0,3|1,2");
  EXPECT_ORDER(plan.schedule[0], parse_torch(r0));
  EXPECT_ORDER(plan.schedule[1], parse_torch(r1));
}

TEST(ScheduleOrders, DualPipeVLoopCounts) {
  // Loop 4 runs m-2p+r+1 times with two pairs each (one unoverlapped on the last rank), loop 5
  // p-r-1 pairs: the number of overlapped pairs on rank r is 2(m-2p+r+1) + (p-r-1) - [r == p-1].
  for (int p = 1; p <= 6; ++p)
    for (int m = 2 * p; m <= 3 * p + 2; ++m) {
      Plan plan = generate("dualpipev", p, m);
      for (int r = 0; r < p; ++r) {
        int pairs = 0, split_b = 0, w = 0;
        for (const auto& a : plan.schedule[r]) {
          pairs += a.overlap_prev;
          split_b += a.op == Op::B;
          w += a.op == Op::W;
        }
        EXPECT_EQ(pairs, 2 * (m - 2 * p + r + 1) + (p - r - 1) - (r == p - 1)) << p << " " << m << " " << r;
        // Split backwards: loop 3 (p-r-1), the second half of loop 6 (r+1), loop 7 (p-r-1).
        EXPECT_EQ(split_b, 2 * (p - r - 1) + r + 1);
        EXPECT_EQ(w, split_b);
      }
    }
}

// ---------------------------------------------------------------------------------------------
// Constraints

namespace {

// Runs `f`, expecting an InputError whose message contains every one of `parts`.
void expect_input_error(const std::function<void()>& f, std::vector<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected InputError containing '" << parts[0] << "'";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg;
  }
}

}  // namespace

TEST(ScheduleConstraints, MegatronGroupSizeRange) {
  expect_input_error([] { generate("interleaved-1f1b", 4, 2); }, {"interleaved-1f1b", "p <= g <= m", "m=2"});
  expect_input_error([] { generate("interleaved-1f1b", 4, 8, 2, 3); }, {"interleaved-1f1b", "p <= g <= m", "g=3"});
  expect_input_error([] { generate("interleaved-1f1b", 2, 4, 2, 5); }, {"interleaved-1f1b", "p <= g <= m", "g=5"});
}

TEST(ScheduleConstraints, MegatronShortLastGroup) {
  // m mod g must be 0 or >= p: p2 g2 m5 leaves a group of 1 (rejected), p2 g3 m5 one of 2 (fine).
  expect_input_error([] { generate("interleaved-1f1b", 2, 5, 2, 2); }, {"interleaved-1f1b", "m mod g", "m mod g=1"});
  expect_input_error([] { generate("interleaved-1f1b", 4, 6); }, {"interleaved-1f1b", "m mod g"});
  EXPECT_NO_THROW(generate("interleaved-1f1b", 2, 5, 2, 3));
}

TEST(ScheduleConstraints, TorchRounds) {
  expect_input_error([] { generate("interleaved-1f1b-torch", 4, 9); }, {"interleaved-1f1b-torch", "rounds", "m=9"});
  expect_input_error([] { generate("interleaved-zb", 4, 9); }, {"interleaved-zb", "rounds"});
  EXPECT_NO_THROW(generate("interleaved-1f1b-torch", 4, 10));  // PyTorch docstring: rounds = 2
  EXPECT_NO_THROW(generate("interleaved-1f1b-torch", 4, 3));   // rounds = 1
}

TEST(ScheduleConstraints, DualPipeVNeedsTwoMicroBatchesPerDevice) {
  expect_input_error([] { generate("dualpipev", 4, 7); }, {"dualpipev", "m >= 2p", "m=7"});
  EXPECT_NO_THROW(generate("dualpipev", 4, 8));
}

TEST(ScheduleConstraints, ChunksPerDevice) {
  expect_input_error([] { generate("zb-v", 4, 8, 3); }, {"stages_per_device: ", "zb-v", "exactly 2"});
  expect_input_error([] { generate("zb-h1", 4, 8, 2); }, {"stages_per_device: ", "zb-h1", "exactly 1"});
  expect_input_error([] { generate("interleaved-1f1b", 4, 8, -1); }, {"stages_per_device: ", ">= 1"});
  expect_input_error([] { generate("interleaved-1f1b", 4, 8, 2, -2); }, {"group_size: ", ">= 1"});
  expect_input_error([] { generate("zb-h1", 0, 8); }, {"devices: "});
  expect_input_error([] { generate("zb-h1", 4, 0); }, {"microbatches: "});
  expect_input_error([] { generate("zbv", 4, 8); }, {"unknown schedule 'zbv'", "zb-v"});
}

// ---------------------------------------------------------------------------------------------
// Sweep: every schedule, p = 1..8, m = 1..3p (and v = 1..3 for looped placements) either builds
// a plan that passes the validator (complete, ordered, deadlock-free) or is rejected by its own
// documented rule with an InputError naming the schedule.

namespace {

bool looped(ScheduleKind k) {
  return k == ScheduleKind::Interleaved1F1B || k == ScheduleKind::Interleaved1F1BTorch ||
         k == ScheduleKind::LoopedBFS || k == ScheduleKind::InterleavedZB;
}

// The reference rules, restated independently of the generators.
bool allowed(ScheduleKind k, int p, int m) {
  switch (k) {
    case ScheduleKind::Interleaved1F1B: return m >= p && m % p == 0;  // g = p: p <= m, m mod p in {0} or >= p
    case ScheduleKind::Interleaved1F1BTorch:
    case ScheduleKind::InterleavedZB: return m % std::max(1, m / p) == 0;
    case ScheduleKind::DualPipeV: return m >= 2 * p;
    default: return true;
  }
}

}  // namespace

TEST(ScheduleSweep, EveryScheduleValidOrRejectedByItsRule) {
  int built = 0, rejected = 0;
  for (const auto& info : all_schedules()) {
    for (int p = 1; p <= 8; ++p)
      for (int m = 1; m <= 3 * p; ++m)
        for (int v = 1; v <= (looped(info.kind) ? 3 : 1); ++v) {
          PlanRequest req;
          req.schedule = info.name;
          req.devices = p;
          req.microbatches = m;
          req.stages_per_device = looped(info.kind) ? v : 0;
          int S = p * (looped(info.kind) ? v : schedule_stages_per_device(info.kind, ScheduleOptions{}));
          std::string where = std::string(info.name) + " p=" + std::to_string(p) + " m=" + std::to_string(m) +
                              " v=" + std::to_string(v);
          if (!allowed(info.kind, p, m)) {
            try {
              build_plan(req, S);
              ADD_FAILURE() << where << ": expected a constraint error";
            } catch (const InputError& e) {
              EXPECT_NE(std::string(e.what()).find(info.name), std::string::npos) << e.what();
              ++rejected;
            }
            continue;
          }
          Plan plan;
          try {
            plan = build_plan(req, S);  // validates (and simulates for deadlocks)
          } catch (const InputError& e) {
            ADD_FAILURE() << where << ": " << e.what();
            continue;
          }
          ValidationReport rep = validate_plan(plan, S);
          EXPECT_TRUE(rep.ok()) << where << ": " << rep.message();
          EXPECT_EQ(plan.num_stages(), S) << where;
          EXPECT_EQ(plan.name, info.name);
          ++built;
        }
  }
  EXPECT_GT(built, 1500);
  EXPECT_GT(rejected, 200);
}

TEST(ScheduleRegistry, NamesRoundTripAndDescribeConstraints) {
  for (const auto& info : all_schedules()) {
    EXPECT_EQ(parse_schedule_kind(info.name), info.kind);
    EXPECT_STREQ(schedule_name(info.kind), info.name);
    EXPECT_GT(std::string(info.description).size(), 10u);
    ASSERT_NE(info.constraints, nullptr);
  }
  EXPECT_EQ(all_schedules().size(), 10u);
}
