// NEP on an NVIDIA GPU (CUDA backend): the same maths as the CPU reference (the shared NEPCG_HD
// kernels of nepcg/kernels/), evaluated per atom by CUDA threads, with a neighbour list built and
// refreshed on the device. Double precision by default; NepPrecision::Single runs the site kernel's
// maths in float (positions, integration, force gathering and virials stay double) for models
// with one hidden layer and 1 <= l_max <= 4, with the accuracy NepDirect measures on the CPU.
//
// GpuNEP is a Potential, so everything that takes a potential takes it (Simulator with any
// ensemble, mean-force runs, the ASE calculator). In a Simulator whose ensemble keeps the cell
// (NVE and every thermostat, with fixed atoms and the bead constraint of mean-force runs), whole
// stretches of steps between observer samples run on the GPU with no host round trip
// (Potential::run_device_segment). Barostats and deformation acting every step integrate on the
// CPU with forces from the GPU, or, with NEPCG_DEVICE_CELL=1 (not yet the default: this path has
// not run on a GPU yet), on the device with the cell in device memory (fully periodic cells).
//
// Only declared in builds with the CUDA backend (nepcg/config.hpp: NEPCG_HAVE_CUDA_BUILD == 1).
// Constructing one on a machine without a usable GPU throws RuntimeError.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nepcg/nep.hpp"
#include "nepcg/nep_direct.hpp"
#include "nepcg/training/trainer.hpp"

namespace nepcg {

/// True when the CUDA backend is compiled and a device is usable; otherwise false and *why (if
/// given) says why.
bool gpu_available(std::string* why = nullptr);

class GpuNEP : public Potential {
 public:
  /// skin (Å) of the device neighbour list used by accumulate() (MD segments use the same list).
  explicit GpuNEP(NepModel model, double skin = 1.0, NepPrecision precision = NepPrecision::Double);
  explicit GpuNEP(const std::string& path, double skin = 1.0, NepPrecision precision = NepPrecision::Double);
  ~GpuNEP() override;

  const NepModel& model() const { return cpu_.model(); }
  /// The CPU reference evaluator of the same model.
  const NEP& cpu() const { return cpu_; }
  std::string name() const override { return precision_ == NepPrecision::Single ? "NEP (CUDA, single)" : "NEP (CUDA)"; }
  NepPrecision precision() const { return precision_; }
  double cutoff() const override { return cpu_.cutoff(); }
  double secondary_cutoff() const override { return cpu_.secondary_cutoff(); }
  /// Same contract as NEP::accumulate; `list` is only checked (the device keeps its own list).
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;
  /// accumulate() with a device list built afresh for this system (in the list's replica mode, as
  /// fused segments build it), not the list of the last evaluation: the result is a function of
  /// the system alone, whatever this object evaluated before (FusedReplica's host forces, which
  /// the next fused segment may start from).
  void accumulate_alone(const System& system, const NeighborList& list, ForceResult& out) const;
  /// Energies, forces and per-atom virials on the device without a host neighbour list
  /// (fresh_list: through accumulate_alone).
  ForceResult compute_on_device(const System& system, bool per_atom_virials = true, bool fresh_list = false) const;

  /// Independent systems (replicas: any sizes, cells, periodicity) evaluated together, one
  /// launch per kernel for all of them (the device list bins each in its own cell, so no pair
  /// joins two systems): energies, forces and per-atom virials of each, as compute_on_device
  /// gives them one by one (same list order; sums within round-off). For many small systems,
  /// where one system per launch leaves most of the GPU idle.
  std::vector<ForceResult> compute_replicas(const std::vector<System>& systems) const;

  bool runs_dynamics_on_device() const override { return true; }
  /// NEPCG_DEVICE_CELL=1 (read when called): barostats and deformation acting every step run in
  /// the device segments (kernels/cell_step.hpp on the device; the list and site kernels read the
  /// cell from device memory).
  bool device_updates_cell() const override;
  void run_device_segment(System& system, const DeviceSegment& segment, ForceResult& out, bool forces_valid,
                          ThermostatState& thermostat, std::vector<DeviceRecord>& records) const override;

