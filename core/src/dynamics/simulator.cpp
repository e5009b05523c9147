// Velocity Verlet with thermostat, barostat and deformation hooks. One step:
//   [thermostat half step (NHC, OBABO)] kick dt/2, drift (BAOAB: drift/2, O, drift/2),
//   deformation, barostat (pressure of the previous step), forces, kick dt/2,
//   [thermostat half step or rescaling], drift removal, observers.
// With Ensemble::cell_interval = k > 1 the deformation and the barostat (time step k dt, pressure
// of the current state) act instead at the start of every k-th step of a run.
#include "nepcg/simulator.hpp"
#include "nepcg/interrupt.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "nepcg/beads.hpp"
#include "nepcg/error.hpp"
#include "nepcg/kernels/md_step.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

Simulator::Simulator(System system, std::shared_ptr<const Potential> potential, double skin, uint64_t seed)
    : system_(std::move(system)),
      potential_(std::move(potential)),
      list_(potential_ ? potential_->cutoff() : 1.0, skin, potential_ ? potential_->secondary_cutoff() : 0.0,
            potential_ && !potential_->needs_full_neighbor_list()),
      random_(seed) {
  if (!potential_) throw InputError("Simulator: no potential given");
  system_.validate();
  if (system_.velocities.empty()) system_.velocities.assign(3 * system_.size(), 0.0);
  moving_.assign(system_.size(), 1);
}

void Simulator::compute_forces(bool observables, bool virial) {
  list_.update(system_.box, system_.positions);
  result_.reset(system_.size());
  result_.per_atom_virials = false;  // dynamics and observers use only the total virial
  result_.compute_energy = observables;
  result_.compute_virial = observables || virial;  // (a barostat needs the virial every step)
  potential_->accumulate(system_, list_, result_);
  result_.sum_totals();
  forces_valid_ = true;
  observables_valid_ = observables;
}

void Simulator::update_forces() {
  if (!forces_valid_ || !observables_valid_) compute_forces();
}

const ForceResult& Simulator::forces() const {
  if (!forces_valid_) throw RuntimeError("Simulator: forces are not up to date (call update_forces())");
  return result_;
}

void Simulator::set_temperature(double temperature) {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw InputError("Simulator: temperature must be finite and >= 0 K");
  const size_t n = system_.size();
  auto& v = system_.velocities;
  v.assign(3 * n, 0.0);
  double p[3] = {0, 0, 0}, m_total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!moving_[i]) continue;
    const double sigma = std::sqrt(units::kBoltzmann * temperature / (system_.masses[i] * units::kMassVelocity2ToEnergy));
    for (int c = 0; c < 3; ++c) {
      v[3 * i + c] = sigma * random_.normal();
      p[c] += system_.masses[i] * v[3 * i + c];
    }
    m_total += system_.masses[i];
  }
  if (m_total > 0)
    for (size_t i = 0; i < n; ++i)
      if (moving_[i])
        for (int c = 0; c < 3; ++c) v[3 * i + c] -= p[c] / m_total;
  const Box& b = system_.box;
  if (m_total > 0 && !b.periodic(0) && !b.periodic(1) && !b.periodic(2)) remove_rotation();
  const double t = this->temperature();
  if (t > 0)
    for (double& x : v) x *= std::sqrt(temperature / t);
}

