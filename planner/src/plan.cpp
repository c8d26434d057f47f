#include "adaptis/planner/plan.h"

#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/model/limits.h"

namespace adaptis {

const char* op_name(Op op) {
  switch (op) {
    case Op::F: return "F";
    case Op::B: return "B";
    case Op::W: return "W";
    case Op::BW: return "BW";
    case Op::R: return "R";
  }
  return "?";
}

bool op_from_name(const std::string& name, Op& op) {
  for (Op o : {Op::F, Op::B, Op::W, Op::BW, Op::R})
    if (name == op_name(o)) {
      op = o;
      return true;
    }
  return false;
}

char op_letter(Op op) {
  switch (op) {
    case Op::F: return 'F';
    case Op::B: return 'B';
    case Op::W: return 'W';
    case Op::BW: return 'X';
    case Op::R: return 'R';
  }
  return '?';
}

std::string to_string(const Action& a) {
  return std::string(a.overlap_prev ? "&" : "") + op_name(a.op) + " s" + std::to_string(a.stage) + " mb" +
         std::to_string(a.mb);
}

std::vector<int> Partition::sizes() const {
  std::vector<int> out;
  for (int s = 0; s < num_stages(); ++s) out.push_back(stage_size(s));
  return out;
}

Partition Partition::from_sizes(const std::vector<int>& sizes) {
  Partition p;
  p.bounds.push_back(0);
  // Summed in 64 bits: sizes from a file must not wrap the bounds around (2147483647 + 1 layers).
  long long total = 0;
  for (int n : sizes) {
    total += n;
    if (total > kMaxLayers || total < -kMaxLayers)
      throw InputError("partition: the layers per stage add up to more than " + std::to_string(kMaxLayers));
    p.bounds.push_back(static_cast<int>(total));
  }
  return p;
}

Partition even_partition(int num_layers, int num_stages) {
  if (num_stages < 1) throw InputError("partition: need at least one stage");
  if (num_stages > num_layers)
    throw InputError("partition: " + std::to_string(num_stages) + " stages but the model has only " +
                     std::to_string(num_layers) + " layers; every stage needs at least one layer");
  std::vector<int> sizes(num_stages, num_layers / num_stages);
  for (int s = 0; s < num_layers % num_stages; ++s) ++sizes[s];
  return Partition::from_sizes(sizes);
}

int Placement::num_stages() const {
  int n = 0;
  for (const auto& d : device_stages) n += static_cast<int>(d.size());
  return n;
}

std::vector<int> Placement::stage_device() const {
  int max_stage = -1;
  for (const auto& d : device_stages)
    for (int s : d) max_stage = std::max(max_stage, s);
  std::vector<int> out(max_stage + 1, -1);
  for (int d = 0; d < num_devices(); ++d)
    for (int s : device_stages[d])
      if (s >= 0) out[s] = d;
  return out;
}

Placement sequential_placement(int p) { return looped_placement(p, 1); }

Placement looped_placement(int p, int v) {
  Placement pl;
  pl.device_stages.resize(p);
  for (int s = 0; s < p * v; ++s) pl.device_stages[s % p].push_back(s);
  return pl;
}

Placement v_placement(int p) { return wave_placement(p, 2); }

Placement wave_placement(int p, int v) {
  Placement pl;
  pl.device_stages.resize(p);
  for (int s = 0; s < p * v; ++s) {
    int lap = s / p, pos = s % p;
    int d = (lap % 2 == 0) ? pos : p - 1 - pos;
    pl.device_stages[d].push_back(s);
  }
  return pl;
}

size_t Plan::num_actions() const {
  size_t n = 0;
  for (const auto& d : schedule) n += d.size();
  return n;
}

}  // namespace adaptis
