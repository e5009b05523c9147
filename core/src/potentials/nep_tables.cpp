// Tables derived from a NEP model: angular normalisations, Wigner-3j products for the 4-body
// terms, and per-type atomic numbers and covalent radii for ZBL.
#include <cmath>

#include "nepcg/elements.hpp"
#include "nepcg/error.hpp"
#include "nepcg/kernels/nep_basis.hpp"
#include "nepcg/kernels/spherical_harmonics.hpp"
#include "nepcg/nep.hpp"

namespace nepcg {
namespace {

double factorial(int n) {
  double f = 1.0;
  for (int k = 2; k <= n; ++k) f *= k;
  return f;
}

// Covalent radii (Å) that GPUMD uses for the type-wise ZBL cutoff, Z = 1 ... 94 (data from the
// NEP specification, docs/nep.md; they differ from the Cordero radii of elements.cpp).
const double kZblCovalentRadii[94] = {
    0.426667, 0.613333, 1.6,      1.25333,  1.02667,  1.0,      0.946667, 0.84,     0.853333, 0.893333,
    1.86667,  1.66667,  1.50667,  1.38667,  1.46667,  1.36,     1.32,     1.28,     2.34667,  2.05333,
    1.77333,  1.62667,  1.61333,  1.46667,  1.42667,  1.38667,  1.33333,  1.32,     1.34667,  1.45333,
    1.49333,  1.45333,  1.53333,  1.46667,  1.52,     1.56,     2.52,     2.22667,  1.96,     1.85333,
    1.76,     1.65333,  1.53333,  1.50667,  1.50667,  1.44,     1.53333,  1.64,     1.70667,  1.68,
    1.68,     1.64,     1.76,     1.74667,  2.78667,  2.34667,  2.16,     1.96,     2.10667,  2.09333,
    2.08,     2.06667,  2.01333,  2.02667,  2.01333,  2.0,      1.98667,  1.98667,  1.97333,  2.04,
    1.94667,  1.82667,  1.74667,  1.64,     1.57333,  1.54667,  1.48,     1.49333,  1.50667,  1.76,
    1.73333,  1.73333,  1.81333,  1.74667,  1.84,     1.89333,  2.68,     2.41333,  2.22667,  2.10667,
    2.02667,  2.04,     2.05333,  2.06667};

}  // namespace

double wigner_3j(int j1, int j2, int j3, int m1, int m2, int m3) {
  if (m1 + m2 + m3 != 0) return 0.0;
  if (std::abs(m1) > j1 || std::abs(m2) > j2 || std::abs(m3) > j3) return 0.0;
  if (j3 < std::abs(j1 - j2) || j3 > j1 + j2) return 0.0;
  const double delta = factorial(j1 + j2 - j3) * factorial(j1 - j2 + j3) * factorial(-j1 + j2 + j3) /
                       factorial(j1 + j2 + j3 + 1);
  const double pre = std::sqrt(delta * factorial(j1 + m1) * factorial(j1 - m1) * factorial(j2 + m2) *
                               factorial(j2 - m2) * factorial(j3 + m3) * factorial(j3 - m3));
  double sum = 0.0;
  for (int k = 0; k <= j1 + j2 + j3; ++k) {
    const int d[6] = {k, j3 - j2 + k + m1, j3 - j1 + k - m2, j1 + j2 - j3 - k, j1 - k - m1, j2 - k + m2};
    bool ok = true;
    for (int x : d) ok &= x >= 0;
    if (!ok) continue;
    double den = 1.0;
    for (int x : d) den *= factorial(x);
    sum += ((k % 2) ? -1.0 : 1.0) / den;
  }
  const int phase = j1 - j2 - m3;
  return ((phase % 2 != 0) ? -1.0 : 1.0) * pre * sum;
}

NepTables::NepTables(const NepModel& m) {
  using kernels::kMaxL;
  m.validate();
  weights_.assign((kMaxL + 1) * (kMaxL + 1), 0.0);
  norms_.assign((kMaxL + 1) * (kMaxL + 1), 0.0);
  for (int l = 0; l <= kMaxL; ++l)
    for (int mm = 0; mm <= l; ++mm) {
      const double w = (2 * l + 1) / (4.0 * kernels::kPi) * factorial(l - mm) / factorial(l + mm);
      weights_[l * (kMaxL + 1) + mm] = w;
      norms_[l * (kMaxL + 1) + mm] = std::sqrt(w);
    }
  // Extra terms in descriptor order: 222, 1111, 112, 123, 233, 134.
  static const int kL[kNumNepTerms][3] = {{2, 2, 2}, {0, 0, 0}, {1, 1, 2}, {1, 2, 3}, {2, 3, 3}, {1, 3, 4}};
  int block = 0;
  for (int t = 0; t < kNumNepTerms; ++t) {
    if (!m.has_term(static_cast<NepTerm>(t))) continue;
    if (t == kTerm1111) {
      block_1111_ = block++;
      continue;
    }
    kernels::ManyBodyTerm term{static_cast<int>(three_j_.size()), 0, block++};
    const int l1 = kL[t][0], l2 = kL[t][1], l3 = kL[t][2];
    for (int m1 = -l1; m1 <= l1; ++m1)
      for (int m2 = -l2; m2 <= l2; ++m2) {
        const int m3 = -m1 - m2;
        if (std::abs(m3) > l3) continue;
        const double c = wigner_3j(l1, l2, l3, m1, m2, m3);
        if (std::fabs(c) < 1e-15) continue;
        three_j_.push_back({l1 * l1 + l1 + m1, l2 * l2 + l2 + m2, l3 * l3 + l3 + m3, c});
      }
    term.end = static_cast<int>(three_j_.size());
    terms_.push_back(term);
  }
  for (const auto& e : m.elements) {
    const int z = atomic_number(e);
    atomic_numbers_.push_back(z);
    zbl_radii_.push_back(z > 0 ? kZblCovalentRadii[z - 1] : 0.0);
  }
}

kernels::NepView NepTables::view(const NepModel& m) const {
  kernels::NepView p{};
  p.version = m.version;
  p.num_types = m.num_types();
  p.n_max_radial = m.n_max_radial;
  p.n_max_angular = m.n_max_angular;
  p.basis_radial = m.basis_size_radial;
  p.basis_angular = m.basis_size_angular;
  p.l_max = m.l_max;
  p.dim_radial = m.dim_radial();
  p.dim = m.dim();
  p.num_lm = kernels::num_harmonics(m.l_max);
  p.neurons1 = m.neurons1;
  p.neurons2 = m.neurons2;
  p.ann_block = static_cast<int>(m.ann_block_size());
  p.ann = m.ann.data();
  p.c_radial = m.c_radial.data();
  p.c_angular = m.c_angular.data();
  p.q_scaler = m.q_scaler.data();
  p.cutoff_radial = m.cutoff_radial.data();
  p.cutoff_angular = m.cutoff_angular.data();
  p.weights = weights_.data();
  p.norms = norms_.data();
  p.block_1111 = block_1111_;
  p.num_many_body = static_cast<int>(terms_.size());
  p.many_body = terms_.data();
  p.three_j = three_j_.data();
  p.zbl = m.zbl == ZblKind::None ? 0 : m.zbl == ZblKind::Universal ? 1 : m.zbl == ZblKind::Typewise ? 2 : 3;
  p.zbl_inner = m.zbl_inner;
  p.zbl_outer = m.zbl_outer;
  p.zbl_factor = m.zbl_typewise_factor;
  p.zbl_flexible = m.zbl_flexible.data();
  p.atomic_numbers = atomic_numbers_.data();
  p.zbl_radii = zbl_radii_.data();
  return p;
}

}  // namespace nepcg