void Simulator::remove_rotation() {
  // Angular momentum L = sum m r x v about the centre of mass of the moving atoms, inertia tensor
  // I = sum m (r.r 1 - r r^T); v -= w x r with w = I^-1 L. A linear or single-atom system (I
  // singular) keeps its velocities.
  const size_t n = system_.size();
  const auto& x = system_.positions;
  auto& v = system_.velocities;
  double com[3] = {0, 0, 0}, m_total = 0;
  for (size_t i = 0; i < n; ++i)
    if (moving_[i]) {
      for (int c = 0; c < 3; ++c) com[c] += system_.masses[i] * x[3 * i + c];
      m_total += system_.masses[i];
    }
  if (!(m_total > 0)) return;
  for (double& c : com) c /= m_total;
  double L[3] = {0, 0, 0}, I[9] = {};
  for (size_t i = 0; i < n; ++i) {
    if (!moving_[i]) continue;
    const double m = system_.masses[i];
    const double r[3] = {x[3 * i] - com[0], x[3 * i + 1] - com[1], x[3 * i + 2] - com[2]};
    const double* u = &v[3 * i];
    L[0] += m * (r[1] * u[2] - r[2] * u[1]);
    L[1] += m * (r[2] * u[0] - r[0] * u[2]);
    L[2] += m * (r[0] * u[1] - r[1] * u[0]);
    const double rr = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
    for (int a = 0; a < 3; ++a)
      for (int c = 0; c < 3; ++c) I[3 * a + c] += m * ((a == c ? rr : 0.0) - r[a] * r[c]);
  }
  double trace = I[0] + I[4] + I[8];
  if (!(std::fabs(kernels::determinant3(I)) > 1e-12 * trace * trace * trace)) return;
  double inv[9], w[3];
  kernels::inverse3(I, inv);
  for (int a = 0; a < 3; ++a) w[a] = inv[3 * a] * L[0] + inv[3 * a + 1] * L[1] + inv[3 * a + 2] * L[2];
  for (size_t i = 0; i < n; ++i) {
    if (!moving_[i]) continue;
    const double r[3] = {x[3 * i] - com[0], x[3 * i + 1] - com[1], x[3 * i + 2] - com[2]};
    v[3 * i] -= w[1] * r[2] - w[2] * r[1];
    v[3 * i + 1] -= w[2] * r[0] - w[0] * r[2];
    v[3 * i + 2] -= w[0] * r[1] - w[1] * r[0];
  }
}

double Simulator::kinetic_energy() const {
  double k = 0.0;
  const auto& v = system_.velocities;
  for (size_t i = 0; i < system_.size(); ++i)
    k += system_.masses[i] * (v[3 * i] * v[3 * i] + v[3 * i + 1] * v[3 * i + 1] + v[3 * i + 2] * v[3 * i + 2]);
  return 0.5 * k * units::kMassVelocity2ToEnergy;
}

int Simulator::degrees_of_freedom() const {
  long moving = 0;
  for (char m : moving_) moving += m;
  if (!bead_mass_.empty()) return static_cast<int>(std::max(3 * moving - 3 * long(bead_mass_.size()), 1L));
  const long dof = 3 * moving - (momentum_conserved_ && moving > 1 ? 3 : 0);
  return static_cast<int>(std::max(dof, 1L));
}

double Simulator::temperature() const {
  return 2.0 * kinetic_energy() / (degrees_of_freedom() * units::kBoltzmann);
}

double Simulator::potential_energy() const { return forces().energy; }

Mat3 Simulator::pressure_tensor() const { return pressure_with_virial(forces().virial); }

Mat3 Simulator::pressure_with_virial(const Mat3& virial) const {
  const double volume = system_.box.volume();
  if (!(volume > 0)) throw InputError("Simulator: pressure needs a periodic cell with non-zero volume");
  Mat3 p = virial;
  const auto& v = system_.velocities;
  for (size_t i = 0; i < system_.size(); ++i)
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) p[a][b] += system_.masses[i] * v[3 * i + a] * v[3 * i + b] * units::kMassVelocity2ToEnergy;
  for (auto& row : p)
    for (double& x : row) x /= volume;
  return p;
}

double Simulator::conserved_energy() const {
  return conserved_energy(kinetic_energy(), potential_energy(), bath_energy_, nhc_velocity_, nhc_position_,
                          target_temperature_);
}

double Simulator::conserved_energy(double ke, double pe, double bath, const std::vector<double>& xi,
                                   const std::vector<double>& eta, double t) const {
  double e = ke + pe + bath;
  if (!xi.empty()) {
    const double kt = units::kBoltzmann * t;
    const double tau = nhc_tau_;
    for (size_t j = 0; j < xi.size(); ++j) {
      const double q = (j == 0 ? degrees_of_freedom() : 1) * kt * tau * tau;
      e += 0.5 * q * xi[j] * xi[j] + (j == 0 ? degrees_of_freedom() : 1) * kt * eta[j];
    }
  }
  return e;
}

double Simulator::temperature(const DeviceRecord& r) const {
  return 2.0 * r.kinetic_energy / (degrees_of_freedom() * units::kBoltzmann);
}

Mat3 Simulator::cell(const DeviceRecord& r) const { return r.has_cell ? r.cell : system_.box.cell(); }

double Simulator::volume(const DeviceRecord& r) const {
  return r.has_cell ? std::fabs(det(r.cell)) : system_.box.volume();  // (Box::volume's formula)
}

Mat3 Simulator::pressure_tensor(const DeviceRecord& r) const {
  const double volume = this->volume(r);
  if (!(volume > 0)) throw InputError("Simulator: pressure needs a periodic cell with non-zero volume");
  Mat3 p{};
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) p[a][b] = (r.forces.virial[a][b] + r.kinetic[a][b]) / volume;
  return p;
}

