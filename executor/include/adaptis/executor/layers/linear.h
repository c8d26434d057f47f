#pragma once
// Dense linear map without bias, the workhorse of every layer, split the way a pipeline needs it:
//   F: y = x W^T        B: dx = dy W        W: dW += dy^T x
// x is (rows x in), W is (out x in) row-major (PyTorch nn.Linear layout), y is (rows x out).
// Plain loops with a fixed summation order: results depend only on the operands, never on threads or on
// how a model is cut into stages, which is what makes pipelined runs bitwise equal to a single device.
// Explicitly instantiated for float (the executor) and double (the finite-difference reference).
namespace adaptis::exec {

// y = x W^T (overwrites y).
template <typename T>
void linear_forward(T* y, const T* x, const T* w, int rows, int in, int out);

// dx = dy W, or dx += dy W when `accumulate` (several linears reading the same input).
template <typename T>
void linear_backward_input(T* dx, const T* dy, const T* w, int rows, int in, int out, bool accumulate);

// dW += dy^T x, summing over rows in ascending order.
template <typename T>
void linear_backward_weight(T* dw, const T* dy, const T* x, int rows, int in, int out);

}  // namespace adaptis::exec
