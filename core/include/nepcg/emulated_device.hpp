// A device run on the host: a Potential that wraps any other potential and runs the Simulator's
// device segments (Potential::run_device_segment) on the CPU, with the GPU's step pieces
// (kernels/md_step.hpp, kernels/thermostat.hpp) in the GPU's order (cuda/dynamics/gpu_segment.cu):
// the same thermostat placement, bead constraint, Philox Langevin noise, Bussi draws and recorded
// samples. It is the CPU oracle of the device-segment protocol, as the double-precision NEP is the
// oracle of the GPU's forces: the Simulator's device path (segment lengths, recorded samples of
// force-only observers, drift removal and cell updates between segments) runs and is tested on
// machines without a GPU, and a GPU segment can be compared with it step for step.
//
// Differences from the GPU, all at round-off: the forces are the wrapped potential's (GpuNEP's
// differ from the CPU NEP's at round-off), sums over atoms (kinetic energy, bath) run in atom order
// instead of the GPU's reduction tree, and the neighbour list is the host's Verlet list.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "nepcg/neighbor_list.hpp"
#include "nepcg/potential.hpp"

namespace nepcg {

class EmulatedDevicePotential : public Potential {
 public:
  /// skin (Å) of the host neighbour list the segments use.
  explicit EmulatedDevicePotential(std::shared_ptr<const Potential> potential, double skin = 1.0);

  const Potential& wrapped() const { return *potential_; }
  std::string name() const override { return potential_->name() + " (emulated device)"; }
  double cutoff() const override { return potential_->cutoff(); }
  double secondary_cutoff() const override { return potential_->secondary_cutoff(); }
  bool needs_full_neighbor_list() const override { return potential_->needs_full_neighbor_list(); }
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override {
    potential_->accumulate(system, list, out);
  }

  bool runs_dynamics_on_device() const override { return true; }
  /// Barostats and deformations acting every step run in the segments too, with the device's
  /// cell-step functions (kernels/cell_step.hpp), as GpuNEP does with NEPCG_DEVICE_CELL=1.
  bool device_updates_cell() const override { return true; }
  void run_device_segment(System& system, const DeviceSegment& segment, ForceResult& out, bool forces_valid,
                          ThermostatState& thermostat, std::vector<DeviceRecord>& records) const override;
  /// Segments run so far (each call of run_device_segment).
  long segments() const { return segments_; }

 private:
  std::shared_ptr<const Potential> potential_;
  void run_steps(System& system, const DeviceSegment& segment, ForceResult& out, bool forces_valid,
                 ThermostatState& thermostat, std::vector<DeviceRecord>& records) const;
  mutable NeighborList list_;
  // Where the last segment ended: a segment that starts elsewhere (another trajectory, a scaled
  // cell) builds the list afresh, so that a trajectory's results do not depend on what ran before
  // on this object (the host list's order follows the positions of its last build).
  mutable std::vector<double> last_positions_;
  mutable Mat3 last_cell_{};
  mutable long segments_ = 0;
  mutable std::mutex mutex_;  // one segment at a time (the list is shared)
};

}  // namespace nepcg
