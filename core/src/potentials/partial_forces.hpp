// Internal helper for many-body potentials written as site energies U_i({r_ij}): given one partial
// force f_ij = dU_i/dr_ij per neighbour-list entry (3 doubles per entry), gathers
//   F_i = sum_j (f_ij - f_ji)   and   W_i = sum_j r_ij (x) f_ji   (GPUMD's per-atom virial)
// through the list's reverse entries, so every atom writes only its own results (no atomics).
#pragma once

#include <limits>
#include <vector>

#include "nepcg/neighbor_list.hpp"
#include "nepcg/potential.hpp"

namespace nepcg::detail {

constexpr int kPrefetchAhead = 16;  // entries

/// zero_beyond (Å): a distance beyond which the potential's partial forces are zero (its largest
/// cutoff), so that the gather skips the list's skin entries and their scattered loads; the margin
/// covers r_ij and r_ji differing in the last bit.
inline void gather_partial_forces(const System& s, const NeighborList& list, const double* f, ForceResult& out,
                                  double zero_beyond = std::numeric_limits<double>::infinity()) {
  const long long n = static_cast<long long>(s.size());
  const auto& off = list.offsets();
  const auto& rev = list.reverse();
  const int64_t num_pairs = static_cast<int64_t>(list.num_pairs());
  const double skip2 = zero_beyond * zero_beyond * (1.0 + 1e-9);
  const NeighborList::PairVectors pair_vector = list.pair_vectors(s.positions, s.box);  // bits of list.pair_vector()
#pragma omp parallel for schedule(dynamic, 64)
  for (long long i = 0; i < n; ++i) {
    double F[3] = {0, 0, 0}, W[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      // f_ji lies anywhere in f: start loading it well ahead, as the loop's own work is short
      if (e + kPrefetchAhead < num_pairs) __builtin_prefetch(&f[3 * rev[e + kPrefetchAhead]]);
      const Vec3 r = pair_vector(i, e);
      if (r[0] * r[0] + r[1] * r[1] + r[2] * r[2] > skip2) continue;  // f_ij = f_ji = 0
      const double* fij = &f[3 * e];
      const double* fji = &f[3 * rev[e]];
      for (int c = 0; c < 3; ++c) F[c] += fij[c] - fji[c];
      for (int x = 0; x < 3; ++x)
        for (int y = 0; y < 3; ++y) W[3 * x + y] += r[x] * fji[y];
    }
    for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += F[c];
    for (int k = 0; k < 9; ++k) out.virials[9 * i + k] += W[k];
  }
}

}  // namespace nepcg::detail