double Simulator::conserved_energy(const DeviceRecord& r) const {
  const RecordBase& b = record_base_;
  const double t = kernels::ramp_temperature(b.t_start, b.t_end, b.run_step, r.step, run_length_);
  return conserved_energy(r.kinetic_energy, r.forces.energy, b.bath_energy + r.bath_energy, r.chain_velocity,
                          r.chain_position, t);
}

void Simulator::kick(double dt) {
  if (!forces_valid_) compute_forces();
  auto& v = system_.velocities;
  const auto& f = result_.forces;
  for (size_t i = 0; i < system_.size(); ++i) {
    if (!moving_[i]) {
      v[3 * i] = v[3 * i + 1] = v[3 * i + 2] = 0.0;
      continue;
    }
    const double a = dt * units::kForceToAcceleration / system_.masses[i];
    for (int c = 0; c < 3; ++c) v[3 * i + c] += a * f[3 * i + c];
  }
  constrain_beads();
}

void Simulator::constrain_beads() {
  if (bead_mass_.empty()) return;
  auto& v = system_.velocities;
  std::vector<double> p(3 * bead_mass_.size(), 0.0);
  const size_t n = system_.size();
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) p[3 * bead_of_[i] + c] += system_.masses[i] * v[3 * i + c];
  for (size_t i = 0; i < n; ++i) {
    const int b = bead_of_[i];
    for (int c = 0; c < 3; ++c) v[3 * i + c] -= p[3 * b + c] / bead_mass_[b];
  }
}

void Simulator::drift(double dt) {
  auto& x = system_.positions;
  const auto& v = system_.velocities;
  for (size_t k = 0; k < x.size(); ++k) x[k] += dt * v[k];
  forces_valid_ = false;
}

void Simulator::remove_drift() {
  double p[3] = {0, 0, 0}, m = 0;
  auto& v = system_.velocities;
  for (size_t i = 0; i < system_.size(); ++i) {
    if (!moving_[i]) continue;
    for (int c = 0; c < 3; ++c) p[c] += system_.masses[i] * v[3 * i + c];
    m += system_.masses[i];
  }
  if (m <= 0) return;
  const double k0 = kinetic_energy();
  for (size_t i = 0; i < system_.size(); ++i)
    if (moving_[i])
      for (int c = 0; c < 3; ++c) v[3 * i + c] -= p[c] / m;
  bath_energy_ += k0 - kinetic_energy();
}

void Simulator::prepare_run(const Ensemble& e) {
  e.validate();
  const size_t n = system_.size();
  moving_.assign(n, 1);
  if (e.fixed_group_method >= 0) {
    if (e.fixed_group_method >= static_cast<int>(system_.groups.size()))
      throw InputError("Simulator: fixed group method " + std::to_string(e.fixed_group_method) +
                       " does not exist (the system has " + std::to_string(system_.groups.size()) + ")");
    bool any = false;
    for (size_t i = 0; i < n; ++i)
      if (system_.groups[e.fixed_group_method][i] == e.fixed_group) moving_[i] = 0, any = true;
    if (!any)  // (a fix that fixes nothing is a typo, as GPUMD's check of the group id says)
      throw InputError("Simulator: fixed group " + std::to_string(e.fixed_group) + " of grouping method " +
                       std::to_string(e.fixed_group_method) + " has no atoms");
    // Fixed atoms are at rest from the start: velocities they were given (set_temperature before
    // the group was known, or a file) must not reach the thermostats' first kinetic energies.
    for (size_t i = 0; i < n; ++i)
      if (!moving_[i]) system_.velocities[3 * i] = system_.velocities[3 * i + 1] = system_.velocities[3 * i + 2] = 0.0;
  }
  bead_of_.clear();
  bead_mass_.clear();
  if (e.bead_group_method >= 0) {
    if (e.bead_group_method >= static_cast<int>(system_.groups.size()))
      throw InputError("Simulator: bead grouping method " + std::to_string(e.bead_group_method) +
                       " does not exist (the system has " + std::to_string(system_.groups.size()) + ")");
    bead_of_ = bead_indices(system_.groups[e.bead_group_method], &bead_mass_, &system_.masses);
    constrain_beads();
  }
  bool any_fixed = false;
  for (char m : moving_) any_fixed |= !m;
  momentum_conserved_ = !any_fixed && e.thermostat != ThermostatKind::Langevin;
  if (e.has_barostat() || e.deforms()) {
    for (int a = 0; a < 3; ++a) {
      if (system_.box.periodic(a)) continue;
      const std::string axis(1, "xyz"[a]);
      if (e.strain_rate[a] != 0.0)
        throw InputError("Simulator: the deformation acts on the non-periodic direction " + axis);
      if (e.has_barostat() && e.modulus[a][a] > 0 && e.modulus[a][a] <= 2000.0)
        throw InputError("Simulator: " + std::string(e.coupling == PressureCoupling::Isotropic ? "isotropic" : "triclinic") +
                         " pressure coupling needs a cell periodic along x, y and z (" + axis +
                         " is not); orthorhombic coupling controls the periodic axes of slabs and wires");
    }
  }
  if (e.thermostat == ThermostatKind::NoseHooverChain) {
    if (static_cast<int>(nhc_velocity_.size()) != e.chain_length) {
      nhc_velocity_.assign(e.chain_length, 0.0);
      nhc_position_.assign(e.chain_length, 0.0);
    }
    nhc_tau_ = e.tau_temperature;
  } else {
    nhc_velocity_.clear();
    nhc_position_.clear();
  }
}

