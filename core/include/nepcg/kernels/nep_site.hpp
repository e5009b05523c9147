// Per-atom NEP steps shared by every backend and by the trainer:
//   1. pair_terms: radial functions, harmonics and their derivatives of one neighbour;
//      accumulate_pair_terms adds them to the radial descriptor q_n and the angular sums S;
//   2. site_energy: finish the descriptor, run the network, return U_i and the gradients
//      Fp_n = dU_i/dq_n (radial) and dU_i/dS (angular);
//   3. partial_force_from_terms: f_ij = dU_i/dr_ij for one neighbour from those gradients.
// A backend either caches the pair terms between steps 1 and 3 (CPU) or recomputes them.
// Forces then follow as F_i = sum_j (f_ij - f_ji) and per-atom virials W_i = sum_j r_ij (x) f_ji.
#pragma once

#include <cmath>

#include "nepcg/kernels/nep_basis.hpp"
#include "nepcg/kernels/nep_descriptor.hpp"
#include "nepcg/kernels/nep_network.hpp"

namespace nepcg::kernels {

/// Number of doubles of the per-atom angular gradient dU/dS.
template <class R>
NEPCG_HD int angular_gradient_size(const NepViewT<R>& p) { return (p.n_max_angular + 1) * p.num_lm; }

/// Per-pair terms: g_n, dg_n/dr (radial and angular), Y_k and dY_k/du (x, y, z rows), stored in a
/// flat buffer of pair_terms_size(p) doubles so that a pass over neighbours can cache them.
struct PairTermsLayout {
  int gR, gpR, gA, gpA, Y, dYx, dYy, dYz, size;
};
template <class R>
NEPCG_HD PairTermsLayout pair_terms_layout(const NepViewT<R>& p) {
  PairTermsLayout L;
  const int nR = p.n_max_radial + 1, nA = p.n_max_angular + 1, m = p.num_lm;
  L.gR = 0, L.gpR = nR, L.gA = 2 * nR, L.gpA = 2 * nR + nA, L.Y = 2 * nR + 2 * nA;
  L.dYx = L.Y + m, L.dYy = L.Y + 2 * m, L.dYz = L.Y + 3 * m, L.size = L.Y + 4 * m;
  return L;
}
template <class R>
NEPCG_HD int pair_terms_size(const NepViewT<R>& p) { return pair_terms_layout(p).size; }
/// Upper bound of pair_terms_size over all models (size of a local buffer for one neighbour).
constexpr int kMaxPairTerms = 4 * kMaxN + 4 * kMaxLm;

/// Fills `t` for neighbour j (type b, vector rij, length r) of a centre of type a. Returns a bit
/// mask: 1 = within the radial cutoff, 2 = within the angular cutoff (other entries unset).
template <class R>
NEPCG_HD int pair_terms(const NepViewT<R>& p, int a, int b, const R* rij, R r, R* t) {
  const PairTermsLayout L = pair_terms_layout(p);
  R f[kMaxK], fp[kMaxK];
  const int T = p.num_types;
  int mask = 0;
  const R rc_r = pair_cutoff(p.cutoff_radial, a, b);
  if (r < rc_r) {
    chebyshev_basis(p.basis_radial, r, rc_r, f, fp);
    radial_functions(p.n_max_radial, p.basis_radial, T, a, b, p.c_radial, f, fp, t + L.gR, t + L.gpR);
    mask |= 1;
  }
  const R rc_a = pair_cutoff(p.cutoff_angular, a, b);
  if (r < rc_a) {
    chebyshev_basis(p.basis_angular, r, rc_a, f, fp);
    radial_functions(p.n_max_angular, p.basis_angular, T, a, b, p.c_angular, f, fp, t + L.gA, t + L.gpA);
    const R inv = R(1) / r;
    real_harmonics_with_gradient(p.l_max, rij[0] * inv, rij[1] * inv, rij[2] * inv, t + L.Y, t + L.dYx, t + L.dYy,
                                 t + L.dYz);
    mask |= 2;
  }
  return mask;
}

/// Adds one neighbour's cached terms to the radial descriptor q_radial and the angular sums S.
template <class R>
NEPCG_HD void accumulate_pair_terms(const NepViewT<R>& p, int mask, const R* t, R* q_radial, R* S) {
  const PairTermsLayout L = pair_terms_layout(p);
  if (mask & 1)
    for (int n = 0; n <= p.n_max_radial; ++n) q_radial[n] += t[L.gR + n];
  if (mask & 2) {
    const R* Y = t + L.Y;
    for (int n = 0; n <= p.n_max_angular; ++n) {
      const R g = t[L.gA + n];
      R* s = S + n * p.num_lm;
      for (int k = 0; k < p.num_lm; ++k) s[k] += g * Y[k];
    }
  }
}

/// Angular part of dU_i/dr_ij for one neighbour: adds sum_{n,k} dUdS[n][k] g'_n Y_k to `radial`
/// and sum_{n,k} dUdS[n][k] g_n grad_u Y_k to grad[0..2] (g, g' the angular radial functions).
/// G is the geometry's real type: R everywhere except the CPU trainer, whose parameter-dependent
/// values are Lanes of several individuals while the harmonics Y stay doubles.
template <class R, class G>
NEPCG_HD void angular_force_terms(const NepViewT<R>& p, const R* gA, const R* gpA, const G* Y,
                                  const G* dYx, const G* dYy, const G* dYz, const R* dUdS,
                                  R& radial, R* grad) {
  // G_k = sum_n dUdS[n][k] g_n, H_k = sum_n dUdS[n][k] g'_n, then contract with Y and grad Y.
  R Gk[kMaxLm], Hk[kMaxLm];
  for (int k = 0; k < p.num_lm; ++k) Gk[k] = Hk[k] = R(0);
  for (int n = 0; n <= p.n_max_angular; ++n) {
    const R g = gA[n], gp = gpA[n];
    const R* d = dUdS + n * p.num_lm;
    for (int k = 0; k < p.num_lm; ++k) {
      Gk[k] += d[k] * g;
      Hk[k] += d[k] * gp;
    }
  }
  for (int k = 0; k < p.num_lm; ++k) {
    radial += Hk[k] * Y[k];
    grad[0] += Gk[k] * dYx[k];
    grad[1] += Gk[k] * dYy[k];
    grad[2] += Gk[k] * dYz[k];
  }
}

/// Adds radial * u + (I - u u^T) grad / r to f: the partial force from its radial and angular
/// (unit-vector gradient) parts. G: the geometry's real type, as in angular_force_terms.
template <class R, class G>
NEPCG_HD void add_partial_force(const G* rij, G r, R radial, const R* grad, R* f) {
  const G inv = G(1) / r;
  const G u[3] = {rij[0] * inv, rij[1] * inv, rij[2] * inv};
  const R ug = u[0] * grad[0] + u[1] * grad[1] + u[2] * grad[2];
  for (int c = 0; c < 3; ++c) f[c] += radial * u[c] + (grad[c] - ug * u[c]) * inv;
}

/// f_ij = dU_i/dr_ij (eV/Å) from cached terms and the centre's gradients Fp (radial) and dUdS
/// (angular); adds to f[0..2]. d/dr_ij [g(r) Y(u)] = g'(r) Y u + g(r) (I - u u^T) grad_u Y / r.
template <class R>
NEPCG_HD void partial_force_from_terms(const NepViewT<R>& p, int mask, const R* t, const R* rij, R r,
                                       const R* Fp, const R* dUdS, R* f) {
  const PairTermsLayout L = pair_terms_layout(p);
  R radial = R(0);
  if (mask & 1)
    for (int n = 0; n <= p.n_max_radial; ++n) radial += Fp[n] * t[L.gpR + n];
  R grad[3] = {R(0), R(0), R(0)};
  if (mask & 2)
    angular_force_terms(p, t + L.gA, t + L.gpA, t + L.Y, t + L.dYx, t + L.dYy, t + L.dYz, dUdS, radial, grad);
  add_partial_force(rij, r, radial, grad, f);
}

/// Finishes the descriptor of a centre of type a (q: D values whose radial part was accumulated;
/// S: angular sums), evaluates the network and returns U (eV, without ZBL). Writes the unscaled
/// descriptor into q, Fp[n] = dU/dq_n for the radial part and dUdS (angular_gradient_size).
template <class R>
NEPCG_HD R site_energy(const NepViewT<R>& p, int a, R* q, const R* S, R* Fp, R* dUdS) {
  angular_descriptor(p, S, q);
  R qs[kMaxDim], dU[kMaxDim];
  for (int d = 0; d < p.dim; ++d) qs[d] = q[d] * p.q_scaler[d];
  const R U = network_energy(p, a, qs, dU);
  for (int d = 0; d < p.dim; ++d) dU[d] *= p.q_scaler[d];  // gradient w.r.t. the unscaled q
  for (int n = 0; n < p.dim_radial; ++n) Fp[n] = dU[n];
  angular_gradient(p, S, dU, dUdS);
  return U;
}

// ---- The same maths without the cached pair terms (for GPU threads, which keep registers) ----

/// The radial part of pair_values: fR[k] = f_k(r), k = 0 ... basis_radial (zeros beyond the
/// radial cutoff of types a, b). Returns whether the pair lies inside that cutoff.
template <class R>
NEPCG_HD bool pair_radial_values(const NepViewT<R>& p, int a, int b, R r, R* fR) {
  const R rc_r = pair_cutoff(p.cutoff_radial, a, b);
  if (r < rc_r) {
    chebyshev_values(p.basis_radial, chebyshev_point(r, rc_r), fR);
    return true;
  }
  for (int k = 0; k <= p.basis_radial; ++k) fR[k] = R(0);
  return false;
}

/// Whether the pair lies inside the angular cutoff of types a, b (the test pair_angular_values makes).
template <class R>
NEPCG_HD bool inside_angular_cutoff(const NepViewT<R>& p, int a, int b, R r) {
  return r < pair_cutoff(p.cutoff_angular, a, b);
}

/// The angular part of pair_values: gA[n] and Y[k] of a pair inside the angular cutoff
/// (inside_angular_cutoff must hold). L must equal p.l_max.
template <int L, class R>
NEPCG_HD void pair_angular_values(const NepViewT<R>& p, int a, int b, const R* rij, R r, R* gA, R* Y) {
  const R rc_a = pair_cutoff(p.cutoff_angular, a, b);
  radial_values(p.n_max_angular, p.basis_angular, p.num_types, a, b, p.c_angular, chebyshev_point(r, rc_a), gA);
  const R inv = R(1) / r;
  real_harmonics<L>(L, rij[0] * inv, rij[1] * inv, rij[2] * inv, Y);
}

/// Values of one pair without gradients: the radial basis values fR[k] = f_k(r), k = 0 ...
/// basis_radial (zero beyond the radial cutoff), whose sums over the neighbours of each type give
/// the radial descriptor (radial_descriptor_from_sums), and gA[n] and Y[k] (zero beyond the angular
/// cutoff), whose products summed give the angular sums S. Returns a mask as pair_terms does. L
/// must equal p.l_max.
template <int L, class R>
NEPCG_HD int pair_values(const NepViewT<R>& p, int a, int b, const R* rij, R r, R* fR, R* gA, R* Y) {
  int mask = pair_radial_values(p, a, b, r, fR) ? 1 : 0;
  if (inside_angular_cutoff(p, a, b, r)) {
    pair_angular_values<L>(p, a, b, rij, r, gA, Y);
    mask |= 2;
  } else {
    for (int n = 0; n <= p.n_max_angular; ++n) gA[n] = R(0);
    for (int k = 0; k < p.num_lm; ++k) Y[k] = R(0);
  }
  return mask;
}

/// f_ij = dU_i/dr_ij (eV/Å), added to f, computed directly from the pair (no cached terms): the
/// same terms as pair_terms + partial_force_from_terms (the radial part summed over the basis
/// instead of over n: one Chebyshev recurrence per pair). L must equal p.l_max. The radial basis
/// weights W_k = sum_n Fp[n] c_nk(a, b) come from radial_weight(k) (contracted_radial_weight, or
/// values a kernel staged per atom and neighbour type).
template <int L, class R, class RadialWeight>
NEPCG_HD void partial_force_direct_weighted(const NepViewT<R>& p, int a, int b, const R* rij, R r,
                                            RadialWeight radial_weight, const R* dUdS, R* f) {
  constexpr int LM = (L + 1) * (L + 1) - 1;
  const int T = p.num_types;
  R radial = R(0);
  R grad[3] = {R(0), R(0), R(0)};
  const R rc_r = pair_cutoff(p.cutoff_radial, a, b);
  if (r < rc_r) radial = radial_derivative_from_weights(p.basis_radial, chebyshev_point(r, rc_r), radial_weight);
  const R rc_a = pair_cutoff(p.cutoff_angular, a, b);
  if (r < rc_a) {
    const ChebyshevPoint<R> pt = chebyshev_point(r, rc_a);
    R G[LM], H[LM];
    for (int k = 0; k < LM; ++k) G[k] = H[k] = R(0);
    for (int n = 0; n <= p.n_max_angular; ++n) {
      R g, gp;
      radial_function(n, p.basis_angular, T, a, b, p.c_angular, pt, g, gp);
      const R* d = dUdS + n * LM;
      for (int k = 0; k < LM; ++k) {
        G[k] += d[k] * g;
        H[k] += d[k] * gp;
      }
    }
    const R inv = R(1) / r;
    visit_real_harmonics_with_gradient<L>(L, rij[0] * inv, rij[1] * inv, rij[2] * inv,
                                          [&](int k, R Y, R dx, R dy, R dz) {
                                            radial += H[k] * Y;
                                            grad[0] += G[k] * dx;
                                            grad[1] += G[k] * dy;
                                            grad[2] += G[k] * dz;
                                          });
  }
  add_partial_force(rij, r, radial, grad, f);
}

/// partial_force_direct_weighted with the weights computed per pair from Fp = dU/dq (radial part).
template <int L, class R>
NEPCG_HD void partial_force_direct(const NepViewT<R>& p, int a, int b, const R* rij, R r, const R* Fp,
                                   const R* dUdS, R* f) {
  const int T = p.num_types;
  partial_force_direct_weighted<L>(
      p, a, b, rij, r,
      [&](int k) { return contracted_radial_weight(p.n_max_radial, p.basis_radial, T, a, b, p.c_radial, Fp, k); },
      dUdS, f);
}

}  // namespace nepcg::kernels
