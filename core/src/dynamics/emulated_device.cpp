// Device segments on the host (nepcg/emulated_device.hpp): GpuNEP::run_device_segment's launch
// sequence (cuda/dynamics/gpu_segment.cu) as loops over atoms and beads, calling the same step
// pieces on the same structure-of-arrays state.
#include "nepcg/emulated_device.hpp"

#include <algorithm>
#include <cmath>

#include "nepcg/beads.hpp"
#include "nepcg/error.hpp"
#include "nepcg/kernels/cell_step.hpp"
#include "nepcg/kernels/md_step.hpp"
#include "nepcg/kernels/thermostat.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

EmulatedDevicePotential::EmulatedDevicePotential(std::shared_ptr<const Potential> potential, double skin)
    : potential_(std::move(potential)),
      list_(potential_ ? potential_->cutoff() : 0.0, skin, potential_ ? potential_->secondary_cutoff() : 0.0,
            potential_ ? !potential_->needs_full_neighbor_list() : false) {
  if (!potential_) throw InputError("EmulatedDevicePotential: the potential is missing (null)");
  if (!(skin >= 0)) throw InputError("EmulatedDevicePotential: skin must be >= 0 Å");
}

namespace {

// The device's state of a segment: structure-of-arrays copies of the system (GpuNEP::Impl's layout).
struct SegmentState {
  int n = 0;
  std::vector<double> x, y, z, vx, vy, vz, fx, fy, fz, accel, mass, bath;
  std::vector<int> moving, bead_start, bead_atoms;
  std::vector<double> bead_mass;

  const int* moving_or_null() const { return moving.empty() ? nullptr : moving.data(); }
  double kinetic_energy() const {
    double s = 0.0;
    for (int i = 0; i < n; ++i) s += mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
    return 0.5 * s * units::kMassVelocity2ToEnergy;
  }
  Mat3 kinetic_tensor() const {  // sum_i m_i v_i (x) v_i, eV
    Mat3 t{};
    const std::vector<double>* v[3] = {&vx, &vy, &vz};
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        double s = 0.0;
        for (int i = 0; i < n; ++i) s += mass[i] * (*v[a])[i] * (*v[b])[i];
        t[a][b] = s * units::kMassVelocity2ToEnergy;
      }
    return t;
  }
  // r -> mu r for every atom (and, with `velocities`, v -> mu^-1 v): the device's per-atom scaling.
  void transform(const double mu[9], bool velocities) {
    double inv[9];
    kernels::inverse3(mu, inv);
    for (int i = 0; i < n; ++i) {
      kernels::transform_vector(mu, x[i], y[i], z[i]);
      if (velocities) kernels::transform_vector(inv, vx[i], vy[i], vz[i]);
    }
  }
  void drift(double h) {
    for (int i = 0; i < n; ++i) kernels::drift_atom(i, h, vx.data(), vy.data(), vz.data(), x.data(), y.data(), z.data());
  }
  void constrain_beads(bool book_in_bath) {
    const int nb = static_cast<int>(bead_mass.size());
    for (int b = 0; b < nb; ++b) {
      const double removed = kernels::remove_bead_momentum(b, bead_start.data(), bead_atoms.data(),
                                                           bead_mass.data(), mass.data(), vx.data(), vy.data(),
                                                           vz.data());
      if (book_in_bath) bath[b] += removed;  // (the device books it per bead: same total)
    }
  }
};

}  // namespace

void EmulatedDevicePotential::run_device_segment(System& system, const DeviceSegment& seg, ForceResult& out,
                                                 bool forces_valid, ThermostatState& thermostat,
                                                 std::vector<DeviceRecord>& records) const {
  check_device_segment(seg, thermostat, system.size(), "EmulatedDevicePotential");
  system.validate();
  if (system.velocities.size() != system.positions.size())
    throw InputError("EmulatedDevicePotential: the system needs velocities (3 per atom)");
  std::lock_guard<std::mutex> lock(mutex_);
  ++segments_;
  // The steps write the system's positions for the wrapped potential; an error on the way (NaN
  // positions, a potential's InputError) leaves the system as it came, as on the GPU.
  const std::vector<double> start_positions = system.positions;
  const Box start_box = system.box;
  try {
    run_steps(system, seg, out, forces_valid, thermostat, records);
  } catch (...) {
    system.positions = start_positions;
    system.box = start_box;
    throw;
  }
}

