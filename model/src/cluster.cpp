#include "adaptis/model/cluster.h"

#include <cmath>
#include <map>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"

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

Link read_link(const nlohmann::json& j, const std::string& where, Link fallback) {
  if (j.is_null()) return fallback;
  Link l;
  l.latency_ms = json_number_or(j, "latency_us", fallback.latency_ms * 1e3, where) / 1e3;
  double gbs = json_number_or(j, "bandwidth_gbs", fallback.bandwidth / 1e9, where);
  if (l.latency_ms < 0 || gbs < 0) throw InputError(where + ": latency and bandwidth must be >= 0");
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
  return c;
}

Cluster load_cluster(const std::string& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw InputError(path + ": expected a JSON object with a 'devices' array");
  Cluster c = make_uniform_cluster(1);
  c.devices.clear();
  c.name = json_string_or(j, "name", path, path);
  c.intra_node = read_link(j.value("intra_node", nlohmann::json()), path + ": intra_node", c.intra_node);
  c.inter_node = read_link(j.value("inter_node", nlohmann::json()), path + ": inter_node", c.inter_node);
  double fraction = json_number_or(j, "memory_fraction", 1.0, path);
  if (!(fraction > 0 && fraction <= 1.0)) throw InputError(path + ": field 'memory_fraction' must be in (0, 1]");
  auto known = known_devices();
  const auto& devs = json_array(j, "devices", path);
  for (size_t i = 0; i < devs.size(); ++i) {
    std::string where = path + ": devices[" + std::to_string(i) + "]";
    const auto& e = devs[i];
    std::string type = json_string(e, "type", where);
    Device d;
    auto it = known.find(type);
    if (it != known.end()) {
      d = it->second;
    } else if (!e.contains("peak_tflops") || !e.contains("hbm_gib")) {
      std::string names;
      for (auto& [k, v] : known) names += (names.empty() ? "" : ", ") + k;
      throw InputError(where + ": unknown device type '" + type + "' (known: " + names +
                       "); give 'peak_tflops' and 'hbm_gib' for a custom device");
    }
    d.name = type;
    d.peak_tflops = json_number_or(e, "peak_tflops", d.peak_tflops, where);
    d.hbm_bytes = json_number_or(e, "hbm_gib", d.hbm_bytes / kGiB, where) * kGiB;
    d.hbm_bandwidth = json_number_or(e, "hbm_bandwidth_tbs", d.hbm_bandwidth / 1e12, where) * 1e12;
    d.speed = json_number_or(e, "speed", d.peak_tflops / 989.0, where);
    d.node = static_cast<int>(json_int_or(e, "node", 0, where));
    if (!(d.peak_tflops > 0) || !(d.hbm_bytes > 0) || !(d.speed > 0) || !std::isfinite(d.speed))
      throw InputError(where + ": peak_tflops, hbm_gib and speed must be > 0");
    d.memory_limit_bytes = d.hbm_bytes * fraction;
    long long count = json_int_or(e, "count", 1, where);
    if (count < 1 || count > 65536) throw InputError(where + ": field 'count' must be in [1, 65536]");
    for (long long k = 0; k < count; ++k) c.devices.push_back(d);
  }
  if (c.devices.empty()) throw InputError(path + ": field 'devices' is empty");
  return c;
}

}  // namespace adaptis
