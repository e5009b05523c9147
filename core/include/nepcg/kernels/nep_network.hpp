// NEP network: per type, tanh hidden layer(s) and a linear output, with GPUMD's bias signs:
//   one layer:  U = sum_mu w1_mu tanh(sum_nu W0_mu,nu q_nu - b0_mu) - b_out   (- beta_t for nep5)
//   two layers: h1 = tanh(W0 q - b0), h2 = tanh(W1 h1 - b1), U = w2 . h2 - b_out
// q is the scaled descriptor (q_scaler applied). nep3 uses one block for every type.
#pragma once

#include <cmath>

#include "nepcg/kernels/nep_view.hpp"

namespace nepcg::kernels {

/// Site energy (eV) of an atom of `type` and dU/dq for the scaled descriptor q (dim values).
template <class R>
NEPCG_HD R network_energy(const NepViewT<R>& p, int type, const R* q, R* dUdq) {
  const int D = p.dim, N1 = p.neurons1;
  const int n_blocks = p.version == 3 ? 1 : p.num_types;
  const R* block = p.ann + (p.version == 3 ? 0 : type) * p.ann_block;
  const R b_out = p.ann[n_blocks * p.ann_block];
  const R* W0 = block;
  const R* b0 = block + N1 * D;
  using std::tanh;  // and, by argument-dependent lookup, tanh of the CPU trainer's Lanes
  for (int d = 0; d < D; ++d) dUdq[d] = R(0);
  if (p.neurons2 == 0) {
    const R* w1 = b0 + N1;
    R U = R(0);
    // Two neurons at a time: two independent dot products in flight instead of one chain of D
    // dependent multiply-adds (each sum still in the order of the one-neuron loop below).
    int mu = 0;
    for (; mu + 1 < N1; mu += 2) {
      R z0 = -b0[mu], z1 = -b0[mu + 1];
      const R* row0 = W0 + mu * D;
      const R* row1 = row0 + D;
      for (int d = 0; d < D; ++d) {
        z0 += row0[d] * q[d];
        z1 += row1[d] * q[d];
      }
      const R h0 = tanh(z0), h1 = tanh(z1);
      U += w1[mu] * h0;
      U += w1[mu + 1] * h1;
      const R y0 = w1[mu] * (R(1) - h0 * h0), y1 = w1[mu + 1] * (R(1) - h1 * h1);
      for (int d = 0; d < D; ++d) {
        dUdq[d] += y0 * row0[d];
        dUdq[d] += y1 * row1[d];
      }
    }
    for (; mu < N1; ++mu) {
      R z = -b0[mu];
      const R* row = W0 + mu * D;
      for (int d = 0; d < D; ++d) z += row[d] * q[d];
      const R h = tanh(z);
      U += w1[mu] * h;
      const R y = w1[mu] * (R(1) - h * h);
      for (int d = 0; d < D; ++d) dUdq[d] += y * row[d];
    }
    U -= b_out;
    if (p.version == 5) U -= w1[N1];  // per-type bias beta_t
    return U;
  }
  const int N2 = p.neurons2;
  const R* W1 = b0 + N1;
  const R* b1 = W1 + N1 * N2;
  const R* w2 = b1 + N2;
  R h1[kMaxNeurons], y1[kMaxNeurons];
  for (int mu = 0; mu < N1; ++mu) {
    R z = -b0[mu];
    const R* row = W0 + mu * D;
    for (int d = 0; d < D; ++d) z += row[d] * q[d];
    h1[mu] = tanh(z);
    y1[mu] = R(0);
  }
  R U = R(0);
  for (int nu = 0; nu < N2; ++nu) {
    R z = -b1[nu];
    const R* row = W1 + nu * N1;
    for (int mu = 0; mu < N1; ++mu) z += row[mu] * h1[mu];
    const R h2 = tanh(z);
    U += w2[nu] * h2;
    const R y2 = w2[nu] * (R(1) - h2 * h2);
    for (int mu = 0; mu < N1; ++mu) y1[mu] += y2 * row[mu];
  }
  for (int mu = 0; mu < N1; ++mu) {
    const R y = y1[mu] * (R(1) - h1[mu] * h1[mu]);
    const R* row = W0 + mu * D;
    for (int d = 0; d < D; ++d) dUdq[d] += y * row[d];
  }
  return U - b_out;
}

}  // namespace nepcg::kernels
