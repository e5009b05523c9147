// Per-atom NEP steps shared by every backend and by the trainer:
//   1. accumulate_pair: add one neighbour to the radial descriptor q_n and the angular sums S;
//   2. site_energy: finish the descriptor, run the network, return U_i and the gradients
//      Fp_n = dU_i/dq_n (radial) and dU_i/dS (angular);
//   3. partial_force: f_ij = dU_i/dr_ij for one neighbour from those gradients.
// Forces then follow as F_i = sum_j (f_ij - f_ji) and per-atom virials W_i = sum_j r_ij (x) f_ji.
#pragma once

#include <cmath>

#include "nepcg/kernels/nep_basis.hpp"
#include "nepcg/kernels/nep_descriptor.hpp"
#include "nepcg/kernels/nep_network.hpp"

namespace nepcg::kernels {

/// Number of doubles of the per-atom angular gradient dU/dS.
NEPCG_HD int angular_gradient_size(const NepView& p) { return (p.n_max_angular + 1) * p.num_lm; }

/// Adds neighbour j (type b, vector r_ij, length r) of a centre of type a. q_radial has
/// n_max_radial + 1 entries and S (n_max_angular + 1) x num_lm; both start at zero.
NEPCG_HD void accumulate_pair(const NepView& p, int a, int b, const double* rij, double r, double* q_radial,
                              double* S) {
  double f[kMaxK], fp[kMaxK], g[kMaxN], gp[kMaxN];
  const int T = p.num_types;
  const double rc_r = pair_cutoff(p.cutoff_radial, a, b);
  if (r < rc_r) {
    chebyshev_basis(p.basis_radial, r, rc_r, f, fp);
    radial_functions(p.n_max_radial, p.basis_radial, T, a, b, p.c_radial, f, fp, g, gp);
    for (int n = 0; n <= p.n_max_radial; ++n) q_radial[n] += g[n];
  }
  const double rc_a = pair_cutoff(p.cutoff_angular, a, b);
  if (r < rc_a) {
    chebyshev_basis(p.basis_angular, r, rc_a, f, fp);
    radial_functions(p.n_max_angular, p.basis_angular, T, a, b, p.c_angular, f, fp, g, gp);
    double Y[kMaxLm];
    const double inv = 1.0 / r;
    real_harmonics(p.l_max, rij[0] * inv, rij[1] * inv, rij[2] * inv, Y);
    for (int n = 0; n <= p.n_max_angular; ++n)
      for (int k = 0; k < p.num_lm; ++k) S[n * p.num_lm + k] += g[n] * Y[k];
  }
}

/// Finishes the descriptor of a centre of type a (q: D values whose radial part was accumulated;
/// S: angular sums), evaluates the network and returns U (eV, without ZBL). Writes the unscaled
/// descriptor into q, Fp[n] = dU/dq_n for the radial part and dUdS (angular_gradient_size).
NEPCG_HD double site_energy(const NepView& p, int a, double* q, const double* S, double* Fp, double* dUdS) {
  angular_descriptor(p, S, q);
  double qs[kMaxDim], dU[kMaxDim];
  for (int d = 0; d < p.dim; ++d) qs[d] = q[d] * p.q_scaler[d];
  const double U = network_energy(p, a, qs, dU);
  for (int d = 0; d < p.dim; ++d) dU[d] *= p.q_scaler[d];  // gradient w.r.t. the unscaled q
  for (int n = 0; n < p.dim_radial; ++n) Fp[n] = dU[n];
  angular_gradient(p, S, dU, dUdS);
  return U;
}

/// f_ij = dU_i/dr_ij (eV/Å) for neighbour j (type b) of a centre of type a, from the centre's
/// gradients Fp (radial) and dUdS (angular). Adds to f[0..2].
NEPCG_HD void partial_force(const NepView& p, int a, int b, const double* rij, double r, const double* Fp,
                            const double* dUdS, double* f) {
  double fk[kMaxK], fpk[kMaxK], g[kMaxN], gp[kMaxN];
  const int T = p.num_types;
  const double inv = 1.0 / r;
  const double u[3] = {rij[0] * inv, rij[1] * inv, rij[2] * inv};
  const double rc_r = pair_cutoff(p.cutoff_radial, a, b);
  if (r < rc_r) {
    chebyshev_basis(p.basis_radial, r, rc_r, fk, fpk);
    radial_functions(p.n_max_radial, p.basis_radial, T, a, b, p.c_radial, fk, fpk, g, gp);
    double s = 0.0;
    for (int n = 0; n <= p.n_max_radial; ++n) s += Fp[n] * gp[n];
    for (int c = 0; c < 3; ++c) f[c] += s * u[c];
  }
  const double rc_a = pair_cutoff(p.cutoff_angular, a, b);
  if (r < rc_a) {
    chebyshev_basis(p.basis_angular, r, rc_a, fk, fpk);
    radial_functions(p.n_max_angular, p.basis_angular, T, a, b, p.c_angular, fk, fpk, g, gp);
    double Y[kMaxLm], dY[3 * kMaxLm];
    real_harmonics_with_gradient(p.l_max, u[0], u[1], u[2], Y, dY);
    // d/dr_ij [g(r) Y(u)] = g'(r) Y u + g(r) (I - u u^T) grad_u Y / r
    double radial = 0.0;       // sum_nk dUdS g' Y
    double grad[3] = {0, 0, 0};  // sum_nk dUdS g grad_u Y
    for (int n = 0; n <= p.n_max_angular; ++n) {
      const double* G = dUdS + n * p.num_lm;
      double sy = 0.0, sx = 0.0, syy = 0.0, sz = 0.0;
      for (int k = 0; k < p.num_lm; ++k) {
        sy += G[k] * Y[k];
        sx += G[k] * dY[3 * k];
        syy += G[k] * dY[3 * k + 1];
        sz += G[k] * dY[3 * k + 2];
      }
      radial += gp[n] * sy;
      grad[0] += g[n] * sx;
      grad[1] += g[n] * syy;
      grad[2] += g[n] * sz;
    }
    const double ug = u[0] * grad[0] + u[1] * grad[1] + u[2] * grad[2];
    for (int c = 0; c < 3; ++c) f[c] += radial * u[c] + (grad[c] - ug * u[c]) * inv;
  }
}

}  // namespace nepcg::kernels
