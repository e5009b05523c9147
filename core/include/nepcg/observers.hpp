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
struct DeviceRecord;
struct ForceResult;

/// What a run on a GPU may record on the device for an observer instead of ending its stretch of
/// steps at the observer's samples: nothing (the sample needs the host state), the thermodynamic
/// state (energy, virial, kinetic energy and tensor, thermostat state) or that and the per-atom
/// forces and site energies.
enum class DeviceRecording { None, State, Forces };

class Observer {
 public:
  explicit Observer(long interval);
  virtual ~Observer() = default;
  long interval() const { return interval_; }
  /// Called once before the first step of a run.
  virtual void begin(const Simulator&) {}
  /// Called after every step whose number (counted from 1 within the run) is a multiple of interval.
  virtual void sample(const Simulator& sim) = 0;
  /// Anything but None: a run on a GPU records what the observer reads at its sample steps on
  /// the device, without ending its stretch of steps there, and hands each record to
  /// sample_record() afterwards.
  virtual DeviceRecording device_recording() const { return DeviceRecording::None; }
  /// sample() from a record of the sample step; `sim` is already further on (at the end of the
  /// device stretch that contained the step): read the step's values through the record and the
  /// Simulator's record accessors (Simulator::temperature(record), ...).
  virtual void sample_record(const Simulator& sim, const DeviceRecord& record);
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
  DeviceRecording device_recording() const override { return DeviceRecording::State; }
  void sample_record(const Simulator& sim, const DeviceRecord& record) override;
  const std::vector<double>& rows() const { return rows_; }  ///< row-major, columns().size() per row

 private:
  // One row from the state of a step (pressure p in eV/Å^3, unused without a periodic cell; the
  // cell rows in Å and the volume in Å^3 of that step).
  void add_row(const Simulator& sim, double step, double time, double temperature, double ke, double pe,
               double conserved, const Mat3& p, const Mat3& cell, double volume);
  std::string path_;
  bool gpumd_format_;
  std::ofstream file_;
  std::vector<double> rows_;
};

/// What a DumpObserver writes besides species and positions (GPUMD's dump_exyz / dump_xyz).
struct DumpOptions {
  bool velocities = false;  ///< vel:R:3, Å/fs
  bool forces = false;      ///< forces:R:3, eV/Å
  bool energies = false;    ///< energy_atom:R:1, site energies, eV
  bool virials = false;     ///< virial:R:9, per-atom virials W_i (eV; xx xy xz yx yy yz zx zy zz)
  bool masses = false;      ///< mass:R:1 always (otherwise only when not the elements' standard masses)
  /// true: positions wrapped into the cell (GPUMD's dump_xyz), false: as the Simulator holds them
  /// (unwrapped, continuous through boundary crossings).
  bool wrap = false;
  bool unwrapped = false;       ///< unwrapped_position:R:3 (with wrap: the continuous positions too)
  bool group_labels = true;     ///< group:I:M, the labels of every grouping method
  int group_method = -1;        ///< >= 0: only the atoms of group `group_id` of this grouping method
  int group_id = -1;
  bool append = false;          ///< append to an existing file instead of replacing it
  /// Every sample replaces the file (written beside it, then renamed: a restart file that is
  /// never half written).
  bool overwrite = false;
  /// A path ending in '*' writes one file per sample, the '*' replaced by the step number (GPUMD).
};

/// Extended XYZ trajectory (OVITO-, ASE- and calorine-readable): positions and the DumpOptions
/// columns; header with Time (fs), energy (eV), virial (eV) and pbc like GPUMD's dump files.
class DumpObserver : public Observer {
 public:
  DumpObserver(long interval, const std::string& path, bool velocities = false, bool forces = false,
               bool append = false);
  DumpObserver(long interval, const std::string& path, const DumpOptions& options);
  void begin(const Simulator& sim) override;
  void sample(const Simulator& sim) override;

 private:
  std::string path_;
  DumpOptions options_;
  bool per_frame_files_;  // path ends in '*'
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
