#pragma once
// The "topology" section of a cluster file (cluster_topology.h documents the fields).
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/model/cluster.h"

namespace adaptis {

// The device list a topology section stands for: nodes x gpus_per_node devices of its "device"
// type, as "devices" entries ({"type", "count", "node", ...}). InputError names the field at fault.
nlohmann::json topology_device_list(const nlohmann::json& topo, const std::string& path);

// Reads the section into cluster.topology (which derive_topology already filled from the
// devices), checks it against the devices, and sets the pipeline links from it unless the file
// gave its own intra_node / inter_node links.
void read_cluster_topology(const nlohmann::json& topo, const std::string& path, bool has_intra_link,
                           bool has_inter_link, Cluster& cluster);

}  // namespace adaptis
