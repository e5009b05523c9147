// The molecular-dynamics engine (CPU): velocity Verlet with the thermostats, barostats and
// deformation of ensemble.hpp, a Verlet neighbour list with skin, observers and exact restarts.
//
// Units: positions Å, velocities Å/fs, masses amu, time fs, forces eV/Å, energies eV,
// temperature K, pressure GPa in outputs. Temperature T = 2 K / (N_f k_B) with N_f = 3 N_moving
// minus 3 when the centre-of-mass momentum is conserved (no Langevin thermostat, no fixed atoms).
// Pressure tensor P = (W + sum_i m_i v_i (x) v_i) / V (positive = compressive).
//
// Bead constraint (Ensemble::bead_group_method): after every velocity update (each half kick and
// each stochastic thermostat step) the centre-of-mass velocity of every bead (group) is removed,
// so bead centres stay where they were when the run started while the atoms inside move; this is
// GPUMD's USE_NEPCG scheme, extended to every thermostat. Velocities are projected once when such a
// run starts. Degrees of freedom then are 3 N - 3 N_beads (a single-atom bead is frozen).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nepcg/ensemble.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/observers.hpp"
#include "nepcg/potential.hpp"
#include "nepcg/random.hpp"
#include "nepcg/system.hpp"

namespace nepcg {

class Simulator {
 public:
  /// skin (Å) of the Verlet list; seed for every stochastic part (velocities, thermostats).
  Simulator(System system, std::shared_ptr<const Potential> potential, double skin = 1.0, uint64_t seed = 0);

  /// Maxwell-Boltzmann velocities at temperature T (K) with zero total momentum (and, in a cell
  /// periodic along no axis, zero angular momentum: a cluster does not spin, as in GPUMD),
  /// rescaled to exactly T (fixed atoms, when given by the next run's ensemble, are excluded then).
  void set_temperature(double temperature);

  /// Runs `steps` steps of `time_step` fs. Observers sample every interval steps. Orthorhombic
  /// pressure coupling leaves non-periodic axes alone (slabs, wires; as GPUMD); isotropic and
  /// triclinic coupling and deformation along a non-periodic axis raise InputError. A run whose
  /// positions or velocities stop being finite (checked where observers sample and at the end)
  /// raises RuntimeError.
  void run(long steps, const Ensemble& ensemble, double time_step,
           const std::vector<std::shared_ptr<Observer>>& observers = {});

  const System& system() const { return system_; }
  System& system() { return system_; }
  const Potential& potential() const { return *potential_; }
  /// Computes the forces (and the virial) at the current positions if they are not up to date.
  void update_forces();
  /// Forces, energies and virials at the current positions (call update_forces() first; a run
  /// leaves them up to date). Throws RuntimeError when they are stale.
  const ForceResult& forces() const;
  long step() const { return step_; }        ///< steps done in all runs
  double time() const { return time_; }      ///< fs
  double time_step() const { return time_step_; }
  long run_step() const { return run_step_; }  ///< steps done in the current run
  long neighbor_list_builds() const { return list_.num_builds(); }
  /// True when the steps of the last run ran on the potential's device (a GPU NEP with an ensemble
  /// that keeps the cell); false when this Simulator integrated them.
  bool ran_on_device() const { return ran_on_device_; }

  // Thermodynamics of the current state.
  double kinetic_energy() const;       ///< eV
  double potential_energy() const;     ///< eV
  int degrees_of_freedom() const;
  /// Number of constrained beads of the current (or last) run; 0 without the bead constraint.
  int num_beads() const { return static_cast<int>(bead_mass_.size()); }
  double temperature() const;          ///< K
  Mat3 pressure_tensor() const;        ///< eV/Å^3 (including the kinetic part)
  double conserved_energy() const;     ///< eV: total energy + energy exchanged with baths
  double target_temperature() const { return target_temperature_; }

  // The same quantities at the step of a device record (Observer::sample_record; valid while the
  // Simulator hands the records of its last device stretch to the observers).
  long step(const DeviceRecord& r) const { return record_base_.step + r.step; }
  double time(const DeviceRecord& r) const { return record_base_.time + double(r.step) * time_step_; }
  double temperature(const DeviceRecord& r) const;
  Mat3 pressure_tensor(const DeviceRecord& r) const;  ///< eV/Å^3 (the cell of that step)
  Mat3 cell(const DeviceRecord& r) const;    ///< rows a, b, c (Å) at that step
  double volume(const DeviceRecord& r) const;  ///< Å^3
  double conserved_energy(const DeviceRecord& r) const;

