// Thermostats: Nose-Hoover chain (Martyna-Tuckerman-Klein), Berendsen, Bussi stochastic velocity
// rescaling (Bussi, Donadio & Parrinello, JCP 126, 014101 (2007)) and the Langevin O step.
// Energy taken out of the system is booked in bath_energy_ for the conserved quantity.
#include <algorithm>
#include <cmath>

#include "nepcg/simulator.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

void Simulator::nose_hoover_half(const Ensemble& e, double dt) {
  const int m = static_cast<int>(nhc_velocity_.size());
  const double kt = units::kBoltzmann * target_temperature_;
  const double nf = degrees_of_freedom();
  const double tau2 = e.tau_temperature * e.tau_temperature;
  auto q = [&](int j) { return (j == 0 ? nf : 1.0) * kt * tau2; };  // eV fs^2
  double k2 = 2.0 * kinetic_energy();
  auto& xi = nhc_velocity_;
  auto force = [&](int j) {
    return j == 0 ? (k2 - nf * kt) / q(0) : (q(j - 1) * xi[j - 1] * xi[j - 1] - kt) / q(j);
  };
  const double d4 = 0.25 * dt, d8 = 0.125 * dt;
  // Down the chain.
  xi[m - 1] += d4 * force(m - 1);
  for (int j = m - 2; j >= 0; --j) {
    const double s = std::exp(-d8 * xi[j + 1]);
    xi[j] = (xi[j] * s + d4 * force(j)) * s;
  }
  // Scale the particle velocities.
  const double scale = std::exp(-0.5 * dt * xi[0]);
  for (double& v : system_.velocities) v *= scale;
  k2 *= scale * scale;
  for (int j = 0; j < m; ++j) nhc_position_[j] += 0.5 * dt * xi[j];
  // Up the chain.
  for (int j = 0; j < m - 1; ++j) {
    const double s = std::exp(-d8 * xi[j + 1]);
    xi[j] = (xi[j] * s + d4 * force(j)) * s;
  }
  xi[m - 1] += d4 * force(m - 1);
}

void Simulator::rescale_velocities(const Ensemble& e, double dt) {
  const double k = kinetic_energy();
  if (!(k > 0)) return;
  const double nf = degrees_of_freedom();
  const double k_target = 0.5 * nf * units::kBoltzmann * target_temperature_;
  double alpha;
  if (e.thermostat == ThermostatKind::Berendsen) {
    alpha = std::sqrt(std::max(0.0, 1.0 + dt / e.tau_temperature * (k_target / k - 1.0)));
  } else {  // Bussi: the exact solution of the stochastic kinetic-energy equation over dt
    const double c = std::exp(-dt / e.tau_temperature);
    const double r1 = random_.normal();
    const double s = random_.chi_squared(static_cast<long>(nf) - 1);
    const double alpha2 = c + (1.0 - c) * (s + r1 * r1) * k_target / (nf * k) +
                          2.0 * r1 * std::sqrt(c * (1.0 - c) * k_target / (nf * k));
    alpha = std::sqrt(alpha2);
    // Sign of alpha (Bussi et al., appendix); negative only for tiny nf and extreme draws.
    if (r1 + std::sqrt(c * nf * k / ((1.0 - c) * k_target)) < 0) alpha = -alpha;
  }
  for (size_t i = 0; i < system_.size(); ++i)
    if (moving_[i])
      for (int d = 0; d < 3; ++d) system_.velocities[3 * i + d] *= alpha;
  bath_energy_ += k * (1.0 - alpha * alpha);
}

void Simulator::langevin_o(double dt, double tau) {
  const double c1 = std::exp(-dt / tau), c2 = std::sqrt(1.0 - c1 * c1);
  const double kt = units::kBoltzmann * target_temperature_;
  const double k0 = kinetic_energy();
  auto& v = system_.velocities;
  for (size_t i = 0; i < system_.size(); ++i) {
    if (!moving_[i]) continue;
    const double sigma = std::sqrt(kt / (system_.masses[i] * units::kMassVelocity2ToEnergy));
    for (int d = 0; d < 3; ++d) v[3 * i + d] = c1 * v[3 * i + d] + c2 * sigma * random_.normal();
  }
  constrain_beads();  // the noise acts on the unconstrained degrees of freedom only
  bath_energy_ += k0 - kinetic_energy();
}

}  // namespace nepcg
