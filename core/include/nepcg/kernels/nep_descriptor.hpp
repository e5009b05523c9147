// NEP angular descriptor from the per-atom sums S[n][k] = sum_j g_n(r_ij) Y_k(u_ij) (real
// harmonics of spherical_harmonics.hpp), and the chain rule back from dU/dq to dU/dS.
//
// 3-body:  q_nl = sum_m |A_nlm|^2 = w_l0 S_l0^2 + 2 sum_m>0 w_lm (Sc_lm^2 + Ss_lm^2)
// 4-body:  q^(l1 l2 l3)_n = sum (l1 l2 l3; m1 m2 m3) A_n,l1m1 A_n,l2m2 A_n,l3m3 (Wigner 3j)
// 5-body:  q^(1111)_n = (7/15) q_n1^2
// with the complex A_nlm = N_lm (-1)^m (Sc_lm + i Ss_lm) for m >= 0 and
// A_nl,-m = (-1)^m conj(A_nlm). Descriptor order: radial q_n, then 3-body blocks l = 1 ... L
// (inner index n), then one block per enabled extra term in the order 222, 1111, 112, 123, 233, 134.
#pragma once

#include "nepcg/kernels/complex.hpp"
#include "nepcg/kernels/nep_view.hpp"
#include "nepcg/kernels/spherical_harmonics.hpp"

