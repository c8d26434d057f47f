// RMSNorm F / B and the gain reduction.
#include "adaptis/executor/layers/rmsnorm.h"

#include <cmath>
#include <cstddef>

namespace adaptis::exec {

template <typename T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* g, int rows, int dim, double eps) {
  for (int r = 0; r < rows; ++r) {
    const T* xr = x + size_t(r) * dim;
    T* yr = y + size_t(r) * dim;
    T ss = 0;
    for (int i = 0; i < dim; ++i) ss += xr[i] * xr[i];
    const T s = T(1) / std::sqrt(ss / T(dim) + T(eps));
    rstd[r] = s;
    for (int i = 0; i < dim; ++i) yr[i] = xr[i] * s * g[i];
  }
}

// With xh = x * rstd and dxh = dy * g: dx = rstd * (dxh - xh * mean(dxh * xh)).
template <typename T>
void rmsnorm_backward_input(T* dx, const T* dy, const T* x, const T* rstd, const T* g, int rows, int dim) {
  for (int r = 0; r < rows; ++r) {
    const T* xr = x + size_t(r) * dim;
    const T* dyr = dy + size_t(r) * dim;
    T* dxr = dx + size_t(r) * dim;
    const T s = rstd[r];
    T dot = 0;
    for (int i = 0; i < dim; ++i) dot += dyr[i] * g[i] * xr[i] * s;
    const T mean = dot / T(dim);
    for (int i = 0; i < dim; ++i) dxr[i] += s * (dyr[i] * g[i] - xr[i] * s * mean);
  }
}

template <typename T>
void rmsnorm_backward_gain(T* dg, const T* dy, const T* x, const T* rstd, int rows, int dim) {
  for (int r = 0; r < rows; ++r) {
    const T* xr = x + size_t(r) * dim;
    const T* dyr = dy + size_t(r) * dim;
    const T s = rstd[r];
    for (int i = 0; i < dim; ++i) dg[i] += dyr[i] * xr[i] * s;
  }
}

template <typename T>
void prenorm_backward(T* dx, const T* dy, const T* dxn, const T* x, const T* rstd, const T* g, int rows, int dim,
                      std::vector<T>& dgain) {
  const size_t n = size_t(rows) * dim;
  for (size_t i = 0; i < n; ++i) dx[i] = dy ? dy[i] : T(0);
  rmsnorm_backward_input(dx, dxn, x, rstd, g, rows, dim);
  dgain.assign(size_t(dim), T(0));
  rmsnorm_backward_gain(dgain.data(), dxn, x, rstd, rows, dim);
}

template void rmsnorm_forward<float>(float*, float*, const float*, const float*, int, int, double);
template void rmsnorm_forward<double>(double*, double*, const double*, const double*, int, int, double);
template void rmsnorm_backward_input<float>(float*, const float*, const float*, const float*, const float*, int, int);
template void rmsnorm_backward_input<double>(double*, const double*, const double*, const double*, const double*, int,
                                             int);
template void rmsnorm_backward_gain<float>(float*, const float*, const float*, const float*, int, int);
template void rmsnorm_backward_gain<double>(double*, const double*, const double*, const double*, int, int);
template void prenorm_backward<float>(float*, const float*, const float*, const float*, const float*, const float*, int,
                                      int, std::vector<float>&);
template void prenorm_backward<double>(double*, const double*, const double*, const double*, const double*,
                                       const double*, int, int, std::vector<double>&);

}  // namespace adaptis::exec
