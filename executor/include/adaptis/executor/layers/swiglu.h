#pragma once
// The SwiGLU feed-forward core shared by the MLP block, every MoE expert and the MoE shared expert:
//   a = x W1^T, b = x W3^T (gate and up, rows x f), u = silu(a) * b, out = u W2^T (rows x h).
// W1, W3 are (f x h), W2 is (h x f), row-major.
#include <vector>

namespace adaptis::exec {

template <typename T>
struct SwigluWeights {
  const T* w1;  // gate (f x h)
  const T* w3;  // up   (f x h)
  const T* w2;  // down (h x f)
};

// Saved by F: a and b are needed by B only; u is the input of W2, kept until W.
template <typename T>
struct SwigluSaved {
  std::vector<T> a, b, u;
};

// B -> W: the output gradients of the three linears.
template <typename T>
struct SwigluCarry {
  std::vector<T> dout, da, db;
};

template <typename T>
void swiglu_forward(T* out, const T* x, const SwigluWeights<T>& w, int rows, int h, int f, SwigluSaved<T>& saved);

// dx = (or += when accumulate) the input gradient from dout. Fills `carry`, frees saved.a / saved.b.
template <typename T>
void swiglu_backward_input(T* dx, bool accumulate, const T* dout, const SwigluWeights<T>& w, int rows, int h,
                           int f, SwigluSaved<T>& saved, SwigluCarry<T>& carry);

// dw1 += da^T x, dw3 += db^T x, dw2 += dout^T u. `x` is the same input F saw.
template <typename T>
void swiglu_backward_weight(T* dw1, T* dw3, T* dw2, const T* x, int rows, int h, int f,
                            const SwigluSaved<T>& saved, const SwigluCarry<T>& carry);

}  // namespace adaptis::exec
