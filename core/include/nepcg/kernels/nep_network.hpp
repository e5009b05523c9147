// NEP network: per type, tanh hidden layer(s) and a linear output, with GPUMD's bias signs:
//   one layer:  U = sum_mu w1_mu tanh(sum_nu W0_mu,nu q_nu - b0_mu) - b_out   (- beta_t for nep5)
//   two layers: h1 = tanh(W0 q - b0), h2 = tanh(W1 h1 - b1), U = w2 . h2 - b_out
// q is the scaled descriptor (q_scaler applied). nep3 uses one block for every type.
#pragma once

#include <cmath>

#include "nepcg/kernels/nep_view.hpp"

namespace nepcg::kernels {

/// Site energy (eV) of an atom of `type` and dU/dq for the scaled descriptor q (dim values).
NEPCG_HD double network_energy(const NepView& p, int type, const double* q, double* dUdq) {
  const int D = p.dim, N1 = p.neurons1;
  const int n_blocks = p.version == 3 ? 1 : p.num_types;
  const double* block = p.ann + (p.version == 3 ? 0 : type) * p.ann_block;
  const double b_out = p.ann[n_blocks * p.ann_block];
  const double* W0 = block;
  const double* b0 = block + N1 * D;
  for (int d = 0; d < D; ++d) dUdq[d] = 0.0;
  if (p.neurons2 == 0) {
    const double* w1 = b0 + N1;
    double U = 0.0;
    for (int mu = 0; mu < N1; ++mu) {
      double z = -b0[mu];
      const double* row = W0 + mu * D;
      for (int d = 0; d < D; ++d) z += row[d] * q[d];
      const double h = std::tanh(z);
      U += w1[mu] * h;
      const double y = w1[mu] * (1.0 - h * h);
      for (int d = 0; d < D; ++d) dUdq[d] += y * row[d];
    }
    U -= b_out;
    if (p.version == 5) U -= w1[N1];  // per-type bias beta_t
    return U;
  }
  const int N2 = p.neurons2;
  const double* W1 = b0 + N1;
  const double* b1 = W1 + N1 * N2;
  const double* w2 = b1 + N2;
  double h1[kMaxNeurons], y1[kMaxNeurons];
  for (int mu = 0; mu < N1; ++mu) {
    double z = -b0[mu];
    const double* row = W0 + mu * D;
    for (int d = 0; d < D; ++d) z += row[d] * q[d];
    h1[mu] = std::tanh(z);
    y1[mu] = 0.0;
  }
  double U = 0.0;
  for (int nu = 0; nu < N2; ++nu) {
    double z = -b1[nu];
    const double* row = W1 + nu * N1;
    for (int mu = 0; mu < N1; ++mu) z += row[mu] * h1[mu];
    const double h2 = std::tanh(z);
    U += w2[nu] * h2;
    const double y2 = w2[nu] * (1.0 - h2 * h2);
    for (int mu = 0; mu < N1; ++mu) y1[mu] += y2 * row[mu];
  }
  for (int mu = 0; mu < N1; ++mu) {
    const double y = y1[mu] * (1.0 - h1[mu] * h1[mu]);
    const double* row = W0 + mu * D;
    for (int d = 0; d < D; ++d) dUdq[d] += y * row[d];
  }
  return U - b_out;
}

}  // namespace nepcg::kernels
