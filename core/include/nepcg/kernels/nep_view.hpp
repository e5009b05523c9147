// NepView: a plain-old-data view of a NEP model (raw pointers into arrays owned elsewhere, host or
// device memory), the one argument every NEP kernel takes. The kernels are templates on the real
// type R of the view: NepView (double) is the reference everywhere; NepViewT<float> is the GPU's
// single-precision path (the same functions instantiated in float, see docs/gpu.md).
#pragma once

#include "nepcg/kernels/basis_limits.hpp"

namespace nepcg::kernels {

/// One term of a Wigner-3j triple product: coef * A[k1] A[k2] A[k3], where A[l*l + l + m] holds
/// the complex angular sums for l <= 4, m = -l ... l.
template <class R>
struct ThreeJEntryT {
  int k1, k2, k3;
  R coef;
};
using ThreeJEntry = ThreeJEntryT<double>;

/// A 4-body (l1 l2 l3) descriptor term: entries [begin, end), descriptor block `block`.
struct ManyBodyTerm {
  int begin, end, block;
};

constexpr int kMaxManyBodyL = 4;
constexpr int kNumComplexA = (kMaxManyBodyL + 1) * (kMaxManyBodyL + 1);

template <class R>
struct NepViewT {
  using Real = R;
  int version;      // 3, 4, 5
  int num_types;    // T
  int n_max_radial, n_max_angular, basis_radial, basis_angular, l_max;
  int dim_radial;   // n_max_radial + 1
  int dim;          // descriptor size D
  int num_lm;       // real harmonics per n: (L+1)^2 - 1
  int neurons1, neurons2;
  int ann_block;    // parameters per type block
  const R* ann;
  const R* c_radial;
  const R* c_angular;
  const R* q_scaler;
  const R* cutoff_radial;   // per type, Å
  const R* cutoff_angular;  // per type, Å
  // Angular weights w[l * (kMaxL + 1) + m] = (2l+1)/(4 pi) (l-m)!/(l+m)! (= N_lm^2).
  const R* weights;
  const R* norms;            // N_lm, same layout
  int block_1111;                 // descriptor block of the 5-body term, -1 if off
  int num_many_body;              // enabled 4-body terms
  const ManyBodyTerm* many_body;
  const ThreeJEntryT<R>* three_j;
  // ZBL: 0 none, 1 universal, 2 type-wise, 3 flexible
  int zbl;
  R zbl_inner, zbl_outer, zbl_factor;
  const R* zbl_flexible;     // 10 per unordered type pair
  const int* atomic_numbers;      // per type (0 = no ZBL for this type)
  const R* zbl_radii;        // per type, covalent radii for the type-wise ZBL cutoff
  // Optional (read by the GPU MD warp kernel; null everywhere else): the
  // first-layer weights of every ann block transposed, w0_transposed[block * N1 * D + d * N1 + mu]
  // = W0[mu][d], so that lanes taking one neuron each read consecutive addresses.
  const R* w0_transposed = nullptr;
};

using NepView = NepViewT<double>;

template <class R>
NEPCG_HD R pair_cutoff(const R* rc, int a, int b) {
  return R(0.5) * (rc[a] + rc[b]);
}

}  // namespace nepcg::kernels
