// Mean-force accumulator (see nepcg/mean_force.hpp).
#include "nepcg/mean_force.hpp"

#include <cmath>
#include <limits>

#include "nepcg/beads.hpp"
#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "nepcg/simulator.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

MeanForceObserver::MeanForceObserver(long interval, int group_method, long block_samples)
    : Observer(interval), group_method_(group_method), block_samples_(block_samples) {
  if (group_method < 0) throw InputError("MeanForce: group_method must be >= 0");
  if (block_samples < 1) throw InputError("MeanForce: block_samples must be >= 1");
}

void MeanForceObserver::reset() {
  samples_ = blocks_ = in_block_ = 0;
  num_beads_ = 0;
  bead_of_.clear();
}

void MeanForceObserver::begin(const Simulator& sim) {
  const System& s = sim.system();
  if (group_method_ >= static_cast<int>(s.groups.size()))
    throw InputError("MeanForce: grouping method " + std::to_string(group_method_) + " does not exist (the system has " +
                     std::to_string(s.groups.size()) + ")");
  std::vector<int> bead_of = bead_indices(s.groups[group_method_]);
  int nb = 0;
  for (int b : bead_of) nb = std::max(nb, b + 1);
  if (samples_ > 0 && bead_of == bead_of_) return;  // continue accumulating
  bead_of_ = std::move(bead_of);
  num_beads_ = nb;
  samples_ = blocks_ = in_block_ = 0;
  sum_f_.assign(3 * nb, 0.0);
  sum_w_.assign(9, 0.0);
  sum_e_ = 0.0;
  block_f_.assign(3 * nb + 1, 0.0);
  blocks_sum_.assign(3 * nb + 1, 0.0);
  blocks_sum2_.assign(3 * nb + 1, 0.0);
}

void MeanForceObserver::sample(const Simulator& sim) { add_sample(sim.forces()); }

void MeanForceObserver::sample_record(const Simulator&, const DeviceRecord& record) {
  if (record.forces.forces.empty()) throw RuntimeError("MeanForce: a device record without forces");
  add_sample(record.forces);
}

void MeanForceObserver::add_sample(const ForceResult& r) {
  last_forces_ = bead_sums(r.forces, bead_of_, num_beads_);
  for (int k = 0; k < 3 * num_beads_; ++k) {
    sum_f_[k] += last_forces_[k];
    block_f_[k] += last_forces_[k];
  }
  sum_e_ += r.energy;
  block_f_[3 * num_beads_] += r.energy;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) sum_w_[3 * a + b] += r.virial[a][b];
  ++samples_;
  if (++in_block_ == block_samples_) {
    for (size_t k = 0; k < block_f_.size(); ++k) {
      const double m = block_f_[k] / block_samples_;
      blocks_sum_[k] += m;
      blocks_sum2_[k] += m * m;
      block_f_[k] = 0.0;
    }
    ++blocks_;
    in_block_ = 0;
  }
}

std::vector<double> MeanForceObserver::mean_forces() const {
  std::vector<double> m(sum_f_.size());
  for (size_t k = 0; k < m.size(); ++k) m[k] = samples_ ? sum_f_[k] / samples_ : 0.0;
  return m;
}

namespace {
double block_error(double sum, double sum2, long n) {
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mean = sum / n;
  const double var = std::max(0.0, (sum2 - n * mean * mean) / (n - 1));
  return std::sqrt(var / n);
}
}  // namespace

std::vector<double> MeanForceObserver::force_standard_errors() const {
  std::vector<double> e(3 * num_beads_);
  for (int k = 0; k < 3 * num_beads_; ++k) e[k] = block_error(blocks_sum_[k], blocks_sum2_[k], blocks_);
  return e;
}

double MeanForceObserver::mean_energy() const { return samples_ ? sum_e_ / samples_ : 0.0; }

double MeanForceObserver::energy_standard_error() const {
  const int k = 3 * num_beads_;
  return blocks_sum_.empty() ? std::numeric_limits<double>::quiet_NaN() : block_error(blocks_sum_[k], blocks_sum2_[k], blocks_);
}

std::vector<double> MeanForceObserver::mean_virial() const {
  std::vector<double> w(9);
  for (int k = 0; k < 9; ++k) w[k] = samples_ ? sum_w_[k] / samples_ : 0.0;
  return w;
}

// ------------------------------------------------------------------------------------ dump_cg

DumpCgObserver::DumpCgObserver(long interval, int method, std::vector<std::string> atom_names, std::string path,
                               double temperature)
    : Observer(interval),
      mean_(interval, method, 1),
      atom_names_(std::move(atom_names)),
      path_(std::move(path)),
      temperature_(temperature) {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw InputError("dump_cg: the temperature of the kinetic correction must be finite and >= 0 K");
}

void DumpCgObserver::begin(const Simulator& sim) {
  if (atom_names_.size() != sim.system().size())
    throw InputError("dump_cg: bead_name.txt has " + std::to_string(atom_names_.size()) + " names; the model has " +
                     std::to_string(sim.system().size()) + " atoms (one name per atom, in atom order)");
  mean_.reset();  // one frame per run
  mean_.begin(sim);
}

void DumpCgObserver::end(const Simulator& sim) {
  if (mean_.num_samples() == 0)
    throw InputError("dump_cg: the run ended before its first sample (every " + std::to_string(interval()) +
                     " steps): no frame to write");
  const System& aa = sim.system();
  const int nb = mean_.num_beads();
  const std::vector<int>& bead_of = mean_.bead_of();
  std::vector<std::string> names(nb);
  std::vector<double> masses(nb, 0.0);
  std::vector<char> named(nb, 0);
  for (size_t i = 0; i < aa.size(); ++i) {
    const int b = bead_of[i];
    masses[b] += aa.masses[i];
    if (!named[b]) names[b] = atom_names_[i], named[b] = 1;  // the bead's first atom
  }
  System cg = System::from_symbols(names, bead_centres(aa, bead_of, nb), aa.box, masses);
  cg.set_info("energy", InfoValue::real(mean_.mean_energy()));
  std::vector<double> w = mean_.mean_virial();
  const double correction = double(aa.size() - nb) * units::kBoltzmann * temperature_;
  for (int a = 0; a < 3; ++a) w[4 * a] += correction;
  cg.set_info("virial", InfoValue::real_array(w));
  PerAtomArray forces;
  forces.name = "forces";
  forces.kind = 'R';
  forces.ncols = 3;
  forces.reals = mean_.mean_forces();
  cg.set_array(forces);
  write_extxyz(path_, {cg}, true);
}

}  // namespace nepcg
