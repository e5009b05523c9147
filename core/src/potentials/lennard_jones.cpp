#include "nepcg/lennard_jones.hpp"

#include <algorithm>
#include <cmath>

#include "nepcg/error.hpp"
#include "pair_loop.hpp"

namespace nepcg {

LennardJones::LennardJones(const std::vector<LennardJonesPair>& pairs, bool shift) {
  auto index = [&](const std::string& name) {
    auto it = std::find(species_.begin(), species_.end(), name);
    if (it != species_.end()) return static_cast<int>(it - species_.begin());
    species_.push_back(name);
    return static_cast<int>(species_.size()) - 1;
  };
  for (const auto& p : pairs) {
    index(p.species_a);
    index(p.species_b);
  }
  const size_t t = species_.size();
  c12_.assign(t * t, 0.0), c6_.assign(t * t, 0.0), rc2_.assign(t * t, 0.0), shift_.assign(t * t, 0.0);
  std::vector<int> seen(t * t, 0);
  for (const auto& p : pairs) {
    if (!(p.epsilon >= 0) || !(p.sigma > 0) || !(p.cutoff > 0) || !std::isfinite(p.cutoff))
      throw InputError("LennardJones: pair " + p.species_a + "-" + p.species_b +
                       " needs epsilon >= 0, sigma > 0 and a positive cutoff");
    const int a = index(p.species_a), b = index(p.species_b);
    if (seen[a * t + b]) throw InputError("LennardJones: pair " + p.species_a + "-" + p.species_b + " given twice");
    const double s6 = std::pow(p.sigma, 6);
    for (int k : {int(a * t + b), int(b * t + a)}) {
      seen[k] = 1;
      c12_[k] = 4 * p.epsilon * s6 * s6;
      c6_[k] = 4 * p.epsilon * s6;
      rc2_[k] = p.cutoff * p.cutoff;
      const double ir6 = 1.0 / std::pow(p.cutoff, 6);
      shift_[k] = shift ? c12_[k] * ir6 * ir6 - c6_[k] * ir6 : 0.0;
    }
    max_cutoff_ = std::max(max_cutoff_, p.cutoff);
  }
  if (pairs.empty()) throw InputError("LennardJones: no pairs given");
}

void LennardJones::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  const std::vector<int> type = detail::map_species(s, species_, "LennardJones");
  const int t = static_cast<int>(species_.size());
  detail::accumulate_pair_terms(
      s, list, type,
      [&](int a, int b, double r, double& V, double& dV) {
        const int k = a * t + b;
        if (r * r >= rc2_[k] || c12_[k] == 0.0) return false;
        const double ir2 = 1.0 / (r * r), ir6 = ir2 * ir2 * ir2;
        V = c12_[k] * ir6 * ir6 - c6_[k] * ir6 - shift_[k];
        dV = (-12.0 * c12_[k] * ir6 * ir6 + 6.0 * c6_[k] * ir6) / r;
        return true;
      },
      out);
}

}  // namespace nepcg
