// Dense linear F / B / W. The loops keep one summation order per output element (ascending over the
// reduced index), which is what bitwise reproducibility across stage cuts and W orders relies on.
#include "adaptis/executor/layers/linear.h"

#include <cstddef>

namespace adaptis::exec {

template <typename T>
void linear_forward(T* y, const T* x, const T* w, int rows, int in, int out) {
  for (int r = 0; r < rows; ++r) {
    const T* xr = x + size_t(r) * in;
    T* yr = y + size_t(r) * out;
    for (int o = 0; o < out; ++o) {
      const T* wo = w + size_t(o) * in;
      T acc = 0;
      for (int i = 0; i < in; ++i) acc += xr[i] * wo[i];
      yr[o] = acc;
    }
  }
}

template <typename T>
void linear_backward_input(T* dx, const T* dy, const T* w, int rows, int in, int out, bool accumulate) {
  for (int r = 0; r < rows; ++r) {
    T* dxr = dx + size_t(r) * in;
    const T* dyr = dy + size_t(r) * out;
    if (!accumulate)
      for (int i = 0; i < in; ++i) dxr[i] = 0;
    // Row-wise axpy (dx_r += dy_ro * W_o) so the inner loop is contiguous and vectorizes without
    // reassociating any sum: each dx_ri still adds its terms in ascending o.
    for (int o = 0; o < out; ++o) {
      const T g = dyr[o];
      const T* wo = w + size_t(o) * in;
      for (int i = 0; i < in; ++i) dxr[i] += g * wo[i];
    }
  }
}

template <typename T>
void linear_backward_weight(T* dw, const T* dy, const T* x, int rows, int in, int out) {
  for (int o = 0; o < out; ++o) {
    T* dwo = dw + size_t(o) * in;
    for (int r = 0; r < rows; ++r) {
      const T g = dy[size_t(r) * out + o];
      const T* xr = x + size_t(r) * in;
      for (int i = 0; i < in; ++i) dwo[i] += g * xr[i];
    }
  }
}

template void linear_forward<float>(float*, const float*, const float*, int, int, int);
template void linear_forward<double>(double*, const double*, const double*, int, int, int);
template void linear_backward_input<float>(float*, const float*, const float*, int, int, int, bool);
template void linear_backward_input<double>(double*, const double*, const double*, int, int, int, bool);
template void linear_backward_weight<float>(float*, const float*, const float*, int, int, int);
template void linear_backward_weight<double>(double*, const double*, const double*, int, int, int);

}  // namespace adaptis::exec
