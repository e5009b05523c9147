// Barostats (Berendsen; stochastic cell rescaling, Bernetti & Bussi, JCP 153, 114107 (2020),
// applied per axis for the anisotropic couplings) and constant-strain-rate deformation.
// Both scale positions and the cell with a matrix mu: r -> mu r.
#include <algorithm>
#include <cmath>
#include <string>

#include "nepcg/error.hpp"
#include "nepcg/kernels/cell_step.hpp"
#include "nepcg/simulator.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

void Simulator::scale_cell(const Mat3& mu, bool scale_velocities) {
  Mat3 cell = system_.box.cell();
  for (auto& row : cell) {
    const Vec3 r = row;
    for (int a = 0; a < 3; ++a) row[a] = mu[a][0] * r[0] + mu[a][1] * r[1] + mu[a][2] * r[2];
  }
  try {
    system_.box = Box(cell, system_.box.pbc());
  } catch (const InputError& e) {  // (not the user's cell: the barostat's or the deformation's)
    throw RuntimeError("Simulator: the run became unstable by step " + std::to_string(step_ + 1) +
                       ": the barostat or deformation made an invalid cell (" + e.what() +
                       "); a modulus estimate too small, a barostat time too short, or a pressure the system "
                       "cannot take");
  }
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

namespace {
Mat3 to_mat3(const double m[9]) {
  Mat3 r{};
  for (int k = 0; k < 9; ++k) r[k / 3][k % 3] = m[k];
  return r;
}
}  // namespace

void Simulator::deform(const Ensemble& e, double dt, long steps) {
  double mu[9];
  kernels::deformation_matrix(e.cell_control(), run_step_, steps, dt, mu);
  scale_cell(to_mat3(mu), false);
}

bool Simulator::cell_update_due(const Ensemble& e) const {
  return e.cell_interval > 1 && (e.has_barostat() || e.deforms()) && run_step_ % e.cell_interval == 0;
}

void Simulator::update_cell(const Ensemble& e, double dt) {
  const long steps = std::min<long>(e.cell_interval, std::max(1L, run_length_ - run_step_));
  if (e.deforms()) deform(e, dt, steps);
  if (e.has_barostat()) barostat(e, steps * dt);  // (the virial of the current forces)
}

// The shared cell-step maths (kernels/cell_step.hpp: the device runs the same) with the pressure
// of the last force evaluation's virial and the current velocities; the stochastic draws come from
// the Simulator's generator, one per coupled component.
void Simulator::barostat(const Ensemble& e, double dt) {
  const kernels::CellControl c = e.cell_control();
  const Mat3 p = pressure_with_virial(result_.virial);  // virial of the last force evaluation + current kinetic part
  double p9[9], p0[9], mu[9], draws[6];
  for (int k = 0; k < 9; ++k) p9[k] = p[k / 3][k % 3];
  kernels::target_pressure(c, run_step_, run_length_, p0);
  const int num_draws = kernels::barostat_draws(c);
  for (int k = 0; k < num_draws; ++k) draws[k] = random_.normal();
  const double kt = units::kBoltzmann * target_temperature_;
  if (!kernels::barostat_matrix(c, p9, p0, system_.box.volume(), kt, dt, draws, mu)) return;
  scale_cell(to_mat3(mu), c.barostat == 2);
}

}  // namespace nepcg
