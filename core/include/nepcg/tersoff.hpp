// Tersoff potential in LAMMPS's form (pair_style tersoff), read from LAMMPS .tersoff files:
//   E = 1/2 sum_i sum_j f_C(r_ij) [A e^{-lambda1 r_ij} - b_ij B e^{-lambda2 r_ij}],
//   b_ij = (1 + (beta zeta_ij)^n)^{-1/(2n)},
//   zeta_ij = sum_k f_C(r_ik) g(theta_ijk) exp[(lambda3 (r_ij - r_ik))^m],
//   g = gamma (1 + c^2/d^2 - c^2/(d^2 + (cos theta - h)^2)),
//   f_C = 1 (r < R-D), (1 - sin(pi/2 (r-R)/D))/2 (|r-R| <= D), 0 (r > R+D).
// Pair terms use the (i,j,j) entry, three-body terms the (i,j,k) entry. Site energy
// U_i = 1/2 sum_j V_ij. Units: eV, Å.
#pragma once

#include <string>
#include <vector>

#include "nepcg/potential.hpp"

namespace nepcg {

struct TersoffEntry {
  std::string e1, e2, e3;
  double m, gamma, lambda3, c, d, h, n, beta, lambda2, B, R, D, lambda1, A;
};

class Tersoff : public Potential {
 public:
  explicit Tersoff(const std::vector<TersoffEntry>& entries);
  /// Reads a LAMMPS .tersoff file (throws IOError / FileFormatError).
  static Tersoff from_file(const std::string& path);
  /// Tersoff (PRB 39, 5566 (1989)) carbon. With `widened_switch` the cutoff switch is moved from
  /// R = 1.95, D = 0.15 Å to R = 2.05, D = 0.10 Å, which keeps the [2+2] cycloaddition rings of the
  /// qHP C60 monolayer intact at 300 K (a documented modification; docs/physics-refs.md B(iii)).
  static Tersoff carbon_1989(bool widened_switch = false);

  std::string name() const override { return "Tersoff"; }
  double cutoff() const override { return max_cutoff_; }
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;
  const std::vector<TersoffEntry>& entries() const { return entries_; }
  /// Writes the entries as a LAMMPS .tersoff file.
  void write(const std::string& path) const;

 private:
  std::vector<TersoffEntry> entries_;
  std::vector<std::string> elements_;
  std::vector<int> index_;  // entry of (i, j, k): index_[(i * T + j) * T + k]
  double max_cutoff_ = 0.0;
};

}  // namespace nepcg
