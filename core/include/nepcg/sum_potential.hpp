// The sum of several potentials (e.g. NEP + ZBL-like pair terms, EAM + LJ): energies, forces and
// virials add; the neighbour list must cover the largest cutoff.
#pragma once

#include <memory>
#include <vector>

#include "nepcg/potential.hpp"

namespace nepcg {

class SumPotential : public Potential {
 public:
  explicit SumPotential(std::vector<std::shared_ptr<const Potential>> terms);
  std::string name() const override { return "Sum"; }
  double cutoff() const override;
  double secondary_cutoff() const override;
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;
  bool needs_full_neighbor_list() const override;
  const std::vector<std::shared_ptr<const Potential>>& terms() const { return terms_; }

 private:
  std::vector<std::shared_ptr<const Potential>> terms_;
};

}  // namespace nepcg
