// SwiGLU feed-forward core, F / B / W.
#include "adaptis/executor/layers/swiglu.h"

#include <cstddef>

#include "adaptis/executor/layers/activations.h"
#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/layers/linear.h"

namespace adaptis::exec {

template <typename T>
void swiglu_forward(T* out, const T* x, const SwigluWeights<T>& w, int rows, int h, int f, SwigluSaved<T>& saved) {
  const size_t n = size_t(rows) * f;
  saved.a.resize(n);
  saved.b.resize(n);
  saved.u.resize(n);
  linear_forward(saved.a.data(), x, w.w1, rows, h, f);
  linear_forward(saved.b.data(), x, w.w3, rows, h, f);
  for (size_t i = 0; i < n; ++i) saved.u[i] = silu(saved.a[i]) * saved.b[i];
  linear_forward(out, saved.u.data(), w.w2, rows, f, h);
}

template <typename T>
void swiglu_backward_input(T* dx, bool accumulate, const T* dout, const SwigluWeights<T>& w, int rows, int h, int f,
                           SwigluSaved<T>& saved, SwigluCarry<T>& carry) {
  const size_t n = size_t(rows) * f;
  carry.dout.assign(dout, dout + size_t(rows) * h);
  std::vector<T> du(n);
  linear_backward_input(du.data(), dout, w.w2, rows, f, h, false);
  carry.da.resize(n);
  carry.db.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const T a = saved.a[i], b = saved.b[i];
    carry.da[i] = du[i] * b * silu_grad(a);
    carry.db[i] = du[i] * silu(a);
  }
  linear_backward_input(dx, carry.da.data(), w.w1, rows, h, f, accumulate);
  linear_backward_input(dx, carry.db.data(), w.w3, rows, h, f, true);
  release(saved.a);
  release(saved.b);
}

template <typename T>
void swiglu_backward_weight(T* dw1, T* dw3, T* dw2, const T* x, int rows, int h, int f, const SwigluSaved<T>& saved,
                            const SwigluCarry<T>& carry) {
  linear_backward_weight(dw1, carry.da.data(), x, rows, h, f);
  linear_backward_weight(dw3, carry.db.data(), x, rows, h, f);
  linear_backward_weight(dw2, carry.dout.data(), saved.u.data(), rows, f, h);
}

#define ADAPTIS_INSTANTIATE_SWIGLU(T)                                                                          \
  template void swiglu_forward<T>(T*, const T*, const SwigluWeights<T>&, int, int, int, SwigluSaved<T>&);     \
  template void swiglu_backward_input<T>(T*, bool, const T*, const SwigluWeights<T>&, int, int, int,          \
                                         SwigluSaved<T>&, SwigluCarry<T>&);                                    \
  template void swiglu_backward_weight<T>(T*, T*, T*, const T*, int, int, int, const SwigluSaved<T>&,          \
                                          const SwigluCarry<T>&);
ADAPTIS_INSTANTIATE_SWIGLU(float)
ADAPTIS_INSTANTIATE_SWIGLU(double)

}  // namespace adaptis::exec
