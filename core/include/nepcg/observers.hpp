// Observers sample a running Simulator every `interval` steps. Results stay in memory (numpy
// arrays through the bindings) or go to files.
#pragma once

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "nepcg/vec3.hpp"

namespace nepcg {

class Simulator;
struct ForceResult;

class Observer {
 public:
  explicit Observer(long interval);
  virtual ~Observer() = default;
  long interval() const { return interval_; }
  /// Called once before the first step of a run.
  virtual void begin(const Simulator&) {}
  /// Called after every step whose number (counted from 1 within the run) is a multiple of interval.
  virtual void sample(const Simulator& sim) = 0;
  /// True when sample() reads nothing but sim.forces() (forces, site energies, energy, total
  /// virial). A run on a GPU then records these samples on the device without ending its
  /// stretch of steps there, and hands each to sample_forces() afterwards.
  virtual bool reads_only_forces() const { return false; }
  /// sample() from the results of the sample step (`forces`); `sim` is already further on (at the
  /// end of the device stretch that contained the step). Only called when reads_only_forces().
  virtual void sample_forces(const Simulator& sim, const ForceResult& forces);
  /// Called once after the last step of a run.
  virtual void end(const Simulator&) {}

 private:
  long interval_;
};

/// Thermodynamic log. Columns (see `columns()`): step, time (fs), temperature (K), kinetic,
/// potential and total energy (eV), conserved quantity of the ensemble (eV), pressure (GPa),
/// pressure tensor Pxx Pyy Pzz Pyz Pxz Pxy (GPa, including the kinetic part, positive =
/// compressive), volume (Å^3), density (g/cm^3), cell vectors ax ay az bx by bz cx cy cz (Å).
class ThermoObserver : public Observer {
 public:
  /// path: text file (appended per run when gpumd_format). gpumd_format: GPUMD's thermo.out
  /// (5 header lines per run, then T KE PE Pxx Pyy Pzz Pyz Pxz Pxy ax ay az bx by bz cx cy cz).
  explicit ThermoObserver(long interval, const std::string& path = "", bool gpumd_format = false);
  static std::vector<std::string> columns();
  void begin(const Simulator& sim) override;
  void sample(const Simulator& sim) override;
  const std::vector<double>& rows() const { return rows_; }  ///< row-major, columns().size() per row

 private:
  std::string path_;
  bool gpumd_format_;
  std::ofstream file_;
  std::vector<double> rows_;
};

/// Extended XYZ trajectory (OVITO-readable): positions, and optionally velocities and forces;
/// header with Time (fs), energy, virial and stress like GPUMD's dump_xyz.
class DumpObserver : public Observer {
 public:
  DumpObserver(long interval, const std::string& path, bool velocities = false, bool forces = false,
               bool append = false);
  void begin(const Simulator& sim) override;
  void sample(const Simulator& sim) override;

 private:
  std::string path_;
  bool velocities_, forces_, append_;
  std::ofstream file_;
};

/// Writes a restart file (Simulator::write_restart) every interval steps, overwriting it.
class RestartObserver : public Observer {
 public:
  RestartObserver(long interval, const std::string& path);
  void sample(const Simulator& sim) override;

 private:
  std::string path_;
};

/// Radial distribution function g(r) of all atoms (or of species a-b pairs) up to r_max,
/// time-averaged over samples; normalised by the ideal-gas shell count.
class RdfObserver : public Observer {
 public:
  RdfObserver(long interval, double r_max, int bins, const std::string& species_a = "",
              const std::string& species_b = "");
  void sample(const Simulator& sim) override;
  std::vector<double> radii() const;  ///< bin centres, Å
  std::vector<double> rdf() const;    ///< g(r) averaged over samples
  long samples() const { return samples_; }

 private:
  double r_max_;
  int bins_;
  std::string a_, b_;
  std::vector<double> histogram_;  // accumulated normalised g(r)
  long samples_ = 0;
};

/// Engineering strain (relative to the start of the run) and stress (GPa, positive = tensile,
/// i.e. minus the pressure tensor) for deformation runs. Columns: step, strain_x, strain_y,
/// strain_z, sigma_xx, sigma_yy, sigma_zz, sigma_yz, sigma_xz, sigma_xy.
class StressStrainObserver : public Observer {
 public:
  explicit StressStrainObserver(long interval);
  void begin(const Simulator& sim) override;
  void sample(const Simulator& sim) override;
  const std::vector<double>& rows() const { return rows_; }

 private:
  Vec3 lengths0_{};
  std::vector<double> rows_;
};

}  // namespace nepcg
