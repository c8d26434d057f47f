// Cluster topology: reading it, deriving it from a device list, and ring-collective times.
#include "adaptis/model/cluster_topology.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "adaptis/model/cluster.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "cluster_topology_file.h"

namespace adaptis {

namespace {

using nlohmann::json;

void check_keys(const json& obj, const std::set<std::string>& known, const std::string& where) {
  if (!obj.is_object()) throw InputError(where + ": expected an object");
  for (auto& [key, value] : obj.items())
    if (!known.count(key)) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      throw InputError(where + ": unknown field '" + key + "' (known: " + names + ")");
    }
}

double positive(const json& obj, const char* key, double fallback, const std::string& where, bool allow_zero = false) {
  double v = json_number_or(obj, key, fallback, where);
  if (!std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
    throw InputError(where + ": field '" + key + "' must be " + (allow_zero ? ">= 0" : "> 0") + ", got " +
                     std::to_string(v));
  return v;
}

int count_field(const json& obj, const char* key, int fallback, const std::string& where, int max_value) {
  long long v = json_int_or(obj, key, fallback, where);
  if (v < 1 || v > max_value)
    throw InputError(where + ": field '" + key + "' must be an integer in [1, " + std::to_string(max_value) +
                     "], got " + std::to_string(v));
  return static_cast<int>(v);
}

constexpr int kMaxNodes = 65536;
constexpr int kMaxGpusPerNode = 1024;

}  // namespace

json topology_device_list(const json& topo, const std::string& path) {
  const std::string where = path + ": topology";
  if (!topo.is_object()) throw InputError(where + ": expected an object");
  if (!topo.contains("device"))
    throw InputError(where + ": give 'device' (a device type, or an object with 'type', 'peak_tflops', 'hbm_gib') "
                             "when the file has no 'devices' list");
  if (!topo.contains("nodes") || !topo.contains("gpus_per_node"))
    throw InputError(where + ": give 'nodes' and 'gpus_per_node' when the file has no 'devices' list");
  const int nodes = count_field(topo, "nodes", 1, where, kMaxNodes);
  const int gpn = count_field(topo, "gpus_per_node", 1, where, kMaxGpusPerNode);
  if (static_cast<long long>(nodes) * gpn > (1LL << 20))
    throw InputError(where + ": nodes * gpus_per_node is over 1048576 devices");
  json entry;
  const json& dev = topo["device"];
  if (dev.is_string()) {
    entry["type"] = dev;
  } else if (dev.is_object()) {
    check_keys(dev, {"type", "peak_tflops", "hbm_gib", "hbm_bandwidth_tbs", "speed"}, where + ".device");
    entry = dev;
  } else {
    throw InputError(where + ": field 'device' must be a device type name or an object, got " + dev.dump());
  }
  json list = json::array();
  for (int n = 0; n < nodes; ++n) {
    json e = entry;
    e["count"] = gpn;
    e["node"] = n;
    list.push_back(std::move(e));
  }
  return list;
}

void derive_topology(Cluster& c) {
  ClusterTopology t;
  std::map<int, int> per_node;
  for (const auto& d : c.devices) ++per_node[d.node];
  t.nodes = std::max<int>(1, static_cast<int>(per_node.size()));
  t.gpus_per_node = 1;
  for (auto& [node, n] : per_node) t.gpus_per_node = std::max(t.gpus_per_node, n);
  // The pipeline links are already effective bandwidths: collectives reach them as they are.
  t.intra_bandwidth = c.intra_node.bandwidth;
  t.intra_latency_ms = c.intra_node.latency_ms;
  t.nics_per_node = t.gpus_per_node;
  t.nic_bandwidth = c.inter_node.bandwidth;
  t.inter_latency_ms = c.inter_node.latency_ms;
  t.collective_efficiency = 1.0;
  t.from_file = false;
  c.topology = t;
}

void read_cluster_topology(const json& topo, const std::string& path, bool has_intra_link, bool has_inter_link,
                           Cluster& c) {
  const std::string where = path + ": topology";
  check_keys(topo, {"nodes", "gpus_per_node", "device", "intra_node", "inter_node", "host_link",
                    "collective_efficiency", "note"},
             where);
  ClusterTopology t = c.topology;
  t.from_file = true;
  const int n_dev = c.num_devices();
  if (topo.contains("gpus_per_node")) t.gpus_per_node = count_field(topo, "gpus_per_node", 1, where, kMaxGpusPerNode);
  if (topo.contains("nodes")) t.nodes = count_field(topo, "nodes", 1, where, kMaxNodes);
  else t.nodes = (n_dev + t.gpus_per_node - 1) / t.gpus_per_node;
  if (static_cast<long long>(t.nodes) * t.gpus_per_node != n_dev)
    throw InputError(where + ": nodes (" + std::to_string(t.nodes) + ") x gpus_per_node (" +
                     std::to_string(t.gpus_per_node) + ") = " + std::to_string(static_cast<long long>(t.nodes) * t.gpus_per_node) +
                     " but the cluster has " + std::to_string(n_dev) + " devices");
  // Devices listed explicitly must sit gpus_per_node to a node, in rank order.
  for (int r = 0; r < n_dev; ++r)
    if (c.devices[r].node != r / t.gpus_per_node)
      throw InputError(where + ": device " + std::to_string(r) + " is on node " + std::to_string(c.devices[r].node) +
                       " but with gpus_per_node " + std::to_string(t.gpus_per_node) + " it must be on node " +
                       std::to_string(r / t.gpus_per_node) + " (devices are listed node by node)");

  t.collective_efficiency = json_number_or(topo, "collective_efficiency", 0.8, where);
  if (!(t.collective_efficiency > 0 && t.collective_efficiency <= 1))
    throw InputError(where + ": field 'collective_efficiency' must be in (0, 1]");
  if (topo.contains("intra_node")) {
    const json& in = topo["intra_node"];
    const std::string w = where + ".intra_node";
    check_keys(in, {"fabric", "bandwidth_gbs", "latency_us"}, w);
    t.intra_fabric = json_string_or(in, "fabric", "nvlink", w);
    if (t.intra_fabric != "nvswitch" && t.intra_fabric != "nvlink" && t.intra_fabric != "pcie")
      throw InputError(w + ": field 'fabric' must be \"nvswitch\", \"nvlink\" or \"pcie\", got \"" + t.intra_fabric + "\"");
    t.intra_bandwidth = positive(in, "bandwidth_gbs", t.intra_bandwidth / 1e9, w) * 1e9;
    t.intra_latency_ms = positive(in, "latency_us", t.intra_latency_ms * 1e3, w, true) / 1e3;
  }
  if (topo.contains("inter_node")) {
    const json& in = topo["inter_node"];
    const std::string w = where + ".inter_node";
    check_keys(in, {"nics", "nic_gbps", "nic_gbs", "latency_us", "fabric"}, w);
    t.nics_per_node = count_field(in, "nics", t.gpus_per_node, w, 1024);
    if (in.contains("nic_gbps") && in.contains("nic_gbs"))
      throw InputError(w + ": give 'nic_gbps' (Gbit/s) or 'nic_gbs' (GB/s), not both");
    if (in.contains("nic_gbps")) t.nic_bandwidth = positive(in, "nic_gbps", 0, w) * 1e9 / 8;
    else t.nic_bandwidth = positive(in, "nic_gbs", t.nic_bandwidth / 1e9, w) * 1e9;
    t.inter_latency_ms = positive(in, "latency_us", t.inter_latency_ms * 1e3, w, true) / 1e3;
  }
  if (topo.contains("host_link")) {
    const json& in = topo["host_link"];
    const std::string w = where + ".host_link";
    check_keys(in, {"bandwidth_gbs", "latency_us", "gpus_per_switch"}, w);
    t.host_bandwidth = positive(in, "bandwidth_gbs", 0, w) * 1e9;
    t.host_latency_ms = positive(in, "latency_us", 0, w, true) / 1e3;
    t.gpus_per_host_switch = count_field(in, "gpus_per_switch", 1, w, kMaxGpusPerNode);
  }
  c.topology = t;
  // Pipeline sends between neighbouring stages: one GPU to one GPU over NVLink, or over its share
  // of the node's NICs.
  if (!has_intra_link) c.intra_node = Link{t.intra_latency_ms, t.intra_bus_bandwidth()};
  if (!has_inter_link)
    c.inter_node = Link{t.inter_latency_ms, t.node_nic_bandwidth() / t.gpus_per_node * t.collective_efficiency};
}

CollectiveGroup collective_group(const ClusterTopology& topo, int size, int stride) {
  CollectiveGroup g;
  g.size = std::max(1, size);
  stride = std::max(1, stride);
  const int gpn = std::max(1, topo.gpus_per_node);
  // Members per node: the group's ranks r, r+stride, ... fall gpn/stride to a node when the stride
  // is below the node size, else one per node.
  const int per_node = stride >= gpn ? 1 : std::min(g.size, gpn / stride);
  g.inter_node = g.size > per_node;
  const double intra = topo.intra_bus_bandwidth();
  if (!g.inter_node) {
    g.bus_bandwidth = intra;
    g.latency_ms = topo.intra_latency_ms;
  } else {
    double nic = topo.node_nic_bandwidth() * topo.collective_efficiency * per_node / gpn;
    g.bus_bandwidth = intra > 0 ? std::min(intra, nic) : nic;
    g.latency_ms = topo.inter_latency_ms;
  }
  return g;
}

namespace {
double ring_ms(double bytes, const CollectiveGroup& g, double steps_factor) {
  const int n = g.size;
  if (n <= 1 || bytes <= 0) return 0.0;
  const double frac = double(n - 1) / n;
  const double bw = g.bus_bandwidth > 0 ? steps_factor * frac * bytes / g.bus_bandwidth * 1e3 : 0.0;
  return bw + steps_factor * (n - 1) * g.latency_ms;
}
}  // namespace

double all_reduce_ms(double bytes, const CollectiveGroup& g) { return ring_ms(bytes, g, 2.0); }
double reduce_scatter_ms(double bytes, const CollectiveGroup& g) { return ring_ms(bytes, g, 1.0); }
double all_gather_ms(double bytes, const CollectiveGroup& g) { return ring_ms(bytes, g, 1.0); }
double all_to_all_ms(double bytes, const CollectiveGroup& g) { return ring_ms(bytes, g, 1.0); }

}  // namespace adaptis
