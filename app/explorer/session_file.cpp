#include "explorer/session_file.h"

#include <cmath>

#include "adaptis/model/checked.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/units.h"
#include "explorer/lengths_json.h"

namespace adaptis::explorer {

namespace {

constexpr const char* kFormat = "adaptis-gui-session/1";

nlohmann::json link_to_json(const Link& l) { return {{"latency_ms", l.latency_ms}, {"bandwidth", l.bandwidth}}; }

Link link_from_json(const nlohmann::json& j, const std::string& where) {
  Link l;
  if (!j.is_object()) throw InputError(where + ": must be an object, got " + describe_json(j));
  l.latency_ms = json_number_in_or(j, "latency_ms", 0.0, 0.0, 1e3, where);
  l.bandwidth = json_number_in_or(j, "bandwidth", 0.0, 0.0, 1e15, where);
  if (l.bandwidth != 0) checked_finite(l.bandwidth, 1e6, 1e15, where + ": field 'bandwidth' (bytes/s, 0 = no limit)");
  return l;
}

}  // namespace

nlohmann::json cluster_to_json(const Cluster& c) {
  nlohmann::json devs = nlohmann::json::array();
  for (const Device& d : c.devices)
    devs.push_back({{"name", d.name},
                    {"peak_tflops", d.peak_tflops},
                    {"hbm_bytes", d.hbm_bytes},
                    {"hbm_bandwidth", d.hbm_bandwidth},
                    {"speed", d.speed},
                    {"memory_limit_bytes", d.memory_limit_bytes},
                    {"node", d.node}});
  return {{"name", c.name},
          {"devices", devs},
          {"intra_node", link_to_json(c.intra_node)},
          {"inter_node", link_to_json(c.inter_node)}};
}

Cluster cluster_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where + ": must be an object, got " + describe_json(j));
  Cluster c;
  c.name = json_string_or(j, "name", "", where);
  const auto& devs = json_array(j, "devices", where);
  if (devs.empty()) throw InputError(where + ".devices: needs at least one device");
  if (devs.size() > static_cast<size_t>(kMaxDevices))
    throw InputError(where + ".devices: more than " + std::to_string(kMaxDevices) + " devices");
  for (size_t i = 0; i < devs.size(); ++i) {
    const std::string w = where + ".devices[" + std::to_string(i) + "]";
    if (!devs[i].is_object()) throw InputError(w + ": must be an object, got " + describe_json(devs[i]));
    Device d;
    // The ranges of a cluster file (cluster.cpp), in the units stored here.
    d.name = json_string_or(devs[i], "name", d.name, w);
    d.peak_tflops = json_number_in_or(devs[i], "peak_tflops", d.peak_tflops, 1e-3, 1e6, w);
    d.hbm_bytes = json_number_in_or(devs[i], "hbm_bytes", d.hbm_bytes, 1 << 20, kMaxBytes, w);
    d.hbm_bandwidth = json_number_in_or(devs[i], "hbm_bandwidth", d.hbm_bandwidth, 1e9, 1e15, w);
    d.speed = json_number_in_or(devs[i], "speed", d.speed, 1e-6, 1e6, w);
    d.memory_limit_bytes = json_number_in_or(devs[i], "memory_limit_bytes", 0.0, 0.0, kMaxBytes, w);
    d.node = json_int_in_or(devs[i], "node", 0, 0, kMaxDevices, w);
    c.devices.push_back(d);
  }
  if (j.contains("intra_node")) c.intra_node = link_from_json(j["intra_node"], where + ".intra_node");
  if (j.contains("inter_node")) c.inter_node = link_from_json(j["inter_node"], where + ".inter_node");
  return c;
}

nlohmann::json session_to_json(const Session& s) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["inputs"] = {{"model", s.inputs.model}, {"costs", s.inputs.costs}, {"cluster", s.inputs.cluster}};
  if (s.inputs.reference_tokens > 0)
    j["inputs"]["reference"] = {{"tokens", s.inputs.reference_tokens}, {"pairs", s.inputs.reference_pairs}};
  j["cluster"] = cluster_to_json(s.cluster);
  j["sim"] = {{"comm_latency_ms", s.sim.comm_latency_ms ? nlohmann::json(*s.sim.comm_latency_ms) : nlohmann::json()},
              {"overlap_comm", s.sim.overlap_comm},
              {"action_overhead_ms", s.sim.action_overhead_ms},
              {"pair_overlap", s.sim.pair_overlap}};
  j["request"] = {{"schedule", s.request.schedule},
                  {"devices", s.request.devices},
                  {"microbatches", s.request.microbatches},
                  {"stages_per_device", s.request.stages_per_device},
                  {"group_size", s.request.group_size},
                  {"partition", s.request.partition}};
  j["custom"] = s.custom;
  j["plan"] = plan_to_json(s.plan);
  if (s.compare) j["compare"] = {{"label", s.compare_label}, {"plan", plan_to_json(*s.compare)}};
  else j["compare"] = nullptr;
  j["view"] = {{"t0", s.view_t0}, {"t1", s.view_t1}};
  j["runs_db"] = s.runs_db;
  j["lengths"] = s.lengths && s.lengths->data ? lengths_to_json(*s.lengths) : nlohmann::json();
  return j;
}

