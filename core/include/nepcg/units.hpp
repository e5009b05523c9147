// Physical constants and unit conversions. Internal units: Å, eV, amu, fs, K (GPUMD's input
// units); pressures are eV/Å^3 internally and GPa in user-facing output.
#pragma once

namespace nepcg::units {

/// eV/K. GPUMD's and LAMMPS's (`units metal`) value, which the NEP spec prescribes, rather than
/// CODATA 2018's 8.617333262e-5 (1.2e-6 relative apart): temperatures, thermostats, initial
/// velocities and the mean-force kinetic correction then agree with theirs to round-off.
constexpr double kBoltzmann = 8.617343e-5;
constexpr double kElectronVolt = 1.602176634e-19;  ///< J
constexpr double kAtomicMass = 1.66053906660e-27;  ///< kg
/// amu Å^2 / fs^2 in eV: kinetic energy = 0.5 m v^2 * kMassVelocity2ToEnergy.
constexpr double kMassVelocity2ToEnergy = kAtomicMass * 1e-20 / 1e-30 / kElectronVolt;
/// acceleration (Å/fs^2) = force (eV/Å) / mass (amu) * kForceToAcceleration.
constexpr double kForceToAcceleration = 1.0 / kMassVelocity2ToEnergy;
/// eV/Å^3 in GPa.
constexpr double kPressureToGPa = kElectronVolt / 1e-30 / 1e9;
/// amu/Å^3 in g/cm^3.
constexpr double kDensityToGramPerCm3 = kAtomicMass * 1e3 / 1e-24;

}  // namespace nepcg::units
