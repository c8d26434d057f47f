#pragma once
// What the TUI tests share: a small model whose partitions matter, a state started on it, key
// presses and accessors for what the core shows.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "explorer/lengths_source.h"
#include "explorer_test_support.h"
#include "tui/render.h"
#include "tui/screen.h"
#include "tui/tui_state.h"

namespace adaptis::tui::test_support {

// A 16-layer model with split backward, memory sizes and a heavier last layer (so partitions
// matter), on `devices` uniform devices.
inline app::Inputs test_inputs(int layers = 16, int devices = 4, double act_bytes = 64.0 * (1 << 20)) {
  app::Inputs in;
  in.costs.model = "test-model";
  in.costs.source = "test";
  for (int l = 0; l < layers; ++l) {
    LayerCost c;
    c.name = "layers." + std::to_string(l);
    c.kind = "block";
    c.f_ms = l + 1 == layers ? 3.0 : 1.0;
    c.b_ms = l + 1 == layers ? 3.0 : 1.0;
    c.w_ms = 0.5;
    c.param_bytes = 32.0 * (1 << 20);
    c.state_bytes = 4 * c.param_bytes;
    c.act_b_bytes = act_bytes;
    c.act_w_bytes = act_bytes / 2;
    c.out_bytes = 1 << 20;
    in.costs.layers.push_back(c);
  }
  in.cluster = make_uniform_cluster(devices);
  in.sim.comm_latency_ms = 0;
  return in;
}

inline TuiState start(app::Inputs in = test_inputs(), const std::string& schedule = "1f1b", int mb = 8,
               explorer::ExplorerConfig config = {}) {
  PlanRequest r;
  r.schedule = schedule;
  r.microbatches = mb;
  if (config.db_path.empty()) config.db_path = "/nonexistent/runs.db";
  if (config.model_path.empty()) config.model_path = "/models/test.json";
  return make_state(std::move(in), r, config);
}

// The explorer's lengths: `docs` packed by tokens into units of at most 4096 (what the varlen TUI tests start from).
inline explorer::LengthsSource packed_lengths(std::vector<long long> docs, long long context, const std::string& origin) {
  explorer::LengthsSource l;
  l.data = explorer::test_support::lengths_in_memory(std::move(docs), context, origin);
  SequenceProcessing p;
  p.mode = PackingMode::PackTokens;
  p.unit_tokens = 4096;
  l.processing = p;
  return l;
}

inline TuiState press(TuiState s, const std::string& script) { return apply_keys(std::move(s), key::parse_script(script)); }

inline const Plan& plan(const TuiState& s) { return s.core.editor().plan(); }
inline const SimResult& sim(const TuiState& s) { return s.core.editor().sim(); }
inline const std::string& message(const TuiState& s) { return s.core.message().text; }
inline bool message_is_error(const TuiState& s) { return s.core.message().error; }
inline const PlanRequest& request(const TuiState& s) { return s.core.editor().request(); }
inline bool valid(const TuiState& s) { return s.core.has_plan() && s.core.problem().empty(); }
inline std::vector<int> sizes(const TuiState& s) { return plan(s).partition.sizes(); }
inline bool effect(const TuiState& s, explorer::EffectKind k) {
  TuiState copy = s;
  for (const auto& e : copy.core.take_effects())
    if (e.kind == k) return true;
  return false;
}

// Every row of the screen fits the width and the frame's fixed lines are where they belong.
inline void expect_frame(const Screen& scr, const TuiState& s) {
  ASSERT_GE(scr.height(), kMinHeight);
  for (int y = 0; y < scr.height(); ++y) EXPECT_LE(static_cast<int>(scr.row(y).size()), scr.width());
  EXPECT_NE(scr.row(0).find(std::string("Layers")), std::string::npos) << scr.text();
  EXPECT_EQ(scr.row(scr.height() - 1).rfind("q quit", 0), 0u) << scr.text();
  EXPECT_NE(scr.row(1).find(s.core.editor().costs().model), std::string::npos) << scr.text();
}


}  // namespace adaptis::tui::test_support
