// The cell update of an MD step whose barostat and deformation act every step: the deformation,
// then the barostat (Simulator: between the drift and the forces). Shared by the host Simulator
// (dynamics/barostats.cpp), the GPU's device segments (cuda/dynamics/gpu_segment.cu: one device
// thread) and their CPU emulation (dynamics/emulated_device.cpp), so that the CPU tests vouch for
// the device's cell arithmetic.
//
// Conventions: 3x3 matrices are row-major double[9]; a cell holds the lattice vectors a, b, c as
// rows (Å); a scaling matrix mu maps r -> mu r (positions and every cell row). Pressures are
// eV/Å^3 here (positive = compressive), GPa in CellControl; moduli GPa; times fs.
#pragma once

#include <cmath>

#include "nepcg/kernels/hd.hpp"
#include "nepcg/units.hpp"

namespace nepcg::kernels {

/// What changes the cell every step (Ensemble's deformation and barostat, as plain numbers).
struct CellControl {
  int deform = 0;                  ///< 1: constant engineering strain rate along the axes below
  double strain_rate[3] = {0.0, 0.0, 0.0};  ///< 1/fs
  int barostat = 0;                ///< 0 none, 1 Berendsen, 2 stochastic cell rescaling
  int coupling = 0;                ///< 0 isotropic, 1 orthorhombic (per axis), 2 triclinic
  double modulus[9] = {};          ///< GPa per component; > 2000 GPa (or <= 0) leaves it alone
  double tau = 1000.0;             ///< fs
  double pressure_start[9] = {}, pressure_end[9] = {};  ///< target pressure tensor ramp, GPa
};

/// Whether the barostat acts on component (a, b): not on deformed axes, off-diagonal only with
/// triclinic coupling, and only for a modulus in (0, 2000] GPa.
NEPCG_HD bool barostat_couples(const CellControl& c, int a, int b) {
  if (c.strain_rate[a] != 0.0 || c.strain_rate[b] != 0.0) return false;
  if (c.coupling != 2 && a != b) return false;
  return c.modulus[3 * a + b] > 0.0 && c.modulus[3 * a + b] <= 2000.0;
}

/// Standard normal draws one barostat step takes (stochastic cell rescaling: one per coupled
/// component, in the order barostat_matrix reads them; 0 for Berendsen or no barostat).
NEPCG_HD int barostat_draws(const CellControl& c) {
  if (c.barostat != 2) return 0;
  if (c.coupling == 0) return barostat_couples(c, 0, 0) ? 1 : 0;
  int k = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = a; b < 3; ++b) k += barostat_couples(c, a, b) ? 1 : 0;
  return k;
}

NEPCG_HD void identity3(double m[9]) {
  for (int k = 0; k < 9; ++k) m[k] = (k % 4 == 0) ? 1.0 : 0.0;
}

/// Deformation over `steps` steps from step run_step of the run (time step dt): the diagonal
/// mu_aa = (1 + rate_a t1) / (1 + rate_a t0) of a constant engineering strain rate.
NEPCG_HD void deformation_matrix(const CellControl& c, long long run_step, long long steps, double dt, double mu[9]) {
  const double t0 = double(run_step) * dt, t1 = double(run_step + steps) * dt;
  identity3(mu);
  for (int a = 0; a < 3; ++a) mu[4 * a] = (1.0 + c.strain_rate[a] * t1) / (1.0 + c.strain_rate[a] * t0);
}

/// Target pressure (eV/Å^3) during step run_step (0-based) of a run of run_length steps.
NEPCG_HD void target_pressure(const CellControl& c, long long run_step, long long run_length, double p0[9]) {
  const double f = run_length > 0 ? double(run_step + 1) / double(run_length) : 1.0;
  for (int k = 0; k < 9; ++k)
    p0[k] = (c.pressure_start[k] + f * (c.pressure_end[k] - c.pressure_start[k])) / units::kPressureToGPa;
}

