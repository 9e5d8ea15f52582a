#pragma once
// A test oracle (docs/reference.md), for small shapes only: gradients by central differences
// of the float64 reference forward, the derivative of L = Σ O ∘ dO with respect to every
// element of Q, K and V, with nothing of the analytic backward in it. It checks the
// reference's backward on small shapes, and a kernel's gradients directly on one small case.
// Costs two forwards per input element.

#include <vector>

#include "cpu_attention.cuh"

namespace attnkit::reference {

template <class Variant = NoVariant>
BackwardResult finite_difference_backward(const Shape& shape, std::vector<double> q, std::vector<double> k,
                                          std::vector<double> v, const std::vector<double>& d_out,
                                          const Variant& variant = {}, double step = 1e-5) {
  auto loss = [&] {
    const std::vector<double> o = forward(shape, q, k, v, variant).o;
    double sum = 0.0;
    for (std::size_t i = 0; i < o.size(); ++i) sum += o[i] * d_out[i];
    return sum;
  };
  auto gradient_of = [&](std::vector<double>& wrt) {
    std::vector<double> gradient(wrt.size());
    for (std::size_t i = 0; i < wrt.size(); ++i) {
      const double saved = wrt[i];
      wrt[i] = saved + step;
      const double above = loss();
      wrt[i] = saved - step;
      const double below = loss();
      wrt[i] = saved;
      gradient[i] = (above - below) / (2 * step);
    }
    return gradient;
  };
  BackwardResult result;
  result.dq = gradient_of(q);
  result.dk = gradient_of(k);
  result.dv = gradient_of(v);
  return result;
}

}  // namespace attnkit::reference