void EmulatedDevicePotential::run_steps(System& system, const DeviceSegment& seg, ForceResult& out,
                                        bool forces_valid, ThermostatState& thermostat,
                                        std::vector<DeviceRecord>& records) const {
  const ThermostatKind kind = seg.thermostat;
  const bool bussi = kind == ThermostatKind::Bussi, berendsen = kind == ThermostatKind::Berendsen;
  const bool langevin = kind == ThermostatKind::Langevin, nhc = kind == ThermostatKind::NoseHooverChain;
  const bool obabo = langevin && seg.splitting == LangevinSplitting::OBABO;

  SegmentState st;
  const int n = st.n = static_cast<int>(system.size());
  for (std::vector<double>* a : {&st.x, &st.y, &st.z, &st.vx, &st.vy, &st.vz, &st.fx, &st.fy, &st.fz, &st.accel,
                                 &st.mass, &st.bath})
    a->assign(n, 0.0);
  for (int i = 0; i < n; ++i) {
    st.x[i] = system.positions[3 * size_t(i)];
    st.y[i] = system.positions[3 * size_t(i) + 1];
    st.z[i] = system.positions[3 * size_t(i) + 2];
    st.vx[i] = system.velocities[3 * size_t(i)];
    st.vy[i] = system.velocities[3 * size_t(i) + 1];
    st.vz[i] = system.velocities[3 * size_t(i) + 2];
    st.mass[i] = system.masses[i];
    st.accel[i] = units::kForceToAcceleration / system.masses[i];
  }
  st.moving.assign(seg.moving.begin(), seg.moving.end());
  const int num_beads = static_cast<int>(seg.bead_mass.size());
  if (num_beads > 0) bead_members(seg.bead_of, num_beads, st.bead_start, st.bead_atoms);
  st.bead_mass = seg.bead_mass;
  const int* moving = st.moving_or_null();

  // Forces (and, with_virial, the total virial) at the state's positions into st and `result`.
  ForceResult result;
  auto evaluate = [&](bool with_virial) {
    for (int i = 0; i < n; ++i) {
      system.positions[3 * size_t(i)] = st.x[i];
      system.positions[3 * size_t(i) + 1] = st.y[i];
      system.positions[3 * size_t(i) + 2] = st.z[i];
    }
    list_.update(system.box, system.positions);
    result.reset(system.size());
    result.per_atom_virials = false;
    result.compute_virial = with_virial;
    result.compute_energy = true;  // (the device's site kernel always writes the energies)
    potential_->accumulate(system, list_, result);
    result.sum_totals();
    for (int i = 0; i < n; ++i) {
      st.fx[i] = result.forces[3 * size_t(i)];
      st.fy[i] = result.forces[3 * size_t(i) + 1];
      st.fz[i] = result.forces[3 * size_t(i) + 2];
    }
  };
  if (system.positions != last_positions_ || system.box.cell() != last_cell_) list_.build(system.box, system.positions);
  const bool barostat = seg.cell.barostat != 0;
  // The virial of the last force evaluation (a barostat reads it at the next step).
  Mat3 last_virial{};
  if (forces_valid && out.forces.size() == 3 * size_t(n)) {
    for (int i = 0; i < n; ++i) {
      st.fx[i] = out.forces[3 * size_t(i)];
      st.fy[i] = out.forces[3 * size_t(i) + 1];
      st.fz[i] = out.forces[3 * size_t(i) + 2];
    }
    last_virial = out.virial;
  } else {
    evaluate(barostat);
    last_virial = result.virial;
  }

  const double dt = seg.time_step;
  const double c1_half = langevin ? std::exp(-0.5 * dt / seg.tau_temperature) : 0.0;
  const double c2_half = std::sqrt(1.0 - c1_half * c1_half);
  const double c1_full = langevin ? std::exp(-dt / seg.tau_temperature) : 0.0;
  const double c2_full = std::sqrt(1.0 - c1_full * c1_full);
  const double nf = double(seg.degrees_of_freedom);
  const int chain_length = static_cast<int>(thermostat.chain_velocity.size());
  std::vector<double> chain = thermostat.chain_velocity;
  chain.insert(chain.end(), thermostat.chain_position.begin(), thermostat.chain_position.end());
  double rescaling_bath = 0.0;

  // Target temperature (K) of step k (0-based), as the device reads it from its step clock.
  auto temperature = [&](long long k) {
    return kernels::ramp_temperature(seg.temperature_start, seg.temperature_end, seg.run_step, k + 1, seg.run_length);
  };
  // The GPU's kernels of one step, in its order (gpu_segment.cu: launch_step).
  auto kick = [&](double h, double drift_h) {
    const bool fused = num_beads == 0;
    for (int i = 0; i < n; ++i)
      kernels::kick_drift_atom(i, h, fused ? drift_h : 0.0, moving, st.accel.data(), st.fx.data(), st.fy.data(),
                               st.fz.data(), st.vx.data(), st.vy.data(), st.vz.data(), st.x.data(), st.y.data(),
                               st.z.data());
    if (fused) return;
    st.constrain_beads(false);
    if (drift_h != 0.0) st.drift(drift_h);
  };
  auto ornstein_uhlenbeck = [&](long long k, double c1, double c2, int half, double drift_h) {
    const bool fused = num_beads == 0;
    const double kt = kernels::mul_rn(units::kBoltzmann, temperature(k));
    const uint64_t counter = 2ULL * static_cast<uint64_t>(k) + half;
    for (int i = 0; i < n; ++i)
      st.bath[i] += kernels::langevin_o_atom(i, c1, c2, kt, seg.seed, counter, moving, st.mass.data(), st.vx.data(),
                                             st.vy.data(), st.vz.data(), fused ? drift_h : 0.0, st.x.data(),
                                             st.y.data(), st.z.data());
    if (fused) return;
    st.constrain_beads(true);
    if (drift_h != 0.0) st.drift(drift_h);
  };
  auto chain_half = [&](long long k) {
    const double kt = kernels::mul_rn(units::kBoltzmann, temperature(k));
    const double a = kernels::nose_hoover_chain_half(chain.data(), chain.data() + chain_length, chain_length,
                                                     2.0 * st.kinetic_energy(), nf, kt,
                                                     seg.tau_temperature * seg.tau_temperature, dt);
    for (int i = 0; i < n; ++i) kernels::scale_velocity_atom(i, a, nullptr, st.vx.data(), st.vy.data(), st.vz.data());
  };
  auto rescale = [&](long long k) {
    const double k_target = kernels::target_kinetic_energy(nf, temperature(k));
    const double r1 = bussi ? seg.bussi_draws[2 * size_t(k)] : 0.0;
    const double chi2 = bussi ? seg.bussi_draws[2 * size_t(k) + 1] : 0.0;
    const double ke = st.kinetic_energy();
    double alpha = 1.0;
    if (ke > 0) {
      alpha = kernels::velocity_rescaling_factor(bussi, ke, k_target, nf, dt / seg.tau_temperature, r1, chi2);
      rescaling_bath += ke * (1.0 - alpha * alpha);
    }
    for (int i = 0; i < n; ++i) kernels::scale_velocity_atom(i, alpha, moving, st.vx.data(), st.vy.data(), st.vz.data());
  };

  // The cell step (gpu_segment.cu: cell_step and scale_atoms): the deformation, then the barostat
  // with the pressure of the last virial and the current velocities in the deformed cell.
  const int draws_per_step = kernels::barostat_draws(seg.cell);
  auto cell_step = [&](long long k) {
    double h[9], mu[9];
    for (int r = 0; r < 9; ++r) h[r] = system.box.cell()[r / 3][r % 3];
    if (seg.cell.deform) {
      kernels::deformation_matrix(seg.cell, seg.run_step + k, 1, dt, mu);
      kernels::transform_rows(mu, h);
      st.transform(mu, false);
    }
    if (barostat) {
      const double volume = std::fabs(kernels::determinant3(h));
      const Mat3 kin = st.kinetic_tensor();
      double p[9], p0[9];
      for (int r = 0; r < 9; ++r) p[r] = (last_virial[r / 3][r % 3] + kin[r / 3][r % 3]) / volume;
      kernels::target_pressure(seg.cell, seg.run_step + k, seg.run_length, p0);
      const double kt = kernels::mul_rn(units::kBoltzmann, temperature(k));
      const double* draws = seg.barostat_draws.data() + size_t(k) * draws_per_step;
      if (kernels::barostat_matrix(seg.cell, p, p0, volume, kt, dt, draws, mu)) {
        kernels::transform_rows(mu, h);
        st.transform(mu, seg.cell.barostat == 2);
      }
    }
    Mat3 cell{};
    for (int r = 0; r < 9; ++r) cell[r / 3][r % 3] = h[r];
    system.box = Box(cell, system.box.pbc());
  };

  records.assign(seg.record_steps.size(), DeviceRecord{});
  size_t next_record = 0;
  for (long k = 0; k < seg.steps; ++k) {
    const bool recorded = next_record < seg.record_steps.size() && seg.record_steps[next_record] == k + 1;
    const bool with_virial = recorded || (k + 1 == seg.steps && seg.observables);
    if (nhc) chain_half(k);
    if (obabo) ornstein_uhlenbeck(k, c1_half, c2_half, 0, 0.0);
    if (langevin && !obabo) {
      kick(0.5 * dt, 0.5 * dt);
      ornstein_uhlenbeck(k, c1_full, c2_full, 0, 0.5 * dt);
    } else {
      kick(0.5 * dt, dt);
    }
    if (seg.updates_cell()) cell_step(k);
    evaluate(with_virial || barostat);
    last_virial = result.virial;
    kick(0.5 * dt, 0.0);
    if (nhc) chain_half(k);
    if (obabo) ornstein_uhlenbeck(k, c1_half, c2_half, 1, 0.0);
    if (bussi || berendsen) rescale(k);
    if (recorded) {
      DeviceRecord& r = records[next_record++];
      r.step = k + 1;
      r.forces.per_atom_virials = false;
      if (seg.record_forces) {
        r.forces.forces = result.forces;
        r.forces.energies = result.energies;
      }
      r.forces.energy = result.energy;
      r.forces.virial = result.virial;
      if (seg.record_state) {
        r.kinetic_energy = st.kinetic_energy();
        r.kinetic = st.kinetic_tensor();
        r.bath_energy = rescaling_bath;
        for (double b : st.bath) r.bath_energy += b;
        r.chain_velocity.assign(chain.begin(), chain.begin() + chain_length);
        r.chain_position.assign(chain.begin() + chain_length, chain.end());
      }
      if (seg.updates_cell()) {
        r.cell = system.box.cell();
        r.has_cell = true;
      }
    }
  }

  // The state back to the system and `out`, as GpuNEP leaves them.
  for (int i = 0; i < n; ++i) {
    system.positions[3 * size_t(i)] = st.x[i];
    system.positions[3 * size_t(i) + 1] = st.y[i];
    system.positions[3 * size_t(i) + 2] = st.z[i];
    system.velocities[3 * size_t(i)] = st.vx[i];
    system.velocities[3 * size_t(i) + 1] = st.vy[i];
    system.velocities[3 * size_t(i) + 2] = st.vz[i];
  }
  if (seg.steps > 0 || !(forces_valid && out.forces.size() == 3 * size_t(n))) {
    out.forces = result.forces;
    out.energies = result.energies;
    out.energy = result.energy;
    out.virial = seg.observables ? result.virial : Mat3{};
  }
  last_positions_ = system.positions;
  last_cell_ = system.box.cell();
  out.virials.assign(9 * size_t(n), 0.0);
  out.per_atom_virials = false;
  out.compute_virial = out.compute_energy = seg.observables;
  double bath = rescaling_bath;
  for (double b : st.bath) bath += b;
  thermostat.bath_energy += bath;
  std::copy(chain.begin(), chain.begin() + chain_length, thermostat.chain_velocity.begin());
  std::copy(chain.begin() + chain_length, chain.end(), thermostat.chain_position.begin());
}

}  // namespace nepcg
