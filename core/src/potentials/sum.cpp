#include <algorithm>

#include "nepcg/error.hpp"
#include "nepcg/sum_potential.hpp"

namespace nepcg {

SumPotential::SumPotential(std::vector<std::shared_ptr<const Potential>> terms) : terms_(std::move(terms)) {
  if (terms_.empty()) throw InputError("Sum: no potentials given");
  for (const auto& t : terms_)
    if (!t) throw InputError("Sum: a potential is missing (null)");
}

bool SumPotential::needs_full_neighbor_list() const {
  for (const auto& t : terms_)
    if (t->needs_full_neighbor_list()) return true;
  return false;
}

double SumPotential::cutoff() const {
  double c = 0.0;
  for (const auto& t : terms_) c = std::max(c, t->cutoff());
  return c;
}

double SumPotential::secondary_cutoff() const {
  double c = 0.0;
  for (const auto& t : terms_) c = std::max(c, t->secondary_cutoff());
  return c;
}

void SumPotential::accumulate(const System& system, const NeighborList& list, ForceResult& out) const {
  for (const auto& t : terms_) t->accumulate(system, list, out);
}

}  // namespace nepcg
