#pragma once
// The physical shape of a GPU cluster: nodes x GPUs per node, the intra-node fabric (NVLink /
// NVSwitch), the inter-node NICs and the host (PCIe) links, and the time of the ring collectives
// that tensor, context, expert and data parallelism run over them.
//
// Cluster file section (all optional; a file without it keeps working, the topology is then
// derived from the devices' node ids and the intra_node / inter_node links):
//   "topology": {
//     "nodes": 64, "gpus_per_node": 8, "device": "H100-SXM",   // device: generate the devices
//     "intra_node": {"fabric": "nvswitch", "bandwidth_gbs": 450, "latency_us": 3},
//     "inter_node": {"nics": 8, "nic_gbps": 400, "latency_us": 5},   // or "nic_gbs" in GB/s
//     "host_link": {"bandwidth_gbs": 64, "latency_us": 2, "gpus_per_switch": 2},
//     "collective_efficiency": 0.8     // achieved NCCL bus bandwidth / link bandwidth
//   }
// Bandwidths are per direction: intra_node per GPU, inter_node per NIC.
//
// Collective time on a group of n GPUs (ring algorithms, the nccl-tests "bus bandwidth" B and the
// per-hop latency a of the slowest link the ring crosses; S = bytes of the full tensor):
//   all-reduce          2(n-1)/n * S/B + 2(n-1) a
//   reduce-scatter      (n-1)/n * S/B + (n-1) a      (same for all-gather)
//   all-to-all          (n-1)/n * S/B + (n-1) a      (S = bytes each GPU holds before the exchange)
// A group inside one node gets the NVLink bus bandwidth. A group spanning nodes with k members
// per node gets min(NVLink bus bandwidth, node NIC bandwidth * k / gpus_per_node): the node's
// NICs are shared by the gpus_per_node / k groups of the same kind that run at the same time
// (data-parallel groups of every tensor-parallel rank all sync together).
#include <string>

namespace adaptis {

struct ClusterTopology {
  int nodes = 1;
  int gpus_per_node = 1;
  std::string intra_fabric = "nvlink";  // "nvswitch", "nvlink" or "pcie" (descriptive)
  double intra_bandwidth = 200e9;       // bytes/s per GPU per direction
  double intra_latency_ms = 0.005;
  int nics_per_node = 1;
  double nic_bandwidth = 25e9;          // bytes/s per NIC per direction
  double inter_latency_ms = 0.010;
  double host_bandwidth = 0;            // bytes/s per GPU (PCIe); 0 = not given
  double host_latency_ms = 0;
  int gpus_per_host_switch = 1;         // GPUs sharing one PCIe switch uplink
  double collective_efficiency = 0.8;   // NCCL bus bandwidth reached, as a fraction of the links'
  bool from_file = false;               // given in the cluster file (else derived from the devices)

  int num_gpus() const { return nodes * gpus_per_node; }
  double node_nic_bandwidth() const { return nics_per_node * nic_bandwidth; }
  // Bus bandwidth (nccl-tests busbw) of a collective inside one node.
  double intra_bus_bandwidth() const { return intra_bandwidth * collective_efficiency; }
};

// A communication group as the collective formulas see it.
struct CollectiveGroup {
  int size = 1;              // n GPUs
  double bus_bandwidth = 0;  // B, bytes/s (0 = infinite)
  double latency_ms = 0;     // a, per ring hop
  bool inter_node = false;   // the group spans nodes
};

// The group of `size` GPUs at global ranks r, r + stride, r + 2*stride, ... (Megatron's rank order
// puts tensor-parallel ranks adjacent, so a data-parallel group has stride tp * cp).
CollectiveGroup collective_group(const ClusterTopology& topo, int size, int stride);

double all_reduce_ms(double bytes, const CollectiveGroup& g);
double reduce_scatter_ms(double bytes, const CollectiveGroup& g);
double all_gather_ms(double bytes, const CollectiveGroup& g);
double all_to_all_ms(double bytes, const CollectiveGroup& g);

}  // namespace adaptis
