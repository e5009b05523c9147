// Thermostat maths shared by the CPU Simulator (dynamics/thermostats.cpp) and the GPU MD segments
// (cuda/dynamics/gpu_segment.cu), so that the CPU tests of these thermostats (canonical
// distributions, conserved quantities, LAMMPS comparisons) vouch for the device's arithmetic.
//
// Units: kinetic energies and k_B T in eV, times in fs, chain velocities xi in 1/fs, chain
// positions eta dimensionless, thermostat masses Q = (N_f or 1) k_B T tau^2 in eV fs^2.
#pragma once

#include <cmath>

#include "nepcg/kernels/hd.hpp"

namespace nepcg::kernels {

/// Force on thermostat j of a Nose-Hoover chain of m (dG_j / Q_j, 1/fs^2): the first is driven by
/// twice the particles' kinetic energy k2 against N_f k_B T, each next one by its predecessor.
NEPCG_HD double nose_hoover_chain_force(const double* xi, int j, double k2, double nf, double kt, double tau2) {
  if (j == 0) return (k2 - nf * kt) / (nf * kt * tau2);
  const double q_prev = (j == 1 ? nf : 1.0) * kt * tau2;
  return (q_prev * xi[j - 1] * xi[j - 1] - kt) / (kt * tau2);
}

/// Half a time step (dt / 2) of a Nose-Hoover chain of m thermostats (Martyna, Tuckerman & Klein
/// integration: down the chain, scale the particles, up the chain). xi, eta: the chain state
/// (updated); k2: twice the particles' kinetic energy (eV) before the step; nf: degrees of
/// freedom; kt = k_B T (eV); tau2: tau^2 (fs^2). Returns the factor the caller multiplies every
/// particle velocity by.
NEPCG_HD double nose_hoover_chain_half(double* xi, double* eta, int m, double k2, double nf, double kt, double tau2,
                                       double dt) {
  const double d4 = 0.25 * dt, d8 = 0.125 * dt;
  xi[m - 1] += d4 * nose_hoover_chain_force(xi, m - 1, k2, nf, kt, tau2);
  for (int j = m - 2; j >= 0; --j) {
    const double s = exp(-d8 * xi[j + 1]);
    xi[j] = (xi[j] * s + d4 * nose_hoover_chain_force(xi, j, k2, nf, kt, tau2)) * s;
  }
  const double scale = exp(-0.5 * dt * xi[0]);
  k2 *= scale * scale;
  for (int j = 0; j < m; ++j) eta[j] += 0.5 * dt * xi[j];
  for (int j = 0; j < m - 1; ++j) {
    const double s = exp(-d8 * xi[j + 1]);
    xi[j] = (xi[j] * s + d4 * nose_hoover_chain_force(xi, j, k2, nf, kt, tau2)) * s;
  }
  xi[m - 1] += d4 * nose_hoover_chain_force(xi, m - 1, k2, nf, kt, tau2);
  return scale;
}

/// Velocity factor alpha of a Berendsen (bussi = false) or Bussi stochastic-rescaling (Bussi,
/// Donadio & Parrinello, JCP 126, 014101 (2007); bussi = true) step of dt: k = kinetic energy and
/// k_target = N_f k_B T / 2 (eV), dt_over_tau = dt / tau. Bussi's random numbers: r1 a standard
/// normal, chi2 a chi-squared deviate with N_f - 1 degrees of freedom. Needs k > 0.
NEPCG_HD double velocity_rescaling_factor(bool bussi, double k, double k_target, double nf, double dt_over_tau,
                                          double r1, double chi2) {
  if (!bussi) {
    const double a2 = 1.0 + dt_over_tau * (k_target / k - 1.0);
    return sqrt(a2 > 0.0 ? a2 : 0.0);
  }
  // The exact solution of the stochastic kinetic-energy equation over dt.
  const double c = exp(-dt_over_tau);
  const double a2 = c + (1.0 - c) * (chi2 + r1 * r1) * k_target / (nf * k) +
                    2.0 * r1 * sqrt(c * (1.0 - c) * k_target / (nf * k));
  const double alpha = sqrt(a2);
  // Sign of alpha (Bussi et al., appendix); negative only for tiny nf and extreme draws.
  return r1 + sqrt(c * nf * k / ((1.0 - c) * k_target)) < 0 ? -alpha : alpha;
}

}  // namespace nepcg::kernels