double Simulator::ramp_temperature(const Ensemble& e, long step) const {
  return kernels::ramp_temperature(e.temperature_start, e.temperature_end, 0, step, run_length_);
}

void Simulator::run(long steps, const Ensemble& requested, double dt,
                    const std::vector<std::shared_ptr<Observer>>& observers) {
  // Orthorhombic coupling controls the periodic axes only (GPUMD: "pressure controlling will only
  // be effective in periodic directions"): a slab keeps its thickness free. A modulus above
  // 2000 GPa couples nothing (kernels::coupled).
  Ensemble e = requested;
  if (e.has_barostat() && e.coupling == PressureCoupling::Orthorhombic)
    for (int a = 0; a < 3; ++a)
      if (!system_.box.periodic(a)) e.modulus[a][a] = std::numeric_limits<double>::infinity();
  if (steps < 0) throw InputError("Simulator: the number of steps must be >= 0");
  if (!(dt >= 0) || !std::isfinite(dt)) throw InputError("Simulator: time_step must be >= 0 fs");
  for (const auto& o : observers)
    if (!o) throw InputError("Simulator: an observer is missing (null)");
  prepare_run(e);
  const bool resume = resume_ && run_step_ + steps == run_length_;
  resume_ = false;
  if (!resume) {
    run_step_ = 0;
    run_length_ = steps;
    for (int a = 0; a < 3; ++a) deform_lengths0_[a] = system_.box.cell()[a][a];
  }
  // A compressive rate long enough to take an axis to zero length would turn the cell inside out.
  for (int a = 0; a < 3 && e.deforms(); ++a) {
    const double factor = 1.0 + e.strain_rate[a] * double(run_length_) * dt;
    if (!(factor > 0.0))
      throw InputError("Simulator: a strain rate of " + std::to_string(e.strain_rate[a]) + " 1/fs along " +
                       std::string(1, "xyz"[a]) + " over this run (" + std::to_string(run_length_) + " steps of " +
                       std::to_string(dt) + " fs) takes the cell to " + std::to_string(factor) +
                       " of its length: it would collapse and turn inside out");
  }
  time_step_ = dt;
  update_forces();
  for (const auto& o : observers) o->begin(*this);
  ran_on_device_ = potential_->runs_dynamics_on_device() && device_can_run(e);
  if (ran_on_device_) {
    run_on_device(steps, e, dt, observers);
    check_finite_state();
    for (const auto& o : observers) o->end(*this);
    return;
  }
  const bool nhc = e.thermostat == ThermostatKind::NoseHooverChain;
  const bool langevin = e.thermostat == ThermostatKind::Langevin;
  const bool obabo = langevin && e.splitting == LangevinSplitting::OBABO;
  const bool every_step_cell = e.cell_interval == 1;
  for (long s = 0; s < steps; ++s) {
    poll_interrupt();  // (Ctrl-C in Python: stops here, between two steps)
    target_temperature_ = ramp_temperature(e, run_step_ + 1);
    if (cell_update_due(e)) update_cell(e, dt);
    if (nhc) nose_hoover_half(e, dt);
    if (obabo) langevin_o(0.5 * dt, e.tau_temperature);
    kick(0.5 * dt);
    if (langevin && !obabo) {
      drift(0.5 * dt);
      langevin_o(dt, e.tau_temperature);
      drift(0.5 * dt);
    } else {
      drift(dt);
    }
    if (every_step_cell && e.deforms()) deform(e, dt);
    if (every_step_cell && e.has_barostat()) barostat(e, dt);
    // Energy and virial are read by observers sampling after this step and by whoever asks after
    // the run; the barostat reads the virial (next step). Other steps skip them (as LAMMPS does).
    bool observables = s + 1 == steps;
    for (const auto& o : observers) observables |= (run_step_ + 1) % o->interval() == 0;
    try {
      compute_forces(observables, e.has_barostat());
    } catch (const InputError& err) {  // (the state the steps made, not the user's input: atoms flung away)
      throw RuntimeError("Simulator: the run became unstable by step " + std::to_string(step_ + 1) + " (" +
                         err.what() + "): a time step too large for the potential, overlapping atoms, or atoms "
                         "outside the range the potential was made for");
    }
    kick(0.5 * dt);
    if (nhc) nose_hoover_half(e, dt);
    if (obabo) langevin_o(0.5 * dt, e.tau_temperature);
    if (e.thermostat == ThermostatKind::Berendsen || e.thermostat == ThermostatKind::Bussi) rescale_velocities(e, dt);
    ++step_;
    ++run_step_;
    time_ += dt;
    if (e.remove_drift_interval > 0 && run_step_ % e.remove_drift_interval == 0) remove_drift();
    if (observables) check_finite_state();  // (steps where observers sample, and the last step)
    for (const auto& o : observers)
      if (run_step_ % o->interval() == 0) o->sample(*this);
  }
  for (const auto& o : observers) o->end(*this);
}

