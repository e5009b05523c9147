// Ensembles: what the integrator does besides velocity Verlet. A value object; the Simulator
// checks it against the system when a run starts.
//
// Thermostats (target temperature ramps linearly from temperature_start to temperature_end over
// the run; tau in fs):
//   Berendsen (weak coupling), Bussi (stochastic velocity rescaling, canonical),
//   Langevin (BAOAB splitting by default: exact configurational sampling for harmonic systems;
//   OBABO = GPUMD's nvt_lan), Nose-Hoover chain (chain_length thermostats, MTK integration).
// Barostats (target pressure tensor ramps from pressure_start to pressure_end, GPa; tau in fs;
// `modulus` = elastic modulus estimate per component in GPa, i.e. 1/compressibility):
//   Berendsen, stochastic cell rescaling (Bernetti & Bussi 2020; per axis / per component for the
//   anisotropic couplings); Isotropic, Orthorhombic (per axis) or Triclinic coupling.
// Deformation: a constant engineering strain rate (1/fs) along Cartesian axes; deformed axes are
// not barostatted (the others are, when a barostat is set). Both act every step, or every
// cell_interval steps.
// Bead constraint (NEP-CG mean-force runs): bead_group_method >= 0 holds every bead's centre of mass.
#pragma once

#include <array>

#include "nepcg/kernels/cell_step.hpp"
#include "nepcg/vec3.hpp"

namespace nepcg {

enum class ThermostatKind { None, Berendsen, Bussi, Langevin, NoseHooverChain };
enum class LangevinSplitting { BAOAB, OBABO };
enum class BarostatKind { None, Berendsen, StochasticCellRescaling };
enum class PressureCoupling { Isotropic, Orthorhombic, Triclinic };

struct Ensemble {
  ThermostatKind thermostat = ThermostatKind::None;
  double temperature_start = 0.0, temperature_end = 0.0;  ///< K
  double tau_temperature = 100.0;                         ///< fs
  LangevinSplitting splitting = LangevinSplitting::BAOAB;
  int chain_length = 4;

  BarostatKind barostat = BarostatKind::None;
  PressureCoupling coupling = PressureCoupling::Isotropic;
  Mat3 pressure_start{}, pressure_end{};  ///< target pressure tensor, GPa (positive = compressive)
  Mat3 modulus{};                         ///< GPa per component; > 2000 GPa freezes a component
  double tau_pressure = 1000.0;           ///< fs

  std::array<double, 3> strain_rate{0.0, 0.0, 0.0};  ///< engineering strain rate per axis, 1/fs
  /// The barostat and the deformation act every cell_interval steps (at the start of a step, with
  /// a time step of cell_interval dt; GROMACS' nstpcouple, LAMMPS' fix deform N). 1 (default):
  /// every step, between the drift and the forces. > 1 also lets a GPU run stay on the device
  /// between cell updates.
  int cell_interval = 1;

  int fixed_group_method = -1, fixed_group = -1;  ///< GPUMD `fix`: atoms of this group do not move
  int remove_drift_interval = 0;                  ///< remove centre-of-mass velocity every k steps (0: never)
  /// NEP-CG constraint: the centre of mass of every group of this grouping method (a bead) stays
  /// fixed while its atoms move; -1: off. Works with every thermostat (not with a barostat or
  /// deformation); see Simulator.
  int bead_group_method = -1;

  bool has_thermostat() const { return thermostat != ThermostatKind::None; }
  bool has_barostat() const { return barostat != BarostatKind::None; }
  bool deforms() const { return strain_rate[0] != 0.0 || strain_rate[1] != 0.0 || strain_rate[2] != 0.0; }
  /// Checks ranges; throws InputError.
  void validate() const;
  /// The deformation and the barostat as the shared cell-step functions read them
  /// (kernels/cell_step.hpp).
  kernels::CellControl cell_control() const;
};

}  // namespace nepcg
