#pragma once
// An explorer session (GUI or TUI) saved to JSON: where the model's costs came from, the (possibly
// edited) cluster and simulation options, the plan being edited with the schedule options it came
// from, the plan pinned for comparison, the visible time range and the runs database; over
// variable-length units, the sequence lengths and the processing that made the units (lengths_json.h),
// so a reopened session can show and re-pack them. The format keeps its first name, so files either
// explorer saved open in both.
//
//   {"format": "adaptis-gui-session/1", "inputs": {"costs": "/abs/costs.json", "model": "", ...},
//    "cluster": {...}, "sim": {...}, "request": {...}, "custom": false, "plan": {adaptis-plan/1},
//    "compare": {"label": "1f1b", "plan": {...}} | null, "view": {"t0": 0, "t1": 1200}, "runs_db": "",
//    "lengths": {adaptis lengths, lengths_json.h} | null}
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/simulator.h"
#include "explorer/lengths_source.h"

namespace adaptis::explorer {

struct SessionInputs {
  std::string model;    // model spec (analytical costs), absolute path, or ""
  std::string costs;    // cost file, absolute path, or ""
  std::string cluster;  // cluster file the session started from ("" = uniform)
  // The costs' reference micro-batch (CostTable::tokens_per_microbatch / pairs_per_microbatch) when the
  // plan runs variable-length units: a cost file that states none was given the context at start-up,
  // and reopening needs the same one to cost the units alike (0 = the costs' own).
  double reference_tokens = 0, reference_pairs = 0;
};

struct Session {
  SessionInputs inputs;
  Cluster cluster;
  SimOptions sim;
  PlanRequest request;
  bool custom = false;
  Plan plan;
  std::optional<Plan> compare;
  std::string compare_label;
  double view_t0 = 0, view_t1 = 0;  // 0, 0 = fit
  std::string runs_db;
  std::optional<LengthsSource> lengths;  // the lengths the plan's units came from (with data)
};

nlohmann::json cluster_to_json(const Cluster& c);
Cluster cluster_from_json(const nlohmann::json& j, const std::string& where);

nlohmann::json session_to_json(const Session& s);
// Throws InputError naming `origin` and the field at fault.
Session session_from_json(const nlohmann::json& j, const std::string& origin);

// A session's lengths and processing must make the units its plan runs (what reopening it rebuilds):
// the units made again with `costs`, checked against the plan's. Throws InputError naming `origin` and
// the field at fault; returns the units (empty when the session has no processing to make them with).
std::vector<WorkUnit> session_units(const Session& s, const CostTable& costs, const std::string& origin);

void save_session(const Session& s, const std::string& path);
Session load_session(const std::string& path);

}  // namespace adaptis::explorer
