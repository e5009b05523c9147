// Mean-force accumulator of NEP-CG data generation: time averages, over the samples of a
// bead-constrained run, of each bead's force (the sum of the potential forces on its atoms = minus
// the gradient of the potential of mean force at the bead positions), of the potential energy and
// of the virial, with block-averaged standard errors. Accumulates in C++: no per-step copies.
//
// Units: forces eV/Å, energy eV, virial eV (GPUMD sign, 9 components row-major).
#pragma once

#include <vector>

#include "nepcg/observers.hpp"

namespace nepcg {

class MeanForceObserver : public Observer {
 public:
  /// Samples every `interval` steps the beads of grouping method `group_method`; standard errors
  /// come from the means of consecutive blocks of `block_samples` samples. Accumulation carries
  /// over successive runs (call reset() to start again), so a long average can run in chunks.
  MeanForceObserver(long interval, int group_method, long block_samples = 10);
  void begin(const Simulator& sim) override;
  void sample(const Simulator& sim) override;
  DeviceRecording device_recording() const override { return DeviceRecording::Forces; }
  void sample_record(const Simulator& sim, const DeviceRecord& record) override;
  void reset();

  int num_beads() const { return num_beads_; }
  long num_samples() const { return samples_; }
  long num_blocks() const { return blocks_; }
  std::vector<double> mean_forces() const;      ///< 3 per bead
  /// Standard error of each mean force component from the block means (needs >= 2 blocks; NaN before).
  std::vector<double> force_standard_errors() const;
  double mean_energy() const;
  std::vector<double> mean_virial() const;      ///< 9 components
  double energy_standard_error() const;
  const std::vector<double>& last_forces() const { return last_forces_; }  ///< bead forces of the last sample
  const std::vector<int>& bead_of() const { return bead_of_; }

 private:
  int group_method_;
  long block_samples_;
  int num_beads_ = 0;
  std::vector<int> bead_of_;
  long samples_ = 0, blocks_ = 0, in_block_ = 0;
  std::vector<double> sum_f_, sum_w_;         // over all samples
  double sum_e_ = 0.0;
  std::vector<double> block_f_;               // current block sums (forces, then energy)
  std::vector<double> blocks_sum_, blocks_sum2_;  // over completed block means (forces, then energy)
  std::vector<double> last_forces_;

  void add_sample(const ForceResult& r);
};

/// GPUMD's `dump_cg interval method` (run.in): the mean forces, energy and virial of a
/// bead-constrained run, appended at the run's end to an extended-XYZ file (GPUMD: train.xyz) as
/// one CG training frame: the beads of grouping method `method` at their centres of mass
/// (unwrapped from each bead's first atom), named after their first atom in `atom_names` (GPUMD's
/// bead_name.txt, one name per atom), `energy` = mean potential energy (eV), `virial` = mean
/// virial + (N_atoms - N_beads) k_B T on the diagonal (eV; T = `temperature`, K: the kinetic
/// correction that makes the CG pressure the all-atom one) and `forces` = mean bead forces (eV/Å).
/// The averages are over the samples every `interval` steps (GPUMD: the same when the run's
/// length is a multiple of the interval; otherwise GPUMD writes nothing, this writes the average
/// of the samples taken).
class DumpCgObserver : public Observer {
 public:
  DumpCgObserver(long interval, int method, std::vector<std::string> atom_names, std::string path, double temperature);
  void begin(const Simulator& sim) override;
  void sample(const Simulator& sim) override { mean_.sample(sim); }
  DeviceRecording device_recording() const override { return mean_.device_recording(); }
  void sample_record(const Simulator& sim, const DeviceRecord& record) override { mean_.sample_record(sim, record); }
  void end(const Simulator& sim) override;

 private:
  MeanForceObserver mean_;
  std::vector<std::string> atom_names_;
  std::string path_;
  double temperature_;
};

}  // namespace nepcg
