#pragma once
// Reports of whole-cluster plans: a simulated plan's parallel metrics and collectives, and the
// ranked table of the cluster-plan search (planner/cluster_search.h), as text and JSON.
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/planner.h"

namespace adaptis::cli {

// "parallel" section of `simulate --json` for a plan with Plan::parallel: the configuration,
// throughput, MFU, exposed communication and per-device milliseconds per collective kind.
nlohmann::json parallel_json(const Plan& plan, const SimResult& sim);
// The same as a few lines under the simulation table.
std::string parallel_table(const Plan& plan, const SimResult& sim);

nlohmann::json candidate_json(const ClusterCandidate& c);
// Ranked table: rank, configuration, schedule, iteration, tokens/s, MFU, TFLOP/s per GPU, memory
// per GPU, exposed communication, bubble.
std::string ranked_table(const ClusterSearchResult& r, size_t rows);

}  // namespace adaptis::cli
