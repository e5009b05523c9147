#include "nepcg/ensemble.hpp"

#include <cmath>
#include <string>

#include "nepcg/error.hpp"

namespace nepcg {

void Ensemble::validate() const {
  auto fail = [](const std::string& m) { throw InputError("Ensemble: " + m); };
  if (has_thermostat()) {
    if (!(temperature_start > 0) || !(temperature_end > 0) || !std::isfinite(temperature_start) ||
        !std::isfinite(temperature_end))
      fail("thermostat temperatures must be positive and finite (K)");
    if (!(tau_temperature > 0)) fail("tau_temperature must be positive (fs)");
    if (thermostat == ThermostatKind::NoseHooverChain && (chain_length < 1 || chain_length > 20))
      fail("chain_length must be 1 ... 20");
  }
  if (has_barostat()) {
    if (!(tau_pressure > 0)) fail("tau_pressure must be positive (fs)");
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        const bool used = coupling == PressureCoupling::Triclinic || r == c;
        if (used && !(modulus[r][c] > 0))
          fail("the elastic modulus estimate of every coupled component must be positive (GPa)");
        if (!std::isfinite(pressure_start[r][c]) || !std::isfinite(pressure_end[r][c]))
          fail("target pressures must be finite");
      }
  }
  for (double r : strain_rate)
    if (!std::isfinite(r) || std::fabs(r) >= 1.0) fail("strain rates must be finite and below 1/fs in magnitude");
  if (remove_drift_interval < 0) fail("remove_drift_interval must be >= 0");
  if (cell_interval < 1) fail("cell_interval must be >= 1 (steps)");
  if (bead_group_method >= 0 && (barostat != BarostatKind::None || deforms()))
    fail("the bead (centre-of-mass) constraint needs a fixed cell: no barostat or deformation");
  if (bead_group_method >= 0 && fixed_group_method >= 0)
    fail("the bead constraint and fixed groups cannot be combined (a single-atom bead is already fixed)");
}

kernels::CellControl Ensemble::cell_control() const {
  kernels::CellControl c;
  c.deform = deforms() ? 1 : 0;
  c.barostat = barostat == BarostatKind::Berendsen ? 1 : barostat == BarostatKind::StochasticCellRescaling ? 2 : 0;
  c.coupling = coupling == PressureCoupling::Isotropic ? 0 : coupling == PressureCoupling::Orthorhombic ? 1 : 2;
  c.tau = tau_pressure;
  for (int a = 0; a < 3; ++a) {
    c.strain_rate[a] = strain_rate[a];
    for (int b = 0; b < 3; ++b) {
      c.modulus[3 * a + b] = modulus[a][b];
      c.pressure_start[3 * a + b] = pressure_start[a][b];
      c.pressure_end[3 * a + b] = pressure_end[a][b];
    }
  }
  return c;
}

}  // namespace nepcg
