#pragma once
// The machines a plan runs on: devices (possibly of different kinds) and the links between them.
#include <string>
#include <vector>

#include "adaptis/model/cluster_topology.h"
#include "adaptis/model/kernel_efficiency.h"

namespace adaptis {

struct Device {
  std::string name = "H100-SXM";
  double peak_tflops = 989.0;            // dense bf16 tensor-core peak
  double hbm_bytes = 80.0 * (1ull << 30);  // device memory
  double hbm_bandwidth = 3.35e12;        // bytes/s
  double speed = 1.0;                    // relative compute speed; layer times are divided by it
  double memory_limit_bytes = 0;         // usable memory for the plan; 0 = hbm_bytes
  int node = 0;                          // devices on the same node use the intra-node link

  double memory_limit() const { return memory_limit_bytes > 0 ? memory_limit_bytes : hbm_bytes; }
};

struct Link {
  double latency_ms = 0.0;
  double bandwidth = 0.0;  // bytes/s; 0 = infinite (only latency counts)

  double transfer_ms(double bytes) const {
    return latency_ms + (bandwidth > 0 ? bytes / bandwidth * 1e3 : 0.0);
  }
};

struct Cluster {
  std::string name;
  std::vector<Device> devices;
  Link intra_node;  // NVLink-class
  Link inter_node;  // InfiniBand/RoCE-class
  // Nodes, fabrics and NICs: what tensor/data/context-parallel collectives run over. Derived from
  // the devices' node ids and the links above when the file has no "topology" section.
  ClusterTopology topology;
  // Kernel efficiencies measured for this machine ("efficiency" in the file): the base every model
  // costed on it starts from (a model spec's own "efficiency" fields still win). Unset = defaults.
  bool has_efficiency = false;
  KernelEfficiency efficiency;

  int num_devices() const { return static_cast<int>(devices.size()); }
  const Link& link(int a, int b) const {
    return devices[a].node == devices[b].node ? intra_node : inter_node;
  }
};

// N identical H100-SXM devices on one node with NVLink-class links.
Cluster make_uniform_cluster(int num_devices);

// Reads a cluster file (see samples/clusters/ and cluster_topology.h for the "topology" section).
// Throws InputError naming the file and field.
Cluster load_cluster(const std::string& path);

// Fills cluster.topology from its devices (node ids) and links, for clusters built in code or read
// from files without a "topology" section.
void derive_topology(Cluster& cluster);

}  // namespace adaptis
