#pragma once
// Scalar activations and their derivatives, written once for float and double.
#include <cmath>

namespace adaptis::exec {

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
// SiLU(x) = x * sigmoid(x).
template <typename T>
inline T silu(T x) {
  return x * sigmoid(x);
}
template <typename T>
inline T silu_grad(T x) {
  T s = sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}
// softplus(x) = log(1 + exp(x)), stable for large |x|; its derivative is sigmoid(x).
template <typename T>
inline T softplus(T x) {
  return x > T(20) ? x : std::log1p(std::exp(x));
}

}  // namespace adaptis::exec
