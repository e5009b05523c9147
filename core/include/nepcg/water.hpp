// Flexible three-site water (SPC/Fw by default) with long-range electrostatics.
//
//   U = sum_bonds (k_b/2)(r - r0)^2 + sum_angles (k_a/2)(theta - theta0)^2
//     + sum_{O-O pairs, r < r_lj} 4 eps [(sigma/r)^12 - (sigma/r)^6] (- V(r_lj) when shifted)
//     + Coulomb between all pairs of atoms in different molecules (intramolecular pairs excluded)
//
// Topology: molecules come from the per-atom integer array "mol_id" of the System (any integer
// labels; one label per molecule). Every molecule must hold exactly one oxygen and two hydrogen
// atoms (species names given by the parameters); bonds O-H1, O-H2 and the angle H1-O-H2 are
// derived from it (water_topology). Intramolecular vectors use the minimum image, so molecules may
// be split across the periodic boundary; a molecule must be smaller than half the box thickness.
//
// Electrostatics (coulomb):
//  * "ewald": real-space ke q_i q_j erfc(alpha r)/r for r < coulomb_cutoff, reciprocal sum with a
//    spherical k cut-off, self term -ke alpha/sqrt(pi) sum q_i^2, neutralising-background term
//    for a net charge, and for the excluded intramolecular pairs (minimum image) the correction
//    -ke q_i q_j erf(alpha r)/r. alpha and the k cut-off follow from `accuracy` (RMS force error
//    relative to the force between two unit charges 1 Å apart, as LAMMPS's kspace accuracy) with
//    the Kolafa-Perram error estimates. Needs a periodic box in all three directions.
//  * "pme": smooth particle-mesh Ewald (Essmann et al. 1995) for the reciprocal part, B-spline
//    order pme_order, grid sizes with prime factors 2, 3, 5 chosen so that an RMS error estimate
//    (random-phase, B-spline aliasing) stays below accuracy/2 (so that with the real-space error,
//    chosen as for "ewald", the total stays near `accuracy`); everything else as "ewald".
//  * "dsf": damped shifted force (Fennell & Gezelter 2006) with damping alpha and cutoff, using
//    LAMMPS coul/dsf's constants: for non-excluded pairs with r < rc
//      V = ke q_i q_j [erfc(alpha r)/r - e_shift - r f_shift],
//      f_shift = -(erfc(alpha rc)/rc^2 + 2 alpha/sqrt(pi) exp(-alpha^2 rc^2)/rc),
//      e_shift = erfc(alpha rc)/rc - f_shift rc;
//    excluded pairs (within rc) get the same minus the bare Coulomb ke q_i q_j / r (what LAMMPS
//    does with special_bonds coul 0: the damped-shifted sum stands for the Ewald sum), and every
//    atom the self energy -(e_shift/2 + alpha/sqrt(pi)) ke q_i^2.
//  * "none": no Coulomb (bonded + LJ only).
// erfc in the real-space sums is exp(-x^2) erfcx(x), erfcx from a cubic Hermite table with spacing
// 1/512 (relative error ~1e-12; std::erfc beyond x = 8) unless lammps_erfc.
// Units: Å, eV, e; angles in degrees at the interface. Per-atom energies and virials: pair terms
// are split half/half, an angle's energy and virial one third per atom (as LAMMPS), reciprocal
// Ewald terms per atom as q_i Re(exp(-ik.r_i) S(k)) times the k-space virial tensor.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nepcg/potential.hpp"

