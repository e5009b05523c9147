// Ziegler-Biersack-Littmark screened nuclear repulsion as used by NEP models:
//   phi(r) = K_C Z_i Z_j / r * sum_k alpha_k exp(-beta_k r / a) * f_switch(r),
//   a = 1 / (2.134563 (Z_i^0.23 + Z_j^0.23)) Å, K_C = 14.399645 eV Å,
// switched off by a cosine between r1 and r2 (universal: header r_in, r_out; type-wise:
// r1 = 0, r2 = min(f (Rcov_i + Rcov_j), r_out); flexible: per type pair parameters).
#pragma once

#include <cmath>

#include "nepcg/kernels/nep_view.hpp"

namespace nepcg::kernels {

constexpr double kCoulombZbl = 14.399645;

/// phi(r) (eV) and dphi/dr (eV/Å) for a centre of type a and a neighbour of type b.
template <class R>
NEPCG_HD void zbl_pair(const NepViewT<R>& p, int a, int b, R r, R& phi, R& dphi) {
  phi = R(0);
  dphi = R(0);
  const int zi = p.atomic_numbers[a], zj = p.atomic_numbers[b];
  if (p.zbl == 0 || zi == 0 || zj == 0) return;
  R r1, r2;
  R coef[8] = {R(0.18175), R(3.1998), R(0.50986), R(0.94229), R(0.28022), R(0.4029), R(0.02817), R(0.20162)};
  if (p.zbl == 3) {
    const int t1 = a < b ? a : b, t2 = a < b ? b : a;
    const int pair = t1 * p.num_types - t1 * (t1 - 1) / 2 + (t2 - t1);
    const R* z = p.zbl_flexible + 10 * pair;
    r1 = z[0];
    r2 = z[1];
    for (int k = 0; k < 8; ++k) coef[k] = z[2 + k];
  } else if (p.zbl == 2) {
    r1 = R(0);
    r2 = p.zbl_factor * (p.zbl_radii[a] + p.zbl_radii[b]);
    if (r2 > p.zbl_outer) r2 = p.zbl_outer;
  } else {
    r1 = p.zbl_inner;
    r2 = p.zbl_outer;
  }
  if (r >= r2) return;
  const R a_inv = R(2.134563 * (std::pow(double(zi), 0.23) + std::pow(double(zj), 0.23)));
  const R x = r * a_inv;
  R s = R(0), sp = R(0);  // screening sum and d/dx
  for (int k = 0; k < 4; ++k) {
    const R e = coef[2 * k] * std::exp(-coef[2 * k + 1] * x);
    s += e;
    sp -= coef[2 * k + 1] * e;
  }
  const R zz = R(kCoulombZbl * zi * zj);
  const R f = zz * s / r;
  const R fp = zz * sp * a_inv / r - f / r;
  R fc = R(1), fcp = R(0);
  if (r >= r1) {
    const R k = R(3.14159265358979323846) / (r2 - r1);
    fc = R(0.5) * std::cos(k * (r - r1)) + R(0.5);
    fcp = R(-0.5) * k * std::sin(k * (r - r1));
  }
  phi = f * fc;
  dphi = fp * fc + f * fcp;
}

/// Adds the ZBL part of a partial force, d(phi/2)/dr_ij (the pair energy is split between the two
/// site energies), to f; r = r_ij, d = |r_ij|.
template <class R>
NEPCG_HD void add_zbl_partial_force(const NepViewT<R>& p, int a, int b, const R* r, R d, R* f) {
  R phi, dphi;
  zbl_pair(p, a, b, d, phi, dphi);
  for (int c = 0; c < 3; ++c) f[c] += R(0.5) * dphi * r[c] / d;
}

}  // namespace nepcg::kernels
