// Embedded-atom method: U_i = F_a(rho_i) + 1/2 sum_j phi_ab(r_ij), rho_i = sum_j f_b(r_ij).
//
// Tables as in LAMMPS setfl (eam/alloy) and funcfl (eam) files, interpolated with the same
// piecewise cubic (derivatives from 5-point differences) that LAMMPS uses, so energies and forces
// agree with LAMMPS to round-off. Beyond the density table, F is extended linearly (as LAMMPS).
// Units: energies eV, distances Å, densities as in the file. A built-in analytic gold
// parameterisation (Zhou, Johnson & Wadley, PRB 69, 144113 (2004)) can be tabulated and written
// out as a setfl file.
#pragma once

#include <string>
#include <vector>

#include "nepcg/potential.hpp"

namespace nepcg {

/// Tabulated EAM functions on uniform grids (setfl layout).
struct EamTables {
  std::vector<std::string> elements;
  std::vector<double> masses;          ///< amu, per element
  std::vector<int> atomic_numbers;
  std::vector<double> lattice_constants;
  std::vector<std::string> lattice_types;
  int nrho = 0, nr = 0;
  double drho = 0.0, dr = 0.0, cutoff = 0.0;  ///< density step, Å, Å
  std::vector<std::vector<double>> embedding;  ///< F_a(rho), nrho values per element (eV)
  std::vector<std::vector<double>> density;    ///< f_a(r), nr values per element
  /// r * phi_ab(r) (eV Å), nr values per pair, lower triangle in setfl order (a >= b: (0,0), (1,0), (1,1), ...).
  std::vector<std::vector<double>> r_phi;
  void validate() const;
};

/// Reads a LAMMPS setfl file (eam/alloy). Throws IOError / FileFormatError.
EamTables read_setfl(const std::string& path);
/// Reads one or more LAMMPS funcfl files (pair_style eam); all must share the same grids.
EamTables read_funcfl(const std::vector<std::string>& paths);
/// Writes a setfl file (values with 17 significant digits, 5 per line).
void write_setfl(const EamTables& tables, const std::string& path, const std::string& comment = "");

/// Zhou-Johnson-Wadley (2004) analytic EAM for gold, tabulated on nr / nrho points up to `cutoff`
/// (Å). The cutoff default lies between the 4th and 5th FCC neighbour shells of gold.
EamTables zhou_2004_gold(int nr = 2000, int nrho = 2000, double cutoff = 6.2);

class EAM : public Potential {
 public:
  explicit EAM(EamTables tables);
  std::string name() const override { return "EAM"; }
  double cutoff() const override { return tables_.cutoff; }
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;
  bool needs_full_neighbor_list() const override { return false; }
  const EamTables& tables() const { return tables_; }

 private:
  /// Cubic interpolation coefficients of a table (7 per grid point, LAMMPS layout).
  static std::vector<double> spline(const std::vector<double>& values, double delta);

  EamTables tables_;
  std::vector<std::vector<double>> f_spline_, rho_spline_, z2r_spline_;
};

}  // namespace nepcg
