#pragma once
// RMSNorm: y = x * rstd * g with rstd = 1 / sqrt(mean(x^2) + eps), per row of `dim` values.
// B needs x and rstd (saved by F); the gain gradient dg = sum_rows dy * x * rstd is a small reduction that
// B computes into a carry buffer for W (so B touches no parameter gradient).
#include <vector>

namespace adaptis::exec {

// Writes y (rows x dim) and rstd (rows).
template <typename T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* g, int rows, int dim, double eps);

// dx += d/dx of the norm given dy (the gradient of y). Accumulates: the caller's dx usually already holds the
// residual branch's gradient.
template <typename T>
void rmsnorm_backward_input(T* dx, const T* dy, const T* x, const T* rstd, const T* g, int rows, int dim);

// dg += sum over rows of dy * x * rstd.
template <typename T>
void rmsnorm_backward_gain(T* dg, const T* dy, const T* x, const T* rstd, int rows, int dim);

// The input side of a pre-norm block's B, y = x + f(rmsnorm(x)) (or y = f(rmsnorm(x)) when `dy` is null, no
// residual): dx = dy + the norm's input gradient from dxn (the gradient of the normalised input), and dgain =
// the gain's gradient (sized to dim, zeroed first) for W to add.
template <typename T>
void prenorm_backward(T* dx, const T* dy, const T* dxn, const T* x, const T* rstd, const T* g, int rows, int dim,
                      std::vector<T>& dgain);

}  // namespace adaptis::exec
