#include "adaptis/model/cluster.h"

#include <cmath>
#include <map>

#include "adaptis/model/checked.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"
#include "cluster_topology_file.h"

namespace adaptis {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Published datasheet numbers (dense bf16, HBM). Speed is relative to the H100-SXM, the reference
// device analytical costs are computed for.
std::map<std::string, Device> known_devices() {
  std::map<std::string, Device> m;
  auto add = [&](const char* name, double tflops, double gib, double tbs) {
    Device d;
    d.name = name;
    d.peak_tflops = tflops;
    d.hbm_bytes = gib * kGiB;
    d.hbm_bandwidth = tbs * 1e12;
    d.speed = tflops / 989.0;
    m[name] = d;
  };
  add("H100-SXM", 989, 80, 3.35);
  add("H100-PCIe", 756, 80, 2.0);
  add("H200", 989, 141, 4.8);
  add("H800", 989, 80, 3.35);
  add("A100-SXM-80GB", 312, 80, 2.04);
  add("A100-SXM-40GB", 312, 40, 1.56);
  add("B200", 2250, 180, 8.0);
  return m;
}

// A link object ("intra_node"/"inter_node"); absent fields keep `fallback`'s values.
Link read_link(const nlohmann::json& obj, const char* key, const std::string& path, Link fallback) {
  const nlohmann::json* j = json_object_or_null(obj, key, path);
  if (!j) return fallback;
  const std::string where = path + ": " + key;
  reject_unknown_fields(*j, {"latency_us", "bandwidth_gbs"}, where);
  Link l;
  // Up to a second of latency and 1 PB/s: beyond either the number is a typo (0 bandwidth = infinite).
  l.latency_ms = json_number_in_or(*j, "latency_us", fallback.latency_ms * 1e3, 0.0, 1e6, where) / 1e3;
  const double gbs = json_number_in_or(*j, "bandwidth_gbs", fallback.bandwidth / 1e9, 0.0, 1e6, where);
  // 0 means no limit; anything else below 1 MB/s (a denormal such as 1e-320 included) would make
  // every transfer take forever.
  if (gbs != 0) checked_finite(gbs, 1e-3, 1e6, where + ": field 'bandwidth_gbs' (0 = no limit)");
  l.bandwidth = gbs * 1e9;
  return l;
}

}  // namespace

Cluster make_uniform_cluster(int num_devices) {
  if (num_devices < 1) throw InputError("devices", "must be at least 1, got " + std::to_string(num_devices));
  Cluster c;
  c.name = std::to_string(num_devices) + "xH100-SXM";
  c.devices.assign(num_devices, known_devices().at("H100-SXM"));
  // NVLink 4 P2P: a few microseconds, ~200 GB/s effective per direction for pipeline sends.
  c.intra_node = Link{0.005, 200e9};
  c.inter_node = Link{0.010, 25e9};
  derive_topology(c);
  return c;
}

Cluster load_cluster(const std::string& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object())
    throw InputError(path + ": expected a JSON object with a 'devices' array, got " + describe_json(j));
  reject_unknown_fields(j, {"name", "memory_fraction", "intra_node", "inter_node", "devices", "topology", "efficiency"},
                        path);
  Cluster c = make_uniform_cluster(1);
  c.devices.clear();
  c.name = json_string_or(j, "name", path, path);
  c.intra_node = read_link(j, "intra_node", path, c.intra_node);
  c.inter_node = read_link(j, "inter_node", path, c.inter_node);
  if (j.contains("efficiency")) {
    c.efficiency = parse_kernel_efficiency(j["efficiency"], path + ": efficiency");
    c.has_efficiency = true;
  }
  double fraction = json_number_or(j, "memory_fraction", 1.0, path);
  if (!(fraction > 0 && fraction <= 1.0)) throw InputError(path + ": field 'memory_fraction' must be in (0, 1]");
  auto known = known_devices();
  // A "topology" section may stand in for the device list (nodes x gpus_per_node of one type).
  const nlohmann::json* topo = j.contains("topology") ? &j["topology"] : nullptr;
  const nlohmann::json generated = topo && !j.contains("devices") ? topology_device_list(*topo, path) : nlohmann::json();
  const auto& devs = generated.is_null() ? json_array(j, "devices", path) : generated;
  for (size_t i = 0; i < devs.size(); ++i) {
    std::string where = generated.is_null() ? path + ": devices[" + std::to_string(i) + "]" : path + ": topology";
    const auto& e = devs[i];
    if (!e.is_object()) throw InputError(where + ": expected an object, got " + describe_json(e));
    reject_unknown_fields(e, {"type", "count", "node", "peak_tflops", "hbm_gib", "hbm_bandwidth_tbs", "speed"}, where);
    std::string type = json_string(e, "type", where);
    Device d;
    auto it = known.find(type);
    if (it != known.end()) {
      d = it->second;
    } else if (!e.contains("peak_tflops") || !e.contains("hbm_gib")) {
      std::string names;
      for (auto& [k, v] : known) names += (names.empty() ? "" : ", ") + k;
      throw InputError(where + ": unknown device type " + describe_json(e["type"]) + " (known: " + names +
                       "); give 'peak_tflops' and 'hbm_gib' for a custom device");
    }
    d.name = type;
    // From 1 GFLOP/s, 1 MiB, 1 GB/s and 1e-6 of an H100 up to 1 EFLOP/s, 1 PiB, 1 PB/s and a million
    // H100s: outside that the number is a typo (or a sign error).
    d.peak_tflops = json_number_in_or(e, "peak_tflops", d.peak_tflops, 1e-3, 1e6, where);
    d.hbm_bytes = json_number_in_or(e, "hbm_gib", d.hbm_bytes / kGiB, 1.0 / 1024, 1 << 20, where) * kGiB;
    d.hbm_bandwidth = json_number_in_or(e, "hbm_bandwidth_tbs", d.hbm_bandwidth / 1e12, 1e-3, 1e3, where) * 1e12;
    d.speed = json_number_in_or(e, "speed", d.peak_tflops / 989.0, 1e-6, 1e6, where);
    d.node = json_int_in_or(e, "node", 0, 0, kMaxDevices, where);
    d.memory_limit_bytes = d.hbm_bytes * fraction;
    const int count = json_int_in_or(e, "count", 1, 1, kMaxDevices, where);
    if (static_cast<long long>(c.devices.size()) + count > kMaxDevices)
      throw InputError(where + ": the cluster would have more than " + std::to_string(kMaxDevices) + " devices");
    for (int k = 0; k < count; ++k) c.devices.push_back(d);
  }
  if (c.devices.empty()) throw InputError(path + ": field 'devices' is empty");
  derive_topology(c);
  if (topo) read_cluster_topology(*topo, path, j.contains("intra_node"), j.contains("inter_node"), c);
  return c;
}

}  // namespace adaptis
