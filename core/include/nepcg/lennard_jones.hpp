// Lennard-Jones pair potential, per species pair, optionally shifted to zero at the cutoff:
//   V(r) = 4 eps [(sigma/r)^12 - (sigma/r)^6] - V(r_c) (shift)  for r < r_c.
// Units: eps in eV, sigma and r_c in Å. Pairs without parameters do not interact.
#pragma once

#include <string>
#include <vector>

#include "nepcg/potential.hpp"

namespace nepcg {

struct LennardJonesPair {
  std::string species_a, species_b;
  double epsilon = 0.0;  ///< eV
  double sigma = 0.0;    ///< Å
  double cutoff = 0.0;   ///< Å
};

class LennardJones : public Potential {
 public:
  LennardJones(const std::vector<LennardJonesPair>& pairs, bool shift = true);
  std::string name() const override { return "LennardJones"; }
  double cutoff() const override { return max_cutoff_; }
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;
  const std::vector<std::string>& species() const { return species_; }

 private:
  std::vector<std::string> species_;
  // Per type pair (T x T): 4 eps sigma^12, 4 eps sigma^6, cutoff^2, energy shift.
  std::vector<double> c12_, c6_, rc2_, shift_;
  double max_cutoff_ = 0.0;
};

}  // namespace nepcg
