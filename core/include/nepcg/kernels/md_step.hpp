// Per-atom and per-bead pieces of a velocity-Verlet step on structure-of-arrays state, shared by
// the GPU MD segments (cuda/dynamics/gpu_segment.cu: one CUDA thread per atom or bead) and their
// host emulation (dynamics/emulated_device.cpp: the same calls in a loop), so that the CPU tests of
// the emulation vouch for the device's arithmetic.
//
// Units: positions Å, velocities Å/fs, times fs, forces eV/Å, masses amu, energies eV;
// accel[i] = units::kForceToAcceleration / m_i (Å/fs^2 per eV/Å). Fixed atoms: moving[i] == 0
// (moving == nullptr: every atom moves).
#pragma once

#include <cmath>
#include <cstdint>

#include "nepcg/kernels/hd.hpp"
#include "nepcg/kernels/philox.hpp"
#include "nepcg/units.hpp"

namespace nepcg::kernels {

// Correctly rounded products and sums without fused multiply-adds on either side, so that a value
// the host also computes (the target temperature of a step) has the host's bits on the device.
NEPCG_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
NEPCG_HD double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

/// Target temperature (K) after step k (1-based) of a segment that starts at step run_step of a
/// run of run_length steps ramping from t_start to t_end (Simulator's ramp; run_length 0: t_end).
NEPCG_HD double ramp_temperature(double t_start, double t_end, long long run_step, long long k, long long run_length) {
  const double f = run_length > 0 ? double(run_step + k) / double(run_length) : 1.0;
  return add_rn(t_start, mul_rn(f, add_rn(t_end, -t_start)));
}

/// Target kinetic energy N_f k_B T / 2 (eV) of a velocity-rescaling thermostat, with the host's rounding.
NEPCG_HD double target_kinetic_energy(double nf, double temperature) {
  return mul_rn(mul_rn(mul_rn(0.5, nf), units::kBoltzmann), temperature);
}

/// v = (u, v, w), then (drift_dt != 0) x += v drift_dt.
NEPCG_HD void set_velocity_then_drift(int i, double u, double v, double w, double drift_dt, double* vx, double* vy,
                                      double* vz, double* x, double* y, double* z) {
  vx[i] = u;
  vy[i] = v;
  vz[i] = w;
  if (drift_dt != 0.0) {
    x[i] += drift_dt * u;
    y[i] += drift_dt * v;
    z[i] += drift_dt * w;
  }
}

/// v += accel F kick_dt (a fixed atom: v = 0), then (drift_dt != 0) x += v drift_dt.
NEPCG_HD void kick_drift_atom(int i, double kick_dt, double drift_dt, const int* moving, const double* accel,
                              const double* fx, const double* fy, const double* fz, double* vx, double* vy,
                              double* vz, double* x, double* y, double* z) {
  if (moving && !moving[i]) {
    vx[i] = vy[i] = vz[i] = 0.0;
    return;
  }
  const double a = accel[i] * kick_dt;
  set_velocity_then_drift(i, vx[i] + a * fx[i], vy[i] + a * fy[i], vz[i] + a * fz[i], drift_dt, vx, vy, vz, x, y, z);
}

/// x += v dt.
NEPCG_HD void drift_atom(int i, double dt, const double* vx, const double* vy, const double* vz, double* x, double* y,
                         double* z) {
  x[i] += dt * vx[i];
  y[i] += dt * vy[i];
  z[i] += dt * vz[i];
}

/// Bead constraint for bead b (atoms atoms[start[b] ... start[b + 1]), ascending): sums the bead's
/// momentum P_b in that order and subtracts P_b / M_b from its atoms' velocities. Returns the
/// kinetic energy removed, P_b^2 / (2 M_b) in eV.
NEPCG_HD double remove_bead_momentum(int b, const int* start, const int* atoms, const double* bead_mass,
                                     const double* mass, double* vx, double* vy, double* vz) {
  double p[3] = {0.0, 0.0, 0.0};
  for (int k = start[b]; k < start[b + 1]; ++k) {
    const int i = atoms[k];
    p[0] += mass[i] * vx[i];
    p[1] += mass[i] * vy[i];
    p[2] += mass[i] * vz[i];
  }
  const double M = bead_mass[b];
  const double u = p[0] / M, v = p[1] / M, w = p[2] / M;
  for (int k = start[b]; k < start[b + 1]; ++k) {
    const int i = atoms[k];
    vx[i] -= u;
    vy[i] -= v;
    vz[i] -= w;
  }
  return 0.5 * (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) / M * units::kMassVelocity2ToEnergy;
}

/// Ornstein-Uhlenbeck step v = c1 v + c2 sigma xi of a moving atom i at k_B T = kt (eV), the
/// normals from Philox (key `seed`, stream `stream`, counter); then (drift_dt != 0) x += v drift_dt.
/// Returns the kinetic energy it removed (eV; 0 for a fixed atom, which it leaves alone).
NEPCG_HD double langevin_o_atom_in_stream(int i, uint32_t stream, double c1, double c2, double kt, uint64_t seed,
                                          uint64_t counter, const int* moving, const double* mass, double* vx,
                                          double* vy, double* vz, double drift_dt, double* x, double* y, double* z) {
  if (moving && !moving[i]) return 0.0;
  double g0, g1, g2, g3;
  philox_normal2(seed, stream, counter, 0, g0, g1);
  philox_normal2(seed, stream, counter, 1, g2, g3);
  const double m = mass[i];
  const double sigma = std::sqrt(kt / (m * units::kMassVelocity2ToEnergy));
  const double u0 = vx[i], v0 = vy[i], w0 = vz[i];
  const double u = c1 * u0 + c2 * sigma * g0, v = c1 * v0 + c2 * sigma * g1, w = c1 * w0 + c2 * sigma * g2;
  set_velocity_then_drift(i, u, v, w, drift_dt, vx, vy, vz, x, y, z);
  return 0.5 * m * units::kMassVelocity2ToEnergy * ((u0 * u0 + v0 * v0 + w0 * w0) - (u * u + v * v + w * w));
}

/// The same with stream i (the atom's index in its own system).
NEPCG_HD double langevin_o_atom(int i, double c1, double c2, double kt, uint64_t seed, uint64_t counter,
                                const int* moving, const double* mass, double* vx, double* vy, double* vz,
                                double drift_dt, double* x, double* y, double* z) {
  return langevin_o_atom_in_stream(i, static_cast<uint32_t>(i), c1, c2, kt, seed, counter, moving, mass, vx, vy, vz,
                                   drift_dt, x, y, z);
}

/// v *= a (skipping fixed atoms when `moving` is given).
NEPCG_HD void scale_velocity_atom(int i, double a, const int* moving, double* vx, double* vy, double* vz) {
  if (moving && !moving[i]) return;
  vx[i] *= a;
  vy[i] *= a;
  vz[i] *= a;
}

}  // namespace nepcg::kernels