void Simulator::check_finite_state() const {
  auto finite = [](const std::vector<double>& v) {
    for (double x : v)
      if (!std::isfinite(x)) return false;
    return true;
  };
  const char* what = !finite(system_.positions) ? "a position" : !finite(system_.velocities) ? "a velocity" : nullptr;
  if (what)
    throw RuntimeError("Simulator: the run became unstable by step " + std::to_string(step_) + " (" + what +
                       " is not finite): a time step too large for the potential, overlapping atoms, or atoms "
                       "outside the range the potential was made for");
}

bool Simulator::device_can_run(const Ensemble& e) const {
  // A cell that changes every step runs on the device only where the potential updates the cell
  // there (fully periodic cells); with cell_interval > 1 the host updates the cell between
  // segments. (An empty system stays on the host: there is nothing to launch kernels for.)
  if (system_.size() == 0) return false;
  if ((!e.has_barostat() && !e.deforms()) || e.cell_interval > 1) return true;
  const Box& b = system_.box;
  return potential_->device_updates_cell() && b.periodic(0) && b.periodic(1) && b.periodic(2);
}

// Device fast path: the potential runs the steps between two samples of observers that need the
// host state (or drift removals, or cell updates) on the GPU, with the thermostat, fixed atoms and
// bead constraint of the host loop above; observers that a device run may record (Thermo,
// MeanForce: Observer::device_recording) are sampled from records the device takes at their steps
// (NEPCG_DEVICE_RECORDS=0: they end segments like the others). The host state (positions,
// velocities, forces, thermostat) is brought up to date at the end of every segment.
void Simulator::run_on_device(long steps, const Ensemble& e, double dt,
                              const std::vector<std::shared_ptr<Observer>>& observers) {
  const char* records_env = std::getenv("NEPCG_DEVICE_RECORDS");
  const bool use_records = !(records_env && std::string(records_env) == "0");
  std::vector<Observer*> recorded, at_end;  // sampled from device records / at segment ends
  bool record_forces = false, record_state = false;
  for (const auto& o : observers) {
    const DeviceRecording what = use_records ? o->device_recording() : DeviceRecording::None;
    (what == DeviceRecording::None ? at_end : recorded).push_back(o.get());
    record_forces |= what == DeviceRecording::Forces;
    record_state |= what == DeviceRecording::State;
  }
  // Records per segment: at most ~256 MiB of them (on the device and here): per record ~31 totals
  // (the cell included), the chain state and, with forces, 4 N per-atom values.
  const long record_values =
      31 + 2 * static_cast<long>(nhc_velocity_.size()) + (record_forces ? 4 * static_cast<long>(system_.size()) : 0);
  // Barostat and deformation acting every step run on the device too (device_can_run).
  const bool device_cell = e.cell_interval == 1 && (e.has_barostat() || e.deforms());
  const kernels::CellControl cell_control = device_cell ? e.cell_control() : kernels::CellControl{};
  const int barostat_draws = kernels::barostat_draws(cell_control);
  const long max_records = std::max<long>(1, (256L << 20) / (8 * record_values));
  std::vector<DeviceRecord> records;
  long done = 0;
  while (done < steps) {
    if (cell_update_due(e)) {  // (the host's barostat/deformation, then the device's steps)
      target_temperature_ = ramp_temperature(e, run_step_ + 1);
      update_cell(e, dt);
    }
    poll_interrupt();  // (between device segments: a segment runs to its end)
    long len = steps - done;
    for (const Observer* o : at_end) len = std::min(len, o->interval() - run_step_ % o->interval());
    if (e.remove_drift_interval > 0)
      len = std::min(len, e.remove_drift_interval - run_step_ % e.remove_drift_interval);
    if (e.cell_interval > 1 && (e.has_barostat() || e.deforms()))
      len = std::min<long>(len, e.cell_interval - run_step_ % e.cell_interval);
    DeviceSegment seg;
    seg.record_forces = record_forces;
    seg.record_state = record_state;
    for (long k = 1; k <= len && !recorded.empty(); ++k) {
      bool due = false;
      for (const Observer* o : recorded) due |= (run_step_ + k) % o->interval() == 0;
      if (!due) continue;
      seg.record_steps.push_back(k);
      if (static_cast<long>(seg.record_steps.size()) == max_records) len = k;  // (ends the loop)
    }
    seg.steps = len;
    seg.time_step = dt;
    seg.thermostat = e.thermostat;
    seg.splitting = e.splitting;
    seg.tau_temperature = e.tau_temperature;
    seg.temperature_start = e.temperature_start;
    seg.temperature_end = e.temperature_end;
    seg.run_step = run_step_;
    seg.run_length = run_length_;
    seg.degrees_of_freedom = degrees_of_freedom();
    if (e.thermostat == ThermostatKind::Langevin) seg.seed = random_.bits();
    seg.cell = cell_control;
    const bool bussi = e.thermostat == ThermostatKind::Bussi;
    if (bussi) seg.bussi_draws.resize(2 * size_t(len));
    seg.barostat_draws.resize(size_t(barostat_draws) * size_t(len));
    for (long k = 0; k < len && (bussi || barostat_draws > 0); ++k) {
      // The host loop's order: the barostat's draws after the drift, then rescale_velocities'.
      for (int j = 0; j < barostat_draws; ++j) seg.barostat_draws[size_t(k) * barostat_draws + j] = random_.normal();
      if (!bussi) continue;
      seg.bussi_draws[2 * k] = random_.normal();
      seg.bussi_draws[2 * k + 1] = random_.chi_squared(static_cast<long>(seg.degrees_of_freedom) - 1);
    }
    if (std::find(moving_.begin(), moving_.end(), 0) != moving_.end()) seg.moving = moving_;
    seg.bead_of = bead_of_;
    seg.bead_mass = bead_mass_;
    seg.observables = true;  // a segment ends where something reads them
    const RecordBase base{step_, run_step_, time_, bath_energy_, e.temperature_start, e.temperature_end};
    ThermostatState thermostat{bath_energy_, nhc_velocity_, nhc_position_};
    potential_->run_device_segment(system_, seg, result_, forces_valid_, thermostat, records);
    if (records.size() != seg.record_steps.size())
      throw RuntimeError("Simulator: the potential '" + potential_->name() + "' returned " +
                         std::to_string(records.size()) + " recorded samples for " +
                         std::to_string(seg.record_steps.size()) + " record steps");
    bath_energy_ = thermostat.bath_energy;
    nhc_velocity_ = std::move(thermostat.chain_velocity);
    nhc_position_ = std::move(thermostat.chain_position);
    forces_valid_ = observables_valid_ = true;
    record_base_ = base;
    step_ += len;
    run_step_ += len;
    time_ += len * dt;
    done += len;
    target_temperature_ = ramp_temperature(e, run_step_);
    for (const DeviceRecord& r : records)
      for (Observer* o : recorded)
        if ((record_base_.run_step + r.step) % o->interval() == 0) o->sample_record(*this, r);
    if (e.remove_drift_interval > 0 && run_step_ % e.remove_drift_interval == 0) remove_drift();
    for (Observer* o : at_end)
      if (run_step_ % o->interval() == 0) o->sample(*this);
  }
}

}  // namespace nepcg