/// Barostat scaling matrix for a time step dt from the pressure p and the target p0 (eV/Å^3), the
/// volume (Å^3) and k_B T (eV); `draws`: barostat_draws(c) standard normals. Berendsen:
/// d eps = -(beta / tau) (P0 - P) dt; stochastic cell rescaling (Bernetti & Bussi 2020) adds
/// sqrt(2 k_B T beta dt / (V tau)) R (half the variance off the diagonal). Isotropic coupling
/// scales by exp(d ln V / 3) with the volume compressibility 1/modulus; per component the
/// compressibility is 1/(3 modulus) (GPUMD's convention). Returns false when nothing is coupled
/// (isotropic) and mu must not be applied.
NEPCG_HD bool barostat_matrix(const CellControl& c, const double p[9], const double p0[9], double volume, double kt,
                              double dt, const double* draws, double mu[9]) {
  identity3(mu);
  const bool scr = c.barostat == 2;
  if (c.coupling == 0) {
    if (!barostat_couples(c, 0, 0)) return false;
    const double bt = units::kPressureToGPa / c.modulus[0];  // volume compressibility
    const double dp = (p0[0] + p0[4] + p0[8] - p[0] - p[4] - p[8]) / 3.0;
    // d ln V; no explicit kT/V drift: with noise ~ V^(-1/2) (Ito) the stationary density already
    // carries the Jacobian factor V, so p(V) ~ V^N exp(-(U + P0 V)/kT).
    double deps = -bt / c.tau * dp * dt;
    if (scr) deps = deps + std::sqrt(2.0 * kt * bt * dt / (volume * c.tau)) * draws[0];
    const double s = std::exp(deps / 3.0);
    mu[0] = mu[4] = mu[8] = s;
    return true;
  }
  int next = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = a; b < 3; ++b) {
      if (!barostat_couples(c, a, b)) continue;
      const double bt = units::kPressureToGPa / (3.0 * c.modulus[3 * a + b]);
      const double dp = p0[3 * a + b] - 0.5 * (p[3 * a + b] + p[3 * b + a]);
      double deps = -bt / c.tau * dp * dt;
      if (scr) deps += std::sqrt((a == b ? 2.0 : 1.0) * kt * bt * dt / (volume * c.tau)) * draws[next++];
      if (a == b) mu[4 * a] = std::exp(deps);
      else mu[3 * a + b] = mu[3 * b + a] = deps;
    }
  return true;
}

/// r -> mu r for one vector.
NEPCG_HD void transform_vector(const double mu[9], double& x, double& y, double& z) {
  const double r0 = x, r1 = y, r2 = z;
  x = mu[0] * r0 + mu[1] * r1 + mu[2] * r2;
  y = mu[3] * r0 + mu[4] * r1 + mu[5] * r2;
  z = mu[6] * r0 + mu[7] * r1 + mu[8] * r2;
}

/// Every row (lattice vector) of the cell h -> mu row.
NEPCG_HD void transform_rows(const double mu[9], double h[9]) {
  for (int r = 0; r < 3; ++r) transform_vector(mu, h[3 * r], h[3 * r + 1], h[3 * r + 2]);
}

/// det(m) = m0 . (m1 x m2) (rows m0, m1, m2).
NEPCG_HD double determinant3(const double m[9]) {
  const double c0 = m[4] * m[8] - m[5] * m[7], c1 = m[5] * m[6] - m[3] * m[8], c2 = m[3] * m[7] - m[4] * m[6];
  return m[0] * c0 + m[1] * c1 + m[2] * c2;
}

/// Inverse by cofactors (nepcg::inverse's formula; the caller checks det != 0).
NEPCG_HD void inverse3(const double m[9], double inv[9]) {
  const double d = determinant3(m);
  // Columns of the inverse: the cross products of rows (1,2), (2,0), (0,1), over det.
  const double c0[3] = {m[4] * m[8] - m[5] * m[7], m[5] * m[6] - m[3] * m[8], m[3] * m[7] - m[4] * m[6]};
  const double c1[3] = {m[7] * m[2] - m[8] * m[1], m[8] * m[0] - m[6] * m[2], m[6] * m[1] - m[7] * m[0]};
  const double c2[3] = {m[1] * m[5] - m[2] * m[4], m[2] * m[3] - m[0] * m[5], m[0] * m[4] - m[1] * m[3]};
  for (int r = 0; r < 3; ++r) {
    inv[3 * r] = c0[r] / d;
    inv[3 * r + 1] = c1[r] / d;
    inv[3 * r + 2] = c2[r] / d;
  }
}

}  // namespace nepcg::kernels
