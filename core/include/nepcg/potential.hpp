// The potential interface: every interaction (NEP, classical teachers, sums of them) produces
// per-atom energies, forces and per-atom virials from a System and a neighbour list.
//
// Units: energies eV, forces eV/Å, virials eV. Per-atom virial W_i (9 values, row-major
// xx xy xz yx yy yz zx zy zz) follows GPUMD: W_i^ab = sum_j r_ij^a f_ji^b, so that the total
// W = sum_i W_i = sum_i r_i (x) F_i for a periodic system; W > 0 on the diagonal means the
// configuration pushes outward. Pressure = (W + sum m v (x) v) / V; ASE's stress = -W / V.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nepcg/ensemble.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/system.hpp"

namespace nepcg {

struct ForceResult {
  double energy = 0.0;             ///< total potential energy, eV
  std::vector<double> energies;    ///< N site energies, eV
  std::vector<double> forces;      ///< 3N, eV/Å
  std::vector<double> virials;     ///< 9N per-atom virials, eV
  Mat3 virial{};                   ///< total virial, eV
  /// True (default): `virials` holds GPUMD's per-atom partition W_i = sum_j r_ij (x) f_ji.
  /// False: only the sum over atoms is meaningful (a potential may then attribute each pair's
  /// virial to one of its atoms, which is cheaper); the Simulator uses this, since dynamics and
  /// every observer need only the total.
  bool per_atom_virials = true;
  /// False: nothing will read the virial of this evaluation, so a potential may leave `virial`
  /// and `virials` at zero (forces are always complete).
  bool compute_virial = true;
  /// False: nothing will read the energies either; a potential may leave them incomplete.
  bool compute_energy = true;
  /// Work space potentials may use during accumulate() (per-entry partial forces, ...). Kept by
  /// the caller between steps so that large buffers are not allocated every step.
  std::vector<double> scratch;

  /// Sizes the arrays for n atoms and sets everything to zero.
  void reset(size_t n);
  /// Recomputes `energy` and `virial` from the per-atom arrays (fixed order: deterministic).
  void sum_totals();
};

/// A stretch of velocity-Verlet steps that a GPU potential runs without returning to the host
/// (see Potential::run_device_segment). Thermostats, fixed atoms and the bead constraint act; a
/// barostat and a deformation acting every step act too when `cell` says so (potentials whose
/// Potential::device_updates_cell() is true; the cell of `system` then changes).
struct DeviceSegment {
  long steps = 0;
  double time_step = 1.0;                 ///< fs
  ThermostatKind thermostat = ThermostatKind::None;
  LangevinSplitting splitting = LangevinSplitting::BAOAB;
  double tau_temperature = 100.0;         ///< fs
  /// Target temperature of step k (k = 1 ... steps) of the segment:
  /// temperature_start + (run_step + k) / run_length * (temperature_end - temperature_start).
  double temperature_start = 0.0, temperature_end = 0.0;
  long run_step = 0, run_length = 0;
  int degrees_of_freedom = 1;
  uint64_t seed = 0;                      ///< key of the Langevin noise of this segment
  /// Bussi: per step a standard normal and a chi-squared deviate with degrees_of_freedom - 1
  /// degrees of freedom, drawn by the Simulator's generator (2 per step).
  std::vector<double> bussi_draws;
  /// Fixed atoms (GPUMD `fix`): 0 for an atom that does not move; empty when every atom moves.
  std::vector<char> moving;
  /// Bead constraint: bead index of every atom and the mass of every bead (amu); empty when off.
  /// The velocities handed over already have zero centre-of-mass velocity per bead.
  std::vector<int> bead_of;
  std::vector<double> bead_mass;
  /// Compute energies and the total virial after the last step.
  bool observables = true;
  /// Steps (1 ... steps, ascending) after which the state observers read is recorded without
  /// ending the segment (the samples of observers that a device run may record: MeanForceObserver,
  /// ThermoObserver): run_device_segment returns one DeviceRecord per entry, in this order.
  std::vector<long> record_steps;
  /// Records hold the per-atom forces and site energies (MeanForceObserver) and/or the kinetic
  /// and thermostat state (ThermoObserver); the energy and total virial always.
  bool record_forces = true, record_state = true;
  /// The deformation and barostat acting at every step, between the drift and the forces (the
  /// host loop's order; kernels/cell_step.hpp); all zero: the cell stays as it is.
  kernels::CellControl cell;
  /// Stochastic cell rescaling: kernels::barostat_draws(cell) standard normals per step, drawn by
  /// the Simulator's generator before that step's Bussi draws (the host loop's order).
  std::vector<double> barostat_draws;
  bool updates_cell() const { return cell.deform != 0 || cell.barostat != 0; }
};

/// One recorded sample of a device segment (DeviceSegment::record_steps).
struct DeviceRecord {
  long step = 0;                ///< the step within its segment (1 ... steps)
  /// Energy and total virial; forces and site energies when DeviceSegment::record_forces (energy
  /// then summed over the site energies in atom order, as at the end of a segment), else empty.
  ForceResult forces;
  // With DeviceSegment::record_state (else zero, empty):
  double kinetic_energy = 0.0;  ///< eV
  Mat3 kinetic{};               ///< sum_i m_i v_i (x) v_i, eV
  double bath_energy = 0.0;     ///< energy the thermostat exchanged since the segment began, eV
  std::vector<double> chain_velocity, chain_position;  ///< the Nose-Hoover chain at that step
  /// The cell at that step (rows a, b, c, Å) when the segment updates it (has_cell), else unset:
  /// the cell of the whole segment.
  Mat3 cell{};
  bool has_cell = false;
};

/// Throws InputError (naming `who`) when a segment does not fit a system of n atoms: record steps
/// not rising within 1 ... steps, too few Bussi draws, a Nose-Hoover chain without its state, a
/// fixed-atom mask or bead indices of the wrong length, a bead index out of range, more beads than atoms.
struct ThermostatState;
void check_device_segment(const DeviceSegment& segment, const ThermostatState& thermostat, size_t n,
                          const std::string& who);

/// Thermostat state a device segment carries in and out: the energy the thermostats took out of
/// the system (eV, added to) and the Nose-Hoover chain (velocities 1/fs, positions; updated).
struct ThermostatState {
  double bath_energy = 0.0;
  std::vector<double> chain_velocity, chain_position;
};

class Potential {
 public:
  virtual ~Potential() = default;
  virtual std::string name() const = 0;
  /// Largest interaction range (Å): the neighbour list must hold every pair within it.
  virtual double cutoff() const = 0;
  /// A shorter range some terms use (e.g. NEP's angular cutoff); 0 if none.
  virtual double secondary_cutoff() const { return 0.0; }
  /// Adds this potential's energies, forces and virials to `out` (already sized by reset(N)),
  /// then the caller calls out.sum_totals(). `list` must be built for `system` with a cutoff
  /// of at least cutoff(). Throws InputError for species the potential does not know.
  virtual void accumulate(const System& system, const NeighborList& list, ForceResult& out) const = 0;

