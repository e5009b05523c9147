// NEP radial basis: cosine cutoff and Chebyshev functions f_k(r) = (T_k(x) + 1)/2 * f_c(r),
// x = 2 (r/r_c - 1)^2 - 1, and their derivatives with respect to r (units: r in Å, df/dr in 1/Å).
// Templates on the real type R (double: the reference; float: the GPU's single-precision path);
// every constant is written as R(...) so that a float instance never promotes to double.
#pragma once

#include <cmath>

#include "nepcg/kernels/basis_limits.hpp"

namespace nepcg::kernels {

constexpr double kPi = 3.14159265358979323846;

/// f_c(r) = (1 + cos(pi r / r_c)) / 2 for r < r_c, else 0; fcp = df_c/dr.
template <class R>
NEPCG_HD void cutoff_function(R r, R rc, R& fc, R& fcp) {
  if (r < rc) {
    const R a = R(kPi) / rc;
    fc = R(0.5) * std::cos(a * r) + R(0.5);
    fcp = R(-0.5) * a * std::sin(a * r);
  } else {
    fc = R(0);
    fcp = R(0);
  }
}

/// f[k], fp[k] = f_k(r), df_k/dr for k = 0 ... K (r < rc assumed).
template <class R>
NEPCG_HD void chebyshev_basis(int K, R r, R rc, R* f, R* fp) {
  R fc, fcp;
  cutoff_function(r, rc, fc, fcp);
  const R t = r / rc - R(1);
  const R x = R(2) * t * t - R(1);
  const R dxdr = R(4) * t / rc;
  R tkm2 = R(1), tkm1 = x;  // T_{k-2}, T_{k-1}
  R dkm2 = R(0), dkm1 = R(1);  // dT/dx
  f[0] = fc;
  fp[0] = fcp;
  if (K >= 1) {
    f[1] = R(0.5) * (x + R(1)) * fc;
    fp[1] = R(0.5) * dxdr * fc + R(0.5) * (x + R(1)) * fcp;
  }
  for (int k = 2; k <= K; ++k) {
    const R tk = R(2) * x * tkm1 - tkm2;
    const R dk = R(2) * tkm1 + R(2) * x * dkm1 - dkm2;
    f[k] = R(0.5) * (tk + R(1)) * fc;
    fp[k] = R(0.5) * dk * dxdr * fc + R(0.5) * (tk + R(1)) * fcp;
    tkm2 = tkm1, tkm1 = tk;
    dkm2 = dkm1, dkm1 = dk;
  }
}

/// g_n(r) = sum_k c[((n (K+1) + k) T + a) T + b] f_k(r) for n = 0 ... n_max, and dg_n/dr.
/// `c` points to the coefficient block, a = centre type, b = neighbour type.
template <class R>
NEPCG_HD void radial_functions(int n_max, int K, int T, int a, int b, const R* c, const R* f, const R* fp, R* g,
                               R* gp) {
  for (int n = 0; n <= n_max; ++n) {
    R s = R(0), sp = R(0);
    for (int k = 0; k <= K; ++k) {
      const R coef = c[((n * (K + 1) + k) * T + a) * T + b];
      s += coef * f[k];
      sp += coef * fp[k];
    }
    g[n] = s;
    gp[n] = sp;
  }
}

/// What the Chebyshev recurrence needs at one distance: f_c, df_c/dr, x and dx/dr.
template <class R>
struct ChebyshevPoint {
  R fc, fcp, x, dxdr;
};

template <class R>
NEPCG_HD ChebyshevPoint<R> chebyshev_point(R r, R rc) {
  ChebyshevPoint<R> p;
  cutoff_function(r, rc, p.fc, p.fcp);
  const R t = r / rc - R(1);
  p.x = R(2) * t * t - R(1);
  p.dxdr = R(4) * t / rc;
  return p;
}

/// f[k] = f_k(r) for k = 0 ... K at one distance (values only): the same terms as
/// chebyshev_basis's f. Summed over the neighbours of each type they give the basis sums of
/// radial_descriptor_from_sums (the GPU warp kernel's descriptor pass and its CPU twin).
template <class R>
NEPCG_HD void chebyshev_values(int K, const ChebyshevPoint<R>& pt, R* f) {
  const R fc = pt.fc, x = pt.x;
  f[0] = fc;
  if (K >= 1) f[1] = R(0.5) * (x + R(1)) * fc;
  R tkm2 = R(1), tkm1 = x;
  for (int k = 2; k <= K; ++k) {
    const R tk = R(2) * x * tkm1 - tkm2;
    f[k] = R(0.5) * (tk + R(1)) * fc;
    tkm2 = tkm1, tkm1 = tk;
  }
}

/// g_n(r) and dg_n/dr for one n, running the Chebyshev recurrence inline (no arrays): the same
/// terms, summed in the same order, as chebyshev_basis + radial_functions. For GPU threads, which
/// then keep everything in registers.
template <class R>
NEPCG_HD void radial_function(int n, int K, int T, int a, int b, const R* c, const ChebyshevPoint<R>& pt, R& g,
                              R& gp) {
  const int stride = T * T;
  const R* cn = c + ((n * (K + 1)) * T + a) * T + b;
  const R fc = pt.fc, fcp = pt.fcp, x = pt.x, dxdr = pt.dxdr;
  R s = cn[0] * fc, sp = cn[0] * fcp;
  if (K >= 1) {
    s += cn[stride] * (R(0.5) * (x + R(1)) * fc);
    sp += cn[stride] * (R(0.5) * dxdr * fc + R(0.5) * (x + R(1)) * fcp);
  }
  R tkm2 = R(1), tkm1 = x, dkm2 = R(0), dkm1 = R(1);
  for (int k = 2; k <= K; ++k) {
    const R tk = R(2) * x * tkm1 - tkm2;
    const R dk = R(2) * tkm1 + R(2) * x * dkm1 - dkm2;
    s += cn[k * stride] * (R(0.5) * (tk + R(1)) * fc);
    sp += cn[k * stride] * (R(0.5) * dk * dxdr * fc + R(0.5) * (tk + R(1)) * fcp);
    tkm2 = tkm1, tkm1 = tk;
    dkm2 = dkm1, dkm1 = dk;
  }
  g = s;
  gp = sp;
}

/// g_n(r) for n = 0 ... n_max (values only) with one Chebyshev recurrence: each basis value f_k is
/// computed once and multiplied into every channel. The same terms, added in the same order, as
/// radial_function's g for each n, for (n_max + 1) times fewer recurrence steps (the descriptor
/// sums of the GPU's warp kernel and its CPU twin). g is written (not added to).
template <class R>
NEPCG_HD void radial_values(int n_max, int K, int T, int a, int b, const R* c, const ChebyshevPoint<R>& pt, R* g) {
  const int stride = T * T, channel = (K + 1) * stride;
  const R* cab = c + a * T + b;
  const R fc = pt.fc, x = pt.x;
  for (int n = 0; n <= n_max; ++n) g[n] = cab[n * channel] * fc;
  if (K >= 1) {
    const R f1 = R(0.5) * (x + R(1)) * fc;
    for (int n = 0; n <= n_max; ++n) g[n] += cab[n * channel + stride] * f1;
  }
  R tkm2 = R(1), tkm1 = x;
  for (int k = 2; k <= K; ++k) {
    const R tk = R(2) * x * tkm1 - tkm2;
    const R fk = R(0.5) * (tk + R(1)) * fc;
    for (int n = 0; n <= n_max; ++n) g[n] += cab[n * channel + k * stride] * fk;
    tkm2 = tkm1, tkm1 = tk;
  }
}

/// W_k = sum_n w[n] c_nk for the pair types (a, b): the weight of basis function k in
/// contracted_radial_derivative. It does not depend on r, so a kernel may compute it once per atom
/// and neighbour type (radial_derivative_from_weights then takes the staged values).
template <class R>
NEPCG_HD R contracted_radial_weight(int n_max, int K, int T, int a, int b, const R* c, const R* w, int k) {
  const int stride = T * T;
  const R* cab = c + a * T + b;
  R s = R(0);
  for (int n = 0; n <= n_max; ++n) s += w[n] * cab[(n * (K + 1) + k) * stride];
  return s;
}

/// q_n = sum_{b,k} c_nk^{ab} F_k^b, the radial descriptor of a centre of type a from its basis sums
/// F[b (K+1) + k] = sum_{j of type b} f_k(r_ij): the factorisation of the CPU MD evaluator and
/// the trainer (a pair then costs its K + 1 basis values). F's type G may differ from R (the
/// trainer's cached sums are doubles or floats while R holds several individuals).
template <class R, class G>
NEPCG_HD R radial_descriptor_from_sums(int n, int K, int T, int a, const R* c, const G* F) {
  R q = R(0);
  for (int b = 0; b < T; ++b)
    for (int k = 0; k <= K; ++k) q += c[((n * (K + 1) + k) * T + a) * T + b] * F[b * (K + 1) + k];
  return q;
}

/// sum_k W_k df_k/dr (k = 0 ... K) at one distance, running the Chebyshev recurrence once;
/// weight(k) gives W_k.
template <class R, class Weight>
NEPCG_HD R radial_derivative_from_weights(int K, const ChebyshevPoint<R>& pt, Weight weight) {
  const R fc = pt.fc, fcp = pt.fcp, x = pt.x, dxdr = pt.dxdr;
  R sp = weight(0) * fcp;
  if (K >= 1) sp += weight(1) * (R(0.5) * dxdr * fc + R(0.5) * (x + R(1)) * fcp);
  R tkm2 = R(1), tkm1 = x, dkm2 = R(0), dkm1 = R(1);
  for (int k = 2; k <= K; ++k) {
    const R tk = R(2) * x * tkm1 - tkm2;
    const R dk = R(2) * tkm1 + R(2) * x * dkm1 - dkm2;
    sp += weight(k) * (R(0.5) * dk * dxdr * fc + R(0.5) * (tk + R(1)) * fcp);
    tkm2 = tkm1, tkm1 = tk;
    dkm2 = dkm1, dkm1 = dk;
  }
  return sp;
}

/// sum_n w[n] dg_n/dr (n = 0 ... n_max) for one pair, running the Chebyshev recurrence once: each
/// basis derivative df_k/dr is multiplied by sum_n w[n] c_nk. The same value as summing
/// radial_function's gp over n (another summation order), for (n_max + 1) times fewer recurrence
/// steps: the radial part of a partial force, where w = dU/dq_n.
template <class R>
NEPCG_HD R contracted_radial_derivative(int n_max, int K, int T, int a, int b, const R* c, const ChebyshevPoint<R>& pt,
                                        const R* w) {
  return radial_derivative_from_weights(
      K, pt, [&](int k) { return contracted_radial_weight(n_max, K, T, a, b, c, w, k); });
}

}  // namespace nepcg::kernels