namespace nepcg::kernels {

/// Complex A_lm (index l*l + l + m) for l <= min(L, 4) from one n-row of S.
template <class R>
NEPCG_HD void complex_angular_sums(const NepViewT<R>& p, const R* S, CplxT<R>* A) {
  for (int k = 0; k < kNumComplexA; ++k) A[k] = {R(0), R(0)};
  const int lmax = p.l_max < kMaxManyBodyL ? p.l_max : kMaxManyBodyL;
  for (int l = 1; l <= lmax; ++l) {
    const int base = l * l - 1;
    const R* N = p.norms + l * (kMaxL + 1);
    A[l * l + l] = {N[0] * S[base], R(0)};
    for (int m = 1; m <= l; ++m) {
      const R sign = (m % 2) ? R(-1) : R(1);
      const R c = N[m] * S[base + 2 * m - 1], s = N[m] * S[base + 2 * m];
      A[l * l + l + m] = {sign * c, sign * s};
      A[l * l + l - m] = {c, -s};
    }
  }
}

/// The components of q that belong to radial channel n of the angular sums (each n is independent,
/// so GPU lanes can take one n each). A: workspace of kNumComplexA values for the many-body terms
/// (the GPU warp kernel passes shared memory: a dynamically indexed local array would live in
/// local memory there).
template <class R>
NEPCG_HD void angular_descriptor_row(const NepViewT<R>& p, const R* S, R* q, int n, CplxT<R>* A) {
  const int nA = p.n_max_angular + 1;
  const int DR = p.dim_radial;
  {
    const R* s = S + n * p.num_lm;
    for (int l = 1; l <= p.l_max; ++l) {
      const int base = l * l - 1;
      const R* w = p.weights + l * (kMaxL + 1);
      R v = w[0] * s[base] * s[base];
      for (int m = 1; m <= l; ++m) v += R(2) * w[m] * (s[base + 2 * m - 1] * s[base + 2 * m - 1] + s[base + 2 * m] * s[base + 2 * m]);
      q[DR + (l - 1) * nA + n] = v;
    }
    if (p.block_1111 >= 0) {
      const R q1 = q[DR + n];
      q[DR + (p.l_max + p.block_1111) * nA + n] = R(7.0 / 15.0) * q1 * q1;
    }
    if (p.num_many_body > 0) {
      complex_angular_sums(p, s, A);
      for (int t = 0; t < p.num_many_body; ++t) {
        const ManyBodyTerm& term = p.many_body[t];
        R v = R(0);
        for (int e = term.begin; e < term.end; ++e) {
          const ThreeJEntryT<R>& x = p.three_j[e];
          v += x.coef * (A[x.k1] * A[x.k2] * A[x.k3]).re;
        }
        q[DR + (p.l_max + term.block) * nA + n] = v;
      }
    }
  }
}

template <class R>
NEPCG_HD void angular_descriptor_row(const NepViewT<R>& p, const R* S, R* q, int n) {
  CplxT<R> A[kNumComplexA];
  angular_descriptor_row(p, S, q, n, A);
}

/// q[dim_radial ... dim-1] from S ((n_max_angular + 1) x num_lm).
template <class R>
NEPCG_HD void angular_descriptor(const NepViewT<R>& p, const R* S, R* q) {
  for (int n = 0; n <= p.n_max_angular; ++n) angular_descriptor_row(p, S, q, n);
}

/// Row n of dU/dS (see angular_gradient). A, G: workspaces of kNumComplexA values each for the
/// many-body terms (see angular_descriptor_row).
template <class R>
NEPCG_HD void angular_gradient_row(const NepViewT<R>& p, const R* S, const R* dUdq, R* dUdS, int n, CplxT<R>* A,
                                   CplxT<R>* G) {
  const int nA = p.n_max_angular + 1;
  const int DR = p.dim_radial;
  {
    const R* s = S + n * p.num_lm;
    R* g = dUdS + n * p.num_lm;
    for (int l = 1; l <= p.l_max; ++l) {
      const int base = l * l - 1;
      const R* w = p.weights + l * (kMaxL + 1);
      R dq = dUdq[DR + (l - 1) * nA + n];
      if (l == 1 && p.block_1111 >= 0) {
        R q1 = w[0] * s[0] * s[0] + R(2) * w[1] * (s[1] * s[1] + s[2] * s[2]);
        dq += dUdq[DR + (p.l_max + p.block_1111) * nA + n] * R(14.0 / 15.0) * q1;
      }
      g[base] = R(2) * w[0] * s[base] * dq;
      for (int m = 1; m <= l; ++m) {
        g[base + 2 * m - 1] = R(4) * w[m] * s[base + 2 * m - 1] * dq;
        g[base + 2 * m] = R(4) * w[m] * s[base + 2 * m] * dq;
      }
    }
    if (p.num_many_body > 0) {
      complex_angular_sums(p, s, A);
      for (int k = 0; k < kNumComplexA; ++k) G[k] = {R(0), R(0)};
      for (int t = 0; t < p.num_many_body; ++t) {
        const ManyBodyTerm& term = p.many_body[t];
        const R dq = dUdq[DR + (p.l_max + term.block) * nA + n];
        for (int e = term.begin; e < term.end; ++e) {
          const ThreeJEntryT<R>& x = p.three_j[e];
          const R c = dq * x.coef;
          G[x.k1] = G[x.k1] + c * (A[x.k2] * A[x.k3]);
          G[x.k2] = G[x.k2] + c * (A[x.k1] * A[x.k3]);
          G[x.k3] = G[x.k3] + c * (A[x.k1] * A[x.k2]);
        }
      }
      // q = Re F(A): dq/dSc = N Re[(-1)^m G_m + G_-m], dq/dSs = -N Im[(-1)^m G_m - G_-m].
      const int lmax = p.l_max < kMaxManyBodyL ? p.l_max : kMaxManyBodyL;
      for (int l = 1; l <= lmax; ++l) {
        const int base = l * l - 1;
        const R* N = p.norms + l * (kMaxL + 1);
        g[base] += N[0] * G[l * l + l].re;
        for (int m = 1; m <= l; ++m) {
          const R sign = (m % 2) ? R(-1) : R(1);
          const CplxT<R> gp = G[l * l + l + m], gm = G[l * l + l - m];
          g[base + 2 * m - 1] += N[m] * (sign * gp.re + gm.re);
          g[base + 2 * m] += -N[m] * (sign * gp.im - gm.im);
        }
      }
    }
  }
}

template <class R>
NEPCG_HD void angular_gradient_row(const NepViewT<R>& p, const R* S, const R* dUdq, R* dUdS, int n) {
  CplxT<R> A[kNumComplexA], G[kNumComplexA];
  angular_gradient_row(p, S, dUdq, dUdS, n, A, G);
}

/// dUdS[n * num_lm + k] = dU/dS[n][k] given dUdq (gradient of U with respect to the unscaled
/// descriptor, all D components) and S.
template <class R>
NEPCG_HD void angular_gradient(const NepViewT<R>& p, const R* S, const R* dUdq, R* dUdS) {
  for (int n = 0; n <= p.n_max_angular; ++n) angular_gradient_row(p, S, dUdq, dUdS, n);
}

}  // namespace nepcg::kernels