  /// Restart file: positions, velocities, box, step/time, thermostat/barostat state and the
  /// random-number state, written exactly (a run continued from it is bit-identical).
  void write_restart(const std::string& path) const;
  void read_restart(const std::string& path);

 private:
  /// observables = false lets potentials skip the energy and virial (steps where nothing reads
  /// them: no observer samples, not the last step of a run); virial = true still asks for the
  /// virial (a barostat's steps).
  void compute_forces(bool observables = true, bool virial = false);
  void kick(double dt);            // v += F/m dt for moving atoms
  void drift(double dt);           // x += v dt
  void nose_hoover_half(const Ensemble& e, double dt);   // MTK half step of the chain
  void rescale_velocities(const Ensemble& e, double dt);  // Berendsen or Bussi
  void langevin_o(double dt, double tau);                  // Ornstein-Uhlenbeck velocity update
  void barostat(const Ensemble& e, double dt);
  // Removes the rigid rotation of the moving atoms about their centre of mass (set_temperature
  // for cells periodic along no axis).
  void remove_rotation();
  // Throws RuntimeError when a position or velocity is not finite (an unstable run); checked at
  // the steps where observers sample and at the end of a run, so that a run that blew up fails
  // instead of writing NaN.
  void check_finite_state() const;
  void deform(const Ensemble& e, double dt, long steps = 1);  // the strain of `steps` steps from run_step_
  /// cell_interval > 1: at the start of every cell_interval-th step of a run, the deformation and
  /// the barostat for the steps up to the next update (or the end of the run).
  void update_cell(const Ensemble& e, double dt);
  bool cell_update_due(const Ensemble& e) const;
  void scale_cell(const Mat3& mu, bool scale_velocities);  // r -> mu r (and v -> mu^-1 v)
  Mat3 pressure_with_virial(const Mat3& virial) const;
  void remove_drift();
  void constrain_beads();  // remove every bead's centre-of-mass velocity
  void prepare_run(const Ensemble& e);
  /// True when the potential can run this ensemble's steps on its device (barostats and
  /// deformation acting every step only where Potential::device_updates_cell()).
  bool device_can_run(const Ensemble& e) const;
  void run_on_device(long steps, const Ensemble& e, double dt, const std::vector<std::shared_ptr<Observer>>& observers);
  /// Kinetic + potential energy + bath + Nose-Hoover chain terms at target temperature t (K).
  double conserved_energy(double ke, double pe, double bath, const std::vector<double>& xi,
                          const std::vector<double>& eta, double t) const;
  /// Target temperature (K) after `step` steps of the current run (the linear ramp).
  double ramp_temperature(const Ensemble& e, long step) const;

  System system_;
  std::shared_ptr<const Potential> potential_;
  NeighborList list_;
  ForceResult result_;
  bool forces_valid_ = false;
  bool observables_valid_ = false;  // result_'s energy and virial belong to the current forces
  Random random_;

  long step_ = 0, run_step_ = 0, run_length_ = 0;
  double time_ = 0.0, time_step_ = 1.0;
  double target_temperature_ = 0.0;
  std::vector<char> moving_;      // 0 for fixed atoms
  bool momentum_conserved_ = true;
  double bath_energy_ = 0.0;      // energy taken out by thermostats/barostats (conserved-quantity bookkeeping)
  std::vector<double> nhc_velocity_, nhc_position_;  // Nose-Hoover chain state (1/fs, dimensionless)
  double nhc_tau_ = 100.0;
  bool resume_ = false;           // set by read_restart: the next run may continue the interrupted one
  bool ran_on_device_ = false;    // the last run's steps ran in device segments
  Vec3 deform_lengths0_{};        // box extents at the start of a deformation run
  // Where the device stretch whose records observers are reading began (step_, time_,
  // bath_energy_) and the target temperature ramp of its run.
  struct RecordBase {
    long step = 0, run_step = 0;
    double time = 0.0, bath_energy = 0.0;
    double t_start = 0.0, t_end = 0.0;
  } record_base_;
  std::vector<int> bead_of_;      // bead index per atom (bead constraint on), else empty
  std::vector<double> bead_mass_; // amu
};

}  // namespace nepcg
