#pragma once
// Rotary position embedding (RoPE, Su et al. 2021) on (rows = batch * seq) x (heads * head_dim) tensors:
// the pair (2j, 2j+1) of every head at position p is rotated by p * theta^(-2j / head_dim). The position of
// row r is r % seq. It has no parameters; its backward is the inverse rotation.
#include <vector>

namespace adaptis::exec {

template <typename T>
struct RopeTable {
  int seq = 0, head_dim = 0;
  std::vector<T> cos, sin;  // seq x head_dim/2
};

template <typename T>
RopeTable<T> make_rope_table(int seq, int head_dim, double theta);

// In place: rotate forward (`inverse` false) or back (`inverse` true, the gradient of the rotation).
template <typename T>
void rope_apply(T* x, const RopeTable<T>& table, int rows, int heads, bool inverse);
// The same with the position of row r given as positions[r] (each in [0, table.seq)): packed micro-batches,
// whose positions restart at every sequence.
template <typename T>
void rope_apply(T* x, const RopeTable<T>& table, const int* positions, int rows, int heads, bool inverse);

}  // namespace adaptis::exec