namespace nepcg {

namespace units {
constexpr double kKcalPerMolToEV = 4184.0 / 96485.33212;  ///< 1 kcal/mol in eV
/// e^2 / (4 pi eps0 Å) in eV, the value of LAMMPS `units metal` (qqr2e); CODATA: 14.3996454784.
constexpr double kCoulombConstant = 14.399645;
}  // namespace units

struct WaterParameters {
  std::string oxygen = "O", hydrogen = "H";  ///< species names
  double charge_oxygen = -0.82;              ///< e
  double charge_hydrogen = 0.41;             ///< e (a molecule must be neutral: q_O + 2 q_H = 0)
  double epsilon = 0.1554253 * units::kKcalPerMolToEV;  ///< O-O LJ well depth, eV
  double sigma = 3.165492;                              ///< O-O LJ diameter, Å
  double lj_cutoff = 10.0;                              ///< Å
  bool lj_shift = true;                                 ///< LJ energy shifted to 0 at the cutoff
  double bond_k = 1059.162 * units::kKcalPerMolToEV;    ///< k_b in (k_b/2)(r-r0)^2, eV/Å^2
  double bond_r0 = 1.012;                               ///< Å
  double angle_k = 75.90 * units::kKcalPerMolToEV;      ///< k_a in (k_a/2)(th-th0)^2, eV/rad^2
  double angle_theta0 = 113.24;                         ///< degrees
  std::string coulomb = "ewald";                        ///< "ewald", "pme", "dsf" or "none"
  int pme_order = 5;                                    ///< B-spline order of smooth PME (3 ... 10)
  double coulomb_cutoff = 10.0;                         ///< real-space (ewald) / DSF cutoff, Å
  double dsf_alpha = 0.2;                               ///< DSF damping, 1/Å
  double accuracy = 1e-5;                               ///< Ewald relative RMS force accuracy
  double ewald_alpha = 0.0;                             ///< Ewald splitting, 1/Å (0: from accuracy)
  double coulomb_constant = units::kCoulombConstant;    ///< eV Å / e^2
  /// Real-space erfc by the Abramowitz & Stegun 7.1.26 rational approximation (|error| < 1.5e-7)
  /// that LAMMPS's coul/dsf, lj/cut/coul/dsf and coul/long (pair_modify table 0) use, instead of
  /// std::erfc: only for comparing with LAMMPS at round-off level (its force is not the exact
  /// derivative of its energy).
  bool lammps_erfc = false;
};

/// Bonds and angles derived from "mol_id" (see the file comment). Indices are atom indices.
struct WaterTopology {
  std::vector<int> molecule;                ///< N: molecule index 0 ... M-1 of every atom
  std::vector<std::array<int, 3>> waters;   ///< M: (O, H1, H2) atom indices
  std::vector<std::array<int, 2>> bonds;    ///< 2M: (O, H)
  std::vector<std::array<int, 3>> angles;   ///< M: (H1, O, H2), centre in the middle
};

/// Derives the water topology from the System's "mol_id" array; throws InputError when the
/// array is missing or a molecule is not one `oxygen` and two `hydrogen` atoms.
WaterTopology water_topology(const System& system, const std::string& oxygen = "O",
                             const std::string& hydrogen = "H");

/// Ewald parameters chosen for a system (alpha 1/Å; k cut-off 1/Å; per-direction n ranges).
struct EwaldSetup {
  double alpha = 0.0, kcut = 0.0;
  std::array<int, 3> nmax{};
  size_t num_kvectors = 0;  ///< in the half space (k and -k counted once)
  std::array<int, 3> grid{};  ///< smooth-PME grid (coulomb="pme")
  double pme_error = 0.0;     ///< its estimated RMS reciprocal force error, eV/Å
};

namespace detail {
class CoulombTable;
}

class FlexibleWater : public Potential {
 public:
  explicit FlexibleWater(const WaterParameters& parameters = {});
  std::string name() const override { return "FlexibleWater"; }
  double cutoff() const override;
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;
  bool needs_full_neighbor_list() const override { return false; }
  const WaterParameters& parameters() const { return p_; }
  /// The Ewald alpha / k-space set-up this potential would use for `system` (coulomb="ewald" or
  /// "pme"; the PME grid only for "pme").
  EwaldSetup ewald_setup(const System& system) const;

 private:
  WaterParameters p_;
  // DSF constants (see the file comment).
  double e_shift_ = 0.0, f_shift_ = 0.0;
  double lj_c12_ = 0.0, lj_c6_ = 0.0, lj_shift_energy_ = 0.0;
  // erfcx(x) = exp(x^2) erfc(x) and its derivative at x = k / kErfcxPerUnit (cubic Hermite table).
  std::vector<double> erfcx_table_;
  std::shared_ptr<const detail::CoulombTable> dsf_table_;  // r^2-indexed DSF kernel (see coulomb_table.hpp)
  // The k-space set-up of the last cell seen (MD at constant volume reuses it every step).
  struct SetupCache {
    std::mutex mutex;
    bool valid = false;
    Mat3 cell{};
    size_t atoms = 0, molecules = 0;
    EwaldSetup setup;
    std::shared_ptr<const detail::CoulombTable> table;  // real-space kernel for setup.alpha
    SetupCache() = default;
    SetupCache(const SetupCache&) {}
    SetupCache& operator=(const SetupCache&) {
      valid = false;
      return *this;
    }
  };
  mutable SetupCache setup_cache_;
};

}  // namespace nepcg
