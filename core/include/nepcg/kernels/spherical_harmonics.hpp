// Real solid-harmonic polynomials of a unit vector u = (x, y, z), the building blocks of NEP's
// angular descriptors, for l = 1 ... L (L <= 8).
//
// With Q_lm(z) = d^m P_l(z) / dz^m (P_l = Legendre polynomial) and (x + i y)^m = R_m + i I_m:
//   Y[l^2 - 1]          = Q_l0(z)
//   Y[l^2 - 1 + 2m - 1] = Q_lm(z) R_m(x, y)      m = 1 ... l
//   Y[l^2 - 1 + 2m]     = Q_lm(z) I_m(x, y)
// (GPUMD's order: l-blocks, within l: m = 0, then cos/sin pairs). The complex orthonormal
// harmonics with the Condon-Shortley phase are Y_l^m = N_lm (-1)^m (Y_c + i Y_s), m >= 0,
// N_lm^2 = (2l+1)/(4 pi) (l-m)!/(l+m)!; see nep_descriptor.hpp.
#pragma once

#include "nepcg/kernels/basis_limits.hpp"

namespace nepcg::kernels {

/// Number of real harmonics for l = 1 ... L.
NEPCG_HD constexpr int num_harmonics(int L) { return (L + 1) * (L + 1) - 1; }

// Lcap (template argument, default kMaxL) sizes the local arrays: a backend that knows L <= Lcap
// for its models passes a smaller one (less per-thread memory on a GPU); results are identical.
// Real (deduced) is double for the reference and float for the GPU's single-precision path.

/// Q[l][m] = d^m P_l / dz^m for 0 <= m <= l <= L, and Q[l][l+1] = 0.
template <int Lcap = kMaxL, class Real>
NEPCG_HD void legendre_derivatives(int L, Real z, Real Q[Lcap + 1][Lcap + 2]) {
  Real dfact = Real(1);  // (2m - 1)!!
  for (int m = 0; m <= L; ++m) {
    if (m > 0) dfact *= Real(2 * m - 1);
    Q[m][m] = dfact;
    if (m + 1 <= L) Q[m + 1][m] = (2 * m + 1) * z * dfact;
    for (int l = m + 2; l <= L; ++l) Q[l][m] = ((2 * l - 1) * z * Q[l - 1][m] - (l + m - 1) * Q[l - 2][m]) / (l - m);
  }
  for (int l = 0; l <= L; ++l) Q[l][l + 1] = Real(0);
}

/// Y (num_harmonics(L) values) of the unit vector (x, y, z).
template <int Lcap = kMaxL, class Real>
NEPCG_HD void real_harmonics(int L, Real x, Real y, Real z, Real* Y) {
  Real Q[Lcap + 1][Lcap + 2];
  legendre_derivatives<Lcap>(L, z, Q);
  Real re = Real(1), im = Real(0);  // (x + iy)^m
  Real R[Lcap + 1], I[Lcap + 1];
  R[0] = Real(1), I[0] = Real(0);
  for (int m = 1; m <= L; ++m) {
    const Real r2 = re * x - im * y;
    im = re * y + im * x;
    re = r2;
    R[m] = re, I[m] = im;
  }
  for (int l = 1; l <= L; ++l) {
    const int base = l * l - 1;
    Y[base] = Q[l][0];
    for (int m = 1; m <= l; ++m) {
      Y[base + 2 * m - 1] = Q[l][m] * R[m];
      Y[base + 2 * m] = Q[l][m] * I[m];
    }
  }
}

/// Calls visit(k, Y_k, dY_k/dx, dY_k/dy, dY_k/dz) for k = 0 ... num_harmonics(L) - 1, with (x, y, z)
/// treated as independent variables. The one place where harmonics and gradients are computed:
/// real_harmonics_with_gradient stores them; a GPU thread contracts them on the fly (with
/// Lcap = L known at compile time everything stays in registers).
template <int Lcap, class Real, class Visit>
NEPCG_HD void visit_real_harmonics_with_gradient(int L, Real x, Real y, Real z, Visit&& visit) {
  Real Q[Lcap + 1][Lcap + 2];
  legendre_derivatives<Lcap>(L, z, Q);
  Real R[Lcap + 1], I[Lcap + 1];
  R[0] = Real(1), I[0] = Real(0);
  for (int m = 1; m <= L; ++m) {
    R[m] = R[m - 1] * x - I[m - 1] * y;
    I[m] = R[m - 1] * y + I[m - 1] * x;
  }
  for (int l = 1; l <= L; ++l) {
    const int base = l * l - 1;
    visit(base, Q[l][0], Real(0), Real(0), Q[l][1]);  // dQ_lm/dz = Q_l,m+1
    for (int m = 1; m <= l; ++m) {
      // d(x+iy)^m/dx = m (x+iy)^(m-1); d/dy = i m (x+iy)^(m-1)
      visit(base + 2 * m - 1, Q[l][m] * R[m], Q[l][m] * m * R[m - 1], -Q[l][m] * m * I[m - 1], Q[l][m + 1] * R[m]);
      visit(base + 2 * m, Q[l][m] * I[m], Q[l][m] * m * I[m - 1], Q[l][m] * m * R[m - 1], Q[l][m + 1] * I[m]);
    }
  }
}

/// Y as above and its gradient with respect to (x, y, z) treated as independent variables:
/// dx[k] = dY_k/dx, dy[k] = dY_k/dy, dz[k] = dY_k/dz.
template <int Lcap = kMaxL, class Real>
NEPCG_HD void real_harmonics_with_gradient(int L, Real x, Real y, Real z, Real* Y, Real* dx, Real* dy, Real* dz) {
  visit_real_harmonics_with_gradient<Lcap>(L, x, y, z, [&](int k, Real v, Real vx, Real vy, Real vz) {
    Y[k] = v;
    dx[k] = vx;
    dy[k] = vy;
    dz[k] = vz;
  });
}

}  // namespace nepcg::kernels
