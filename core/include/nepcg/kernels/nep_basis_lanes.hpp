// The NEP radial basis for four pairs at once in one AVX2 register (the CPU MD evaluator's radial
// basis sums): the functions of chebyshev_basis in nep_basis.hpp, with the cutoff's cosine from a
// polynomial instead of libm so that everything stays in vector registers. Units as there (r in
// Å, df/dr in 1/Å). CPU only: GCC/Clang vector extensions (the GPU keeps one pair per thread).
#pragma once

#include "nepcg/kernels/nep_basis.hpp"

namespace nepcg::kernels {

/// Four doubles in one vector register, and the lane masks its comparisons give.
typedef double Double4 __attribute__((vector_size(32)));
typedef long long Mask4 __attribute__((vector_size(32)));

/// cos(pi u) and sin(pi u) for 0 <= u <= 1 without a libm call: Taylor polynomials of sin x and
/// cos x in x = pi (u - 1/2), |x| <= pi/2, up to x^21 and x^20 (the first omitted terms are below
/// 1.3e-18 and 2e-17). V is double or Double4; branch-free. f_c from it is within 1 ulp of
/// numpy's (tests/test_nep.py::test_vector_radial_basis_against_numpy).
template <class V>
inline void cos_sin_pi(const V& u, V& c, V& s) {
  const V x = kPi * (u - 0.5), t = x * x;
  V ps = V{} + 1.9572941063391263e-20, pc = V{} + 4.110317623312165e-19;
  ps = ps * t - 8.22063524662433e-18, pc = pc * t - 1.5619206968586225e-16;
  ps = ps * t + 2.8114572543455206e-15, pc = pc * t + 4.779477332387385e-14;
  ps = ps * t - 7.647163731819816e-13, pc = pc * t - 1.1470745597729725e-11;
  ps = ps * t + 1.6059043836821613e-10, pc = pc * t + 2.08767569878681e-09;
  ps = ps * t - 2.505210838544172e-08, pc = pc * t - 2.755731922398589e-07;
  ps = ps * t + 2.7557319223985893e-06, pc = pc * t + 2.48015873015873e-05;
  ps = ps * t - 0.0001984126984126984, pc = pc * t - 0.001388888888888889;
  ps = ps * t + 0.008333333333333333, pc = pc * t + 0.041666666666666664;
  ps = ps * t - 0.16666666666666666, pc = pc * t - 0.5;
  ps = ps * t + 1.0, pc = pc * t + 1.0;
  c = -x * ps;  // cos(pi u) = cos(x + pi/2) = -sin x
  s = pc;       // sin(pi u) = cos x
}

/// chebyshev_basis for four distances at once (lane l: distance r[l], cutoff rc[l] > 0):
/// f[k][l] = f_k(r[l]), fp[k][l] = df_k/dr for k = 0 ... K. Lanes with r >= rc get zeros.
inline void chebyshev_basis4(int K, const Double4& r, const Double4& rc, Double4* f, Double4* fp) {
  const Mask4 inside = r < rc;
  const Double4 one = Double4{} + 1.0, zero = Double4{};
  const Double4 u = inside ? r / rc : one;
  Double4 c, s;
  cos_sin_pi(u, c, s);
  const Double4 fc = inside ? 0.5 * c + 0.5 : zero;
  const Double4 fcp = inside ? (-0.5 * kPi) / rc * s : zero;
  const Double4 t = u - 1.0;
  const Double4 x = 2.0 * t * t - 1.0, dxdr = 4.0 * t / rc;
  f[0] = fc;
  fp[0] = fcp;
  if (K >= 1) {
    f[1] = 0.5 * (x + 1.0) * fc;
    fp[1] = 0.5 * dxdr * fc + 0.5 * (x + 1.0) * fcp;
  }
  Double4 tkm2 = one, tkm1 = x, dkm2 = zero, dkm1 = one;  // T_{k-2}, T_{k-1} and dT/dx
  for (int k = 2; k <= K; ++k) {
    const Double4 tk = 2.0 * x * tkm1 - tkm2;
    const Double4 dk = 2.0 * tkm1 + 2.0 * x * dkm1 - dkm2;
    f[k] = 0.5 * (tk + 1.0) * fc;
    fp[k] = 0.5 * dk * dxdr * fc + 0.5 * (tk + 1.0) * fcp;
    tkm2 = tkm1, tkm1 = tk;
    dkm2 = dkm1, dkm1 = dk;
  }
}

}  // namespace nepcg::kernels
