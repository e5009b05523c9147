// Internal helper for pair potentials on a full neighbour list: for every entry (i, j) with
// r < cutoff(a, b), U_i += V(r)/2, F_i += V'(r) u_ij, W_i += r_ij (x) f_ji with the partial force
// f_ji = dU_j/dr_ji = -V'(r)/2 u_ij. Each atom writes only its own entries (no atomics).
#pragma once

#include <cmath>
#include <vector>

#include "nepcg/neighbor_list.hpp"
#include "nepcg/potential.hpp"

namespace nepcg::detail {

/// eval(a, b, r, V, dV) returns false when the pair does not interact (r beyond its cutoff).
template <class Eval>
void accumulate_pair_terms(const System& s, const NeighborList& list, const std::vector<int>& type, Eval eval,
                           ForceResult& out) {
  const long long n = static_cast<long long>(s.size());
  const auto& off = list.offsets();
  const auto& nbr = list.neighbors();
#pragma omp parallel for schedule(dynamic, 64)
  for (long long i = 0; i < n; ++i) {
    const int a = type[s.types[i]];
    double U = 0.0, F[3] = {0, 0, 0}, W[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      const Vec3 r = list.pair_vector(i, e, s.positions, s.box);
      const double d = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
      double V, dV;
      if (!eval(a, type[s.types[nbr[e]]], d, V, dV)) continue;
      U += 0.5 * V;
      const double g = dV / d;
      for (int c = 0; c < 3; ++c) F[c] += g * r[c];
      for (int x = 0; x < 3; ++x)
        for (int y = 0; y < 3; ++y) W[3 * x + y] -= 0.5 * g * r[x] * r[y];
    }
    out.energies[i] += U;
    for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += F[c];
    for (int k = 0; k < 9; ++k) out.virials[9 * i + k] += W[k];
  }
}

/// Maps the system's types onto a potential's species names; throws InputError naming a missing
/// species and the potential.
std::vector<int> map_species(const System& s, const std::vector<std::string>& known, const std::string& who);

}  // namespace nepcg::detail