  /// False for pair potentials that read only the half list (half_offsets, half_pair_vectors): the
  /// Simulator then builds a half-only list (half the build work).
  virtual bool needs_full_neighbor_list() const { return true; }
  /// True for potentials that can run whole MD segments on a GPU (Simulator fast path).
  virtual bool runs_dynamics_on_device() const { return false; }
  /// True when run_device_segment also runs barostats and deformations that act every step
  /// (DeviceSegment::cell) for fully periodic cells; otherwise the Simulator integrates such runs
  /// on the host (or between host cell updates with Ensemble::cell_interval > 1).
  virtual bool device_updates_cell() const { return false; }
  /// Advances positions and velocities of `system` by segment.steps steps on the device. `out`
  /// holds the forces at the current positions when `forces_valid`; on return it holds forces,
  /// site energies and, when segment.observables, the energy and total virial at the new positions.
  /// Energy the thermostat exchanged is added to thermostat.bath_energy (eV); a Nose-Hoover chain
  /// continues from and ends in thermostat.chain_*. `records` is replaced by the samples at
  /// segment.record_steps.
  virtual void run_device_segment(System& system, const DeviceSegment& segment, ForceResult& out, bool forces_valid,
                                  ThermostatState& thermostat, std::vector<DeviceRecord>& records) const;

  /// Convenience: builds a neighbour list and returns the complete result.
  ForceResult compute(const System& system) const;
};

/// After a potential's accumulate (and sum_totals): throws when the energy or a force of `r` is
/// not finite, instead of returning NaN. InputError naming two atoms closer than 1e-6 Å when
/// there are (potentials divide by pair distances), RuntimeError otherwise. `who`: the message's
/// prefix (the potential's name). Costs a pass over the forces when they are finite.
void check_finite_result(const System& system, const NeighborList& list, const ForceResult& r, const std::string& who);

}  // namespace nepcg
