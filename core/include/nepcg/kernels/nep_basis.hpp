// NEP radial basis: cosine cutoff and Chebyshev functions f_k(r) = (T_k(x) + 1)/2 * f_c(r),
// x = 2 (r/r_c - 1)^2 - 1, and their derivatives with respect to r (units: r in Å, df/dr in 1/Å).
#pragma once

#include <cmath>

#include "nepcg/kernels/basis_limits.hpp"

namespace nepcg::kernels {

constexpr double kPi = 3.14159265358979323846;

/// f_c(r) = (1 + cos(pi r / r_c)) / 2 for r < r_c, else 0; fcp = df_c/dr.
NEPCG_HD void cutoff_function(double r, double rc, double& fc, double& fcp) {
  if (r < rc) {
    const double a = kPi / rc;
    fc = 0.5 * std::cos(a * r) + 0.5;
    fcp = -0.5 * a * std::sin(a * r);
  } else {
    fc = 0.0;
    fcp = 0.0;
  }
}

/// f[k], fp[k] = f_k(r), df_k/dr for k = 0 ... K (r < rc assumed).
NEPCG_HD void chebyshev_basis(int K, double r, double rc, double* f, double* fp) {
  double fc, fcp;
  cutoff_function(r, rc, fc, fcp);
  const double t = r / rc - 1.0;
  const double x = 2.0 * t * t - 1.0;
  const double dxdr = 4.0 * t / rc;
  double tkm2 = 1.0, tkm1 = x;  // T_{k-2}, T_{k-1}
  double dkm2 = 0.0, dkm1 = 1.0;  // dT/dx
  f[0] = fc;
  fp[0] = fcp;
  if (K >= 1) {
    f[1] = 0.5 * (x + 1.0) * fc;
    fp[1] = 0.5 * dxdr * fc + 0.5 * (x + 1.0) * fcp;
  }
  for (int k = 2; k <= K; ++k) {
    const double tk = 2.0 * x * tkm1 - tkm2;
    const double dk = 2.0 * tkm1 + 2.0 * x * dkm1 - dkm2;
    f[k] = 0.5 * (tk + 1.0) * fc;
    fp[k] = 0.5 * dk * dxdr * fc + 0.5 * (tk + 1.0) * fcp;
    tkm2 = tkm1, tkm1 = tk;
    dkm2 = dkm1, dkm1 = dk;
  }
}

/// g_n(r) = sum_k c[((n (K+1) + k) T + a) T + b] f_k(r) for n = 0 ... n_max, and dg_n/dr.
/// `c` points to the coefficient block, a = centre type, b = neighbour type.
NEPCG_HD void radial_functions(int n_max, int K, int T, int a, int b, const double* c, const double* f,
                               const double* fp, double* g, double* gp) {
  for (int n = 0; n <= n_max; ++n) {
    double s = 0.0, sp = 0.0;
    for (int k = 0; k <= K; ++k) {
      const double coef = c[((n * (K + 1) + k) * T + a) * T + b];
      s += coef * f[k];
      sp += coef * fp[k];
    }
    g[n] = s;
    gp[n] = sp;
  }
}

/// What the Chebyshev recurrence needs at one distance: f_c, df_c/dr, x and dx/dr.
struct ChebyshevPoint {
  double fc, fcp, x, dxdr;
};

NEPCG_HD ChebyshevPoint chebyshev_point(double r, double rc) {
  ChebyshevPoint p;
  cutoff_function(r, rc, p.fc, p.fcp);
  const double t = r / rc - 1.0;
  p.x = 2.0 * t * t - 1.0;
  p.dxdr = 4.0 * t / rc;
  return p;
}

/// g_n(r) and dg_n/dr for one n, running the Chebyshev recurrence inline (no arrays): the same
/// terms, summed in the same order, as chebyshev_basis + radial_functions. For GPU threads, which
/// then keep everything in registers.
NEPCG_HD void radial_function(int n, int K, int T, int a, int b, const double* c, const ChebyshevPoint& pt, double& g,
                              double& gp) {
  const int stride = T * T;
  const double* cn = c + ((n * (K + 1)) * T + a) * T + b;
  const double fc = pt.fc, fcp = pt.fcp, x = pt.x, dxdr = pt.dxdr;
  double s = cn[0] * fc, sp = cn[0] * fcp;
  if (K >= 1) {
    s += cn[stride] * (0.5 * (x + 1.0) * fc);
    sp += cn[stride] * (0.5 * dxdr * fc + 0.5 * (x + 1.0) * fcp);
  }
  double tkm2 = 1.0, tkm1 = x, dkm2 = 0.0, dkm1 = 1.0;
  for (int k = 2; k <= K; ++k) {
    const double tk = 2.0 * x * tkm1 - tkm2;
    const double dk = 2.0 * tkm1 + 2.0 * x * dkm1 - dkm2;
    s += cn[k * stride] * (0.5 * (tk + 1.0) * fc);
    sp += cn[k * stride] * (0.5 * dk * dxdr * fc + 0.5 * (tk + 1.0) * fcp);
    tkm2 = tkm1, tkm1 = tk;
    dkm2 = dkm1, dkm1 = dk;
  }
  g = s;
  gp = sp;
}

}  // namespace nepcg::kernels
