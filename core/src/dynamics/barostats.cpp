// Barostats (Berendsen; stochastic cell rescaling, Bernetti & Bussi, JCP 153, 114107 (2020),
// applied per axis for the anisotropic couplings) and constant-strain-rate deformation.
// Both scale positions and the cell with a matrix mu: r -> mu r.
#include <algorithm>
#include <cmath>

#include "nepcg/error.hpp"
#include "nepcg/simulator.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

void Simulator::scale_cell(const Mat3& mu, bool scale_velocities) {
  Mat3 cell = system_.box.cell();
  for (auto& row : cell) {
    const Vec3 r = row;
    for (int a = 0; a < 3; ++a) row[a] = mu[a][0] * r[0] + mu[a][1] * r[1] + mu[a][2] * r[2];
  }
  system_.box = Box(cell, system_.box.pbc());
  auto& x = system_.positions;
  for (size_t i = 0; i < system_.size(); ++i) {
    const Vec3 r{x[3 * i], x[3 * i + 1], x[3 * i + 2]};
    for (int a = 0; a < 3; ++a) x[3 * i + a] = mu[a][0] * r[0] + mu[a][1] * r[1] + mu[a][2] * r[2];
  }
  if (scale_velocities) {
    const Mat3 inv = inverse(mu);
    auto& v = system_.velocities;
    for (size_t i = 0; i < system_.size(); ++i) {
      const Vec3 u{v[3 * i], v[3 * i + 1], v[3 * i + 2]};
      for (int a = 0; a < 3; ++a) v[3 * i + a] = inv[a][0] * u[0] + inv[a][1] * u[1] + inv[a][2] * u[2];
    }
  }
  forces_valid_ = false;
}

void Simulator::deform(const Ensemble& e, double dt, long steps) {
  const double t0 = run_step_ * dt, t1 = (run_step_ + steps) * dt;
  Mat3 mu{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  for (int a = 0; a < 3; ++a) mu[a][a] = (1.0 + e.strain_rate[a] * t1) / (1.0 + e.strain_rate[a] * t0);
  scale_cell(mu, false);
}

bool Simulator::cell_update_due(const Ensemble& e) const {
  return e.cell_interval > 1 && (e.has_barostat() || e.deforms()) && run_step_ % e.cell_interval == 0;
}

void Simulator::update_cell(const Ensemble& e, double dt) {
  const long steps = std::min<long>(e.cell_interval, std::max(1L, run_length_ - run_step_));
  if (e.deforms()) deform(e, dt, steps);
  if (e.has_barostat()) barostat(e, steps * dt);  // (the virial of the current forces)
}

void Simulator::barostat(const Ensemble& e, double dt) {
  const double volume = system_.box.volume();
  const Mat3 p = pressure_with_virial(result_.virial);  // virial of the last force evaluation + current kinetic part
  const Mat3 p0 = target_pressure(e);
  const double kt = units::kBoltzmann * target_temperature_;
  auto coupled = [&](int a, int b) {
    if (e.strain_rate[a] != 0.0 || e.strain_rate[b] != 0.0) return false;
    if (e.coupling != PressureCoupling::Triclinic && a != b) return false;
    return e.modulus[a][b] > 0.0 && e.modulus[a][b] <= 2000.0;
  };
  // compressibility of each component, 1/(eV/Å^3): GPUMD's convention beta = 1 / (3 C).
  auto beta = [&](int a, int b) { return units::kPressureToGPa / (3.0 * e.modulus[a][b]); };
  Mat3 mu{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  const bool scr = e.barostat == BarostatKind::StochasticCellRescaling;
  if (e.coupling == PressureCoupling::Isotropic) {
    if (!coupled(0, 0)) return;
    const double bt = units::kPressureToGPa / e.modulus[0][0];  // volume compressibility
    const double dp = (p0[0][0] + p0[1][1] + p0[2][2] - p[0][0] - p[1][1] - p[2][2]) / 3.0;
    double deps;  // change of ln V
    // d ln V = -(beta/tau)(P0 - P) dt + sqrt(2 kT beta dt / (V tau)) R. No explicit kT/V drift:
    // with noise ~ V^(-1/2) (Ito), the Fokker-Planck stationary density already carries the
    // Jacobian factor V, so p(V) ~ V^N exp(-(U + P0 V)/kT) (checked on an ideal gas).
    if (scr)
      deps = -bt / e.tau_pressure * dp * dt +
             std::sqrt(2.0 * kt * bt * dt / (volume * e.tau_pressure)) * random_.normal();
    else
      deps = -bt / e.tau_pressure * dp * dt;
    const double s = std::exp(deps / 3.0);
    mu = {{{s, 0, 0}, {0, s, 0}, {0, 0, s}}};
  } else {
    for (int a = 0; a < 3; ++a)
      for (int b = a; b < 3; ++b) {
        if (!coupled(a, b)) continue;
        const double bt = beta(a, b);
        const double dp = p0[a][b] - 0.5 * (p[a][b] + p[b][a]);
        double deps = -bt / e.tau_pressure * dp * dt;  // (no kT/V drift term: see above)
        if (scr) deps += std::sqrt((a == b ? 2.0 : 1.0) * kt * bt * dt / (volume * e.tau_pressure)) * random_.normal();
        if (a == b) mu[a][a] = std::exp(deps);
        else mu[a][b] = mu[b][a] = deps;
      }
  }
  scale_cell(mu, scr);
}

}  // namespace nepcg
