// Rotary position embedding tables and the (inverse) rotation.
#include "adaptis/executor/layers/rope.h"

#include <cmath>
#include <cstddef>
#include <vector>

namespace adaptis::exec {

template <typename T>
RopeTable<T> make_rope_table(int seq, int head_dim, double theta) {
  RopeTable<T> t;
  t.seq = seq;
  t.head_dim = head_dim;
  const int half = head_dim / 2;
  t.cos.resize(size_t(seq) * half);
  t.sin.resize(size_t(seq) * half);
  for (int p = 0; p < seq; ++p)
    for (int j = 0; j < half; ++j) {
      // Angles in double so float and double tables agree to float rounding.
      const double angle = p * std::pow(theta, -2.0 * j / head_dim);
      t.cos[size_t(p) * half + j] = T(std::cos(angle));
      t.sin[size_t(p) * half + j] = T(std::sin(angle));
    }
  return t;
}

template <typename T>
void rope_apply(T* x, const RopeTable<T>& table, int rows, int heads, bool inverse) {
  std::vector<int> positions(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) positions[size_t(r)] = r % table.seq;
  rope_apply(x, table, positions.data(), rows, heads, inverse);
}

template <typename T>
void rope_apply(T* x, const RopeTable<T>& table, const int* positions, int rows, int heads, bool inverse) {
  const int hd = table.head_dim, half = hd / 2;
  for (int r = 0; r < rows; ++r) {
    const int p = positions[r];
    const T* c = table.cos.data() + size_t(p) * half;
    const T* s = table.sin.data() + size_t(p) * half;
    for (int h = 0; h < heads; ++h) {
      T* v = x + (size_t(r) * heads + h) * hd;
      for (int j = 0; j < half; ++j) {
        const T a = v[2 * j], b = v[2 * j + 1];
        const T sn = inverse ? -s[j] : s[j];
        v[2 * j] = a * c[j] - b * sn;
        v[2 * j + 1] = a * sn + b * c[j];
      }
    }
  }
}

template RopeTable<float> make_rope_table<float>(int, int, double);
template RopeTable<double> make_rope_table<double>(int, int, double);
template void rope_apply<float>(float*, const RopeTable<float>&, int, int, bool);
template void rope_apply<double>(double*, const RopeTable<double>&, int, int, bool);
template void rope_apply<float>(float*, const RopeTable<float>&, const int*, int, int, bool);
template void rope_apply<double>(double*, const RopeTable<double>&, const int*, int, int, bool);

}  // namespace adaptis::exec
