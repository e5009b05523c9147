// Thermostats: Nose-Hoover chain (Martyna-Tuckerman-Klein), Berendsen, Bussi stochastic velocity
// rescaling (Bussi, Donadio & Parrinello, JCP 126, 014101 (2007)) and the Langevin O step.
// Energy taken out of the system is booked in bath_energy_ for the conserved quantity. The
// chain and rescaling formulas are kernels/thermostat.hpp, shared with the GPU MD segments.
#include <algorithm>
#include <cmath>

#include "nepcg/kernels/md_step.hpp"
#include "nepcg/kernels/thermostat.hpp"
#include "nepcg/simulator.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

void Simulator::nose_hoover_half(const Ensemble& e, double dt) {
  const int m = static_cast<int>(nhc_velocity_.size());
  const double kt = units::kBoltzmann * target_temperature_;
  const double scale = kernels::nose_hoover_chain_half(nhc_velocity_.data(), nhc_position_.data(), m,
                                                       2.0 * kinetic_energy(), degrees_of_freedom(), kt,
                                                       e.tau_temperature * e.tau_temperature, dt);
  for (double& v : system_.velocities) v *= scale;
}

void Simulator::rescale_velocities(const Ensemble& e, double dt) {
  const double k = kinetic_energy();
  const double nf = degrees_of_freedom();
  const bool bussi = e.thermostat == ThermostatKind::Bussi;
  double r1 = 0.0, chi2 = 0.0;
  if (bussi) {  // (the GPU segments take these two draws from the same stream, in this order,
                // for every step: drawn even when there is nothing to scale)
    r1 = random_.normal();
    chi2 = random_.chi_squared(static_cast<long>(nf) - 1);
  }
  if (!(k > 0)) return;
  const double k_target = kernels::target_kinetic_energy(nf, target_temperature_);
  const double alpha = kernels::velocity_rescaling_factor(bussi, k, k_target, nf, dt / e.tau_temperature, r1, chi2);
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