  /// One system's device segment (run_device_segment's arguments).
  struct SegmentJob {
    System* system;
    const DeviceSegment* segment;
    ForceResult* out;
    bool forces_valid;
    ThermostatState* thermostat;
    std::vector<DeviceRecord>* records;
  };
  /// Independent replicas' segments fused into one (many small systems in one launch per
  /// kernel): each job gets what run_device_segment would give it alone, its Langevin noise
  /// included (its own key, its atoms' own streams), up to the round-off of sums split
  /// differently over lanes and neighbours listed in another order. A job's results are the same
  /// bits whichever jobs run beside it (one, or many): each replica's list is built at the
  /// segment's start and rebuilt on its own, its start uses its host forces when they are
  /// current, and every sum runs over its own atoms in a fixed order. The segments must fuse
  /// (segments_fuse with the first: InputError otherwise). Runs on this object's device state;
  /// the replicas may differ in size, cell, species, fixed atoms and beads.
  void run_device_segments(const std::vector<SegmentJob>& jobs) const;
  /// True when segments a and b can run fused: the same steps, time step, thermostat (kind,
  /// Langevin splitting, tau and temperature ramp), record steps and contents, no cell change,
  /// and beads in both or neither. (Berendsen, Bussi and Nose-Hoover act per replica, on its
  /// own kinetic energy, degrees of freedom, random numbers and chain; fused Nose-Hoover
  /// replicas also need chains of one length, which run_device_segments checks.)
  static bool segments_fuse(const DeviceSegment& a, const DeviceSegment& b);

  /// Device neighbour-list builds so far and its current capacity (neighbours per atom).
  long neighbor_list_builds() const;
  int neighbor_capacity() const;
  /// Lanes per atom of the site kernel: 32 (a warp) or 16 (half a warp; NEPCG_SITE_LANES=16), or 0 when
  /// the model runs on the atom-per-thread kernel (l_max > 4, two hidden layers).
  int site_lanes() const;
  /// Order in which the site kernel takes the atoms: "index" (the default) or "bins" (the device
  /// list's bin order; NEPCG_SITE_ORDER=bins). Results are the same bits; the atom-per-thread
  /// kernel always takes "index".
  std::string site_order() const;
  /// Whether the site kernel's passes 1 and 3 take every list entry ("keep", the default) or only
  /// those inside the cutoffs ("skip": NEPCG_SITE_SKIN=skip). Results agree to round-off; the
  /// atom-per-thread kernel always takes "keep".
  std::string site_skin() const;
  /// Milliseconds per force evaluation on the device (neighbour-list check, site and gather
  /// kernels; positions uploaded once, list built once), median of `repeats` timed with CUDA
  /// events. For benchmarks.
  double time_forces(const System& system, int repeats = 20) const;
  /// Where the NEP site kernel's time goes: clock cycles of its passes summed over lane groups and
  /// `repeats` force evaluations of `system` (list built once): [skipping the skin (0 unless
  /// NEPCG_SITE_SKIN=skip), descriptor sums, descriptor + network + gradients, partial forces];
  /// zeros for the atom-per-thread kernel. A diagnostic for benchmarks (bench/gpu_profile.py):
  /// it launches site-kernel instances with the clock reads compiled in, which the other launches
  /// never use.
  std::vector<double> site_pass_cycles(const System& system, int repeats = 5) const;
  /// Name of the device in use.
  std::string device_name() const;

  struct Impl;

 private:
  NEP cpu_;
  double skin_;
  NepPrecision precision_;
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mutex_;  // one evaluation at a time per object (device state is shared)
  // accumulate (fresh_list: accumulate_alone).
  void accumulate_on_device(const System& system, const NeighborList& list, ForceResult& out, bool fresh_list) const;
  // run_device_segment (one job, replica_mode false) and run_device_segments (replicas fused:
  // replica_mode true, also for one job when its cell stays fixed).
  void run_segments(const std::vector<SegmentJob>& jobs, bool replica_mode) const;
};

/// The trainer's population evaluator on the GPU (Trainer's EvaluatorFactory signature): the
/// same errors as make_cpu_population_evaluator, to round-off. Architectures the GPU kernel does
/// not take (l_max > 4, two hidden layers) are evaluated by a CPU evaluator inside it.
/// NepPrecision::Single evaluates the population with the float site kernel (the parameters
/// rounded to float per generation; force, virial and loss sums in double): errors within the
/// single-precision tolerance of the double ones; only for the architectures that kernel takes.
std::unique_ptr<PopulationEvaluator> make_gpu_population_evaluator(const NepModel& skeleton,
                                                                   const std::vector<TrainingStructure>& data,
                                                                   const std::vector<double>& type_weight,
                                                                   double force_delta,
                                                                   NepPrecision precision = NepPrecision::Double);
}  // namespace nepcg