Session session_from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw InputError(origin + ": a session must be a JSON object");
  const std::string format = json_string(j, "format", origin);
  if (format != kFormat)
    throw InputError(origin + ": format: expected '" + std::string(kFormat) + "', got '" + format + "'");
  Session s;
  if (!j.contains("inputs") || !j["inputs"].is_object()) throw InputError(origin + ": inputs: missing object");
  const auto& in = j["inputs"];
  s.inputs.model = json_string_or(in, "model", "", origin + ": inputs");
  s.inputs.costs = json_string_or(in, "costs", "", origin + ": inputs");
  s.inputs.cluster = json_string_or(in, "cluster", "", origin + ": inputs");
  if (s.inputs.model.empty() == s.inputs.costs.empty())
    throw InputError(origin + ": inputs: give exactly one of 'model' and 'costs'");
  if (in.contains("reference")) {
    const std::string w = origin + ": inputs.reference";
    if (!in["reference"].is_object()) throw InputError(w + ": must be an object {\"tokens\": N, \"pairs\": Q}");
    s.inputs.reference_tokens = json_number_in_or(in["reference"], "tokens", 0, 1, 1e12, w);
    s.inputs.reference_pairs = json_number_in_or(in["reference"], "pairs", 0, 0, 1e24, w);
  }
  if (!j.contains("cluster")) throw InputError(origin + ": cluster: missing");
  s.cluster = cluster_from_json(j["cluster"], origin + ": cluster");
  if (j.contains("sim")) {
    const auto& sj = j["sim"];
    const std::string w = origin + ": sim";
    // null or absent: the cluster's own latencies (sessions before 0.1 wrote -1 for that).
    if (sj.contains("comm_latency_ms") && !sj["comm_latency_ms"].is_null()) {
      const double ms = json_number(sj, "comm_latency_ms", w);
      if (ms != -1) {
        if (!(ms >= 0) || !std::isfinite(ms))
          throw InputError(w + ".comm_latency_ms: must be a finite number >= 0 (or null for the cluster's own)");
        s.sim.comm_latency_ms = ms;
      }
    }
    if (sj.contains("overlap_comm")) {
      if (!sj["overlap_comm"].is_boolean()) throw InputError(w + ".overlap_comm: must be true or false");
      s.sim.overlap_comm = sj["overlap_comm"].get<bool>();
    }
    s.sim.action_overhead_ms = json_number_in_or(sj, "action_overhead_ms", 0, 0, 1e3, w);
    s.sim.pair_overlap = json_number_in_or(sj, "pair_overlap", 0, 0, 1, w);
  }
  if (j.contains("request")) {
    const auto& r = j["request"];
    const std::string w = origin + ": request";
    s.request.schedule = json_string_or(r, "schedule", "1f1b", w);
    s.request.devices = json_int_in_or(r, "devices", 0, 0, kMaxDevices, w);
    s.request.microbatches = json_int_in_or(r, "microbatches", 8, 1, kMaxMicrobatches, w);
    s.request.stages_per_device = json_int_in_or(r, "stages_per_device", 0, 0, kMaxStages, w);
    s.request.group_size = json_int_in_or(r, "group_size", 0, 0, kMaxMicrobatches, w);
    if (r.contains("partition")) {
      const auto& part = json_array(r, "partition", w);
      if (part.size() > static_cast<size_t>(kMaxStages)) throw InputError(w + ".partition: too many stages");
      for (size_t k = 0; k < part.size(); ++k)
        s.request.partition.push_back(
            json_value_int_in(part[k], 1, kMaxLayers, w + ".partition[" + std::to_string(k) + "]"));
    }
  }
  if (j.contains("custom")) {
    if (!j["custom"].is_boolean()) throw InputError(origin + ": custom: must be true or false");
    s.custom = j["custom"].get<bool>();
  }
  if (!j.contains("plan")) throw InputError(origin + ": plan: missing");
  s.plan = plan_from_json(j["plan"], origin + ": plan");
  s.request.units = s.plan.units;  // the plan file carries the units; schedule choices keep them
  if (j.contains("compare") && !j["compare"].is_null()) {
    const auto& c = j["compare"];
    s.compare_label = json_string_or(c, "label", "pinned", origin + ": compare");
    if (!c.contains("plan")) throw InputError(origin + ": compare.plan: missing");
    s.compare = plan_from_json(c["plan"], origin + ": compare.plan");
  }
  if (j.contains("view")) {
    s.view_t0 = json_number_in_or(j["view"], "t0", 0, -1e15, 1e15, origin + ": view");
    s.view_t1 = json_number_in_or(j["view"], "t1", 0, -1e15, 1e15, origin + ": view");
  }
  s.runs_db = json_string_or(j, "runs_db", "", origin);
  if (j.contains("lengths") && !j["lengths"].is_null()) s.lengths = lengths_from_json(j["lengths"], origin + ": lengths");
  return s;
}

std::vector<WorkUnit> session_units(const Session& s, const CostTable& costs, const std::string& origin) {
  if (!s.lengths || !s.lengths->data || !s.lengths->processing) return {};
  std::vector<WorkUnit> units;
  try {
    units = units_for(*s.lengths->data, costs, *s.lengths->processing);
  } catch (const InputError& e) {
    throw InputError(origin + ": lengths.processing: " + e.what());
  }
  const std::vector<WorkUnit>& plan = s.plan.units;
  if (units.size() != plan.size())
    throw InputError(origin + ": lengths.processing: makes " + std::to_string(units.size()) +
                     " units of lengths.data, but the plan runs " + std::to_string(plan.size()) +
                     " (the session was edited, or saved by another version)");
  for (size_t i = 0; i < units.size(); ++i)
    if (!(units[i] == plan[i]))
      throw InputError(origin + ": plan.units[" + std::to_string(i) + "]: " + describe_unit(plan[i]) +
                       ", but lengths.processing makes " + describe_unit(units[i]) + " of lengths.data");
  return units;
}

void save_session(const Session& s, const std::string& path) { write_json_file(path, session_to_json(s)); }

Session load_session(const std::string& path) { return session_from_json(read_json_file(path), path); }

}  // namespace adaptis::explorer
