#pragma once
// The machines a plan runs on: devices (possibly of different kinds) and the links between them.
#include <string>
#include <vector>

#include "adaptis/model/cluster_topology.h"
#include "adaptis/model/kernel_efficiency.h"

namespace adaptis {

// A device's link to host memory (PCIe or a CPU-GPU interconnect), used to offload activations.
// Copies to and from the host run on separate channels (PCIe is full duplex), each a queue of copies
// taking latency + bytes / bandwidth. Devices with the same `group` (behind one PCIe switch, or on
// one CPU socket) share its bandwidth: a plan in which n of them offload gives each 1/n of it.
struct HostLink {
  double bandwidth = 0;   // bytes/s per direction, effective (what large copies reach); 0 = no host link
  double latency_ms = 0;  // per copy
  int group = -1;         // devices sharing the link's bandwidth; -1 = a link of its own
  int pcie_gen = 0;       // PCIe generation and lanes, when it is PCIe (0 = not given): for reports
  int lanes = 0;

  bool present() const { return bandwidth > 0; }
  // One copy of `bytes` when `sharing` devices of the group copy (>= 1).
  double copy_ms(double bytes, int sharing = 1) const {
    return latency_ms + bytes / (bandwidth / (sharing > 1 ? sharing : 1)) * 1e3;
  }
};

// Effective per-direction bandwidth of a PCIe link: generation -> GT/s per lane (3: 8, 4: 16, 5: 32,
// 6: 64), 128b/130b coding (PAM4/FLIT for gen 6 counted the same), and 80% of that left for large
// DMA copies after packet headers and flow control. Gen5 x16: 63.0 GB/s raw, 50.4 GB/s effective.
// 0 for an unknown generation.
double pcie_effective_bandwidth(int gen, int lanes);

struct Device {
  std::string name = "H100-SXM";
  double peak_tflops = 989.0;            // dense bf16 tensor-core peak
  double hbm_bytes = 80.0 * (1ull << 30);  // device memory
  double hbm_bandwidth = 3.35e12;        // bytes/s
  double speed = 1.0;                    // relative compute speed; layer times are divided by it
  double memory_limit_bytes = 0;         // usable memory for the plan; 0 = hbm_bytes
  int node = 0;                          // devices on the same node use the intra-node link
  HostLink host_link;                    // to host memory (activation offload); none by default

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

// N identical H100-SXM devices on one node with NVLink-class links, each with a PCIe Gen5 x16 host
// link (50.4 GB/s effective per direction, 10 us per copy), two devices per PCIe switch (the HGX
// H100 board's layout) sharing it.
Cluster make_uniform_cluster(int num_devices);

// Reads a cluster file (see samples/clusters/ and cluster_topology.h for the "topology" section).
// Throws InputError naming the file and field.
// Host links: a known device type brings its PCIe generation (x16, two devices per switch); the
// file may override it at the top level or per device entry:
//   "host_link": {"pcie_gen": 5, "lanes": 16, "bandwidth_gbs": 50, "latency_us": 10,
//                 "devices_per_group": 2}      // bandwidth_gbs defaults from pcie_gen and lanes
//   "host_link": "none"                      // no host link: plans cannot offload
// devices_per_group consecutive devices of one node share a link (1 = one link each).
Cluster load_cluster(const std::string& path);

// Fills cluster.topology from its devices (node ids) and links, for clusters built in code or read
// from files without a "topology" section.
void derive_topology(Cluster& cluster);

}  // namespace adaptis
