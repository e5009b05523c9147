// Thermo log, trajectory dump, radial distribution function and stress-strain records.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "nepcg/potential.hpp"
#include "nepcg/simulator.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

namespace {

/// One number in a printf format of GPUMD's output files (e.g. "%20.10e").
std::string gpumd_number(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

}  // namespace

Observer::Observer(long interval) : interval_(interval) {
  if (interval < 1) throw InputError("Observer: interval must be >= 1 step");
}

void Observer::sample_record(const Simulator&, const DeviceRecord&) {
  throw RuntimeError("Observer: this observer needs the host state; it cannot sample a device record");
}

// ------------------------------------------------------------------------------------ thermo

ThermoObserver::ThermoObserver(long interval, const std::string& path, bool gpumd_format)
    : Observer(interval), path_(path), gpumd_format_(gpumd_format) {}

std::vector<std::string> ThermoObserver::columns() {
  return {"step", "time", "temperature", "kinetic_energy", "potential_energy", "total_energy", "conserved_energy",
          "pressure", "pxx", "pyy", "pzz", "pyz", "pxz", "pxy", "volume", "density",
          "ax", "ay", "az", "bx", "by", "bz", "cx", "cy", "cz"};
}

void ThermoObserver::begin(const Simulator& sim) {
  if (path_.empty()) return;
  if (gpumd_format_) {
    if (!file_.is_open()) file_.open(path_, std::ios::app);
    if (!file_) throw IOError("thermo: cannot open '" + path_ + "' for writing");
    file_ << "# dump_thermo " << interval() << "\n# format_version 1\n# num_atoms " << sim.system().size()
          << "\n# dt_output " << gpumd_number("%.10e", interval() * sim.time_step()) << " fs\n"
          << "# columns T KE PE sxx syy szz syz sxz sxy ax ay az bx by bz cx cy cz\n";
    return;
  }
  if (file_.is_open()) return;
  file_.open(path_);
  if (!file_) throw IOError("thermo: cannot open '" + path_ + "' for writing");
  file_ << "#";
  for (const auto& c : columns()) file_ << " " << c;
  file_ << "\n# units: fs K eV eV eV eV GPa(x7) A^3 g/cm^3 A(x9)\n";
}

void ThermoObserver::sample(const Simulator& sim) {
  const double ke = sim.kinetic_energy(), pe = sim.potential_energy();
  Mat3 p{};
  if (sim.system().box.volume() > 0) p = sim.pressure_tensor();
  add_row(sim, double(sim.step()), sim.time(), sim.temperature(), ke, pe, sim.conserved_energy(), p,
          sim.system().box.cell(), sim.system().box.volume());
}

void ThermoObserver::sample_record(const Simulator& sim, const DeviceRecord& r) {
  Mat3 p{};
  const double volume = sim.volume(r);
  if (volume > 0) p = sim.pressure_tensor(r);
  add_row(sim, double(sim.step(r)), sim.time(r), sim.temperature(r), r.kinetic_energy, r.forces.energy,
          sim.conserved_energy(r), p, sim.cell(r), volume);
}

void ThermoObserver::add_row(const Simulator& sim, double step, double time, double temperature, double ke, double pe,
                             double conserved, const Mat3& p, const Mat3& cell, double volume) {
  const System& s = sim.system();
  double mass = 0.0;
  for (double m : s.masses) mass += m;
  const double g = units::kPressureToGPa;
  std::vector<double> row = {step, time, temperature, ke, pe, ke + pe, conserved,
                             g * (p[0][0] + p[1][1] + p[2][2]) / 3.0, g * p[0][0], g * p[1][1], g * p[2][2],
                             g * p[1][2], g * p[0][2], g * p[0][1], volume,
                             volume > 0 ? mass / volume * units::kDensityToGramPerCm3 : 0.0};
  for (const auto& r : cell)
    for (double x : r) row.push_back(x);
  rows_.insert(rows_.end(), row.begin(), row.end());
  if (file_.is_open() && gpumd_format_) {
    // GPUMD's columns: %20.10e each, no separator (the width leaves at least one blank)
    for (int k : {2, 3, 4, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22, 23, 24}) file_ << gpumd_number("%20.10e", row[k]);
    file_ << "\n";
    file_.flush();
  } else if (file_.is_open()) {
    for (size_t k = 0; k < row.size(); ++k) file_ << (k ? " " : "") << text::format_double(row[k]);
    file_ << "\n";
    file_.flush();
  }
}

// ------------------------------------------------------------------------------------ dump

DumpObserver::DumpObserver(long interval, const std::string& path, bool velocities, bool forces, bool append)
    : DumpObserver(interval, path, [&] {
        DumpOptions o;
        o.velocities = velocities, o.forces = forces, o.append = append;
        return o;
      }()) {}

DumpObserver::DumpObserver(long interval, const std::string& path, const DumpOptions& options)
    : Observer(interval), path_(path), options_(options), per_frame_files_(!path.empty() && path.back() == '*') {
  if (path.empty()) throw InputError("dump: the file name is empty");
  if (options.group_method >= 0 && options.group_id < 0)
    throw InputError("dump: the group id must be >= 0 (got " + std::to_string(options.group_id) + ")");
}

void DumpObserver::begin(const Simulator& sim) {
  const auto& groups = sim.system().groups;
  if (options_.group_method >= static_cast<int>(groups.size()))
    throw InputError("dump: grouping method " + std::to_string(options_.group_method) + " does not exist (the system has " +
                     std::to_string(groups.size()) + ")");
  if (options_.group_method >= 0 &&
      std::find(groups[options_.group_method].begin(), groups[options_.group_method].end(), options_.group_id) ==
          groups[options_.group_method].end())
    throw InputError("dump: group " + std::to_string(options_.group_id) + " of grouping method " +
                     std::to_string(options_.group_method) + " has no atoms");
  if (per_frame_files_ || options_.overwrite || file_.is_open()) return;
  file_.open(path_, options_.append ? std::ios::app : std::ios::trunc);
  if (!file_) throw IOError("dump: cannot open '" + path_ + "' for writing");
}

namespace {

// Per-atom array `name` of `ncols` reals per atom, taken from `values` for the atoms `atoms`.
PerAtomArray dump_column(const std::string& name, int ncols, const std::vector<double>& values,
                         const std::vector<size_t>& atoms) {
  PerAtomArray a;
  a.name = name;
  a.ncols = ncols;
  a.reals.reserve(atoms.size() * ncols);
  for (size_t i : atoms)
    for (int c = 0; c < ncols; ++c) a.reals.push_back(values[i * ncols + c]);
  return a;
}

}  // namespace

void DumpObserver::sample(const Simulator& sim) {
  const System& s = sim.system();
  const ForceResult& r = sim.forces();
  const DumpOptions& o = options_;
  std::vector<size_t> atoms;
  for (size_t i = 0; i < s.size(); ++i)
    if (o.group_method < 0 || s.groups[o.group_method][i] == o.group_id) atoms.push_back(i);

  System frame;
  frame.box = s.box;
  frame.species = s.species;
  frame.types.reserve(atoms.size());
  frame.positions.reserve(3 * atoms.size());
  frame.masses.reserve(atoms.size());
  std::vector<double> wrapped;
  if (o.wrap) {
    wrapped = s.positions;
    s.box.wrap(wrapped);
  }
  const std::vector<double>& positions = o.wrap ? wrapped : s.positions;
  for (size_t i : atoms) {
    frame.types.push_back(s.types[i]);
    frame.masses.push_back(s.masses[i]);
    for (int d = 0; d < 3; ++d) frame.positions.push_back(positions[3 * i + d]);
    if (o.velocities && !s.velocities.empty())
      for (int d = 0; d < 3; ++d) frame.velocities.push_back(s.velocities[3 * i + d]);
  }
  if (o.velocities && s.velocities.empty()) frame.velocities.assign(3 * atoms.size(), 0.0);
  if (o.group_labels)
    for (const auto& g : s.groups) {
      frame.groups.emplace_back();
      for (size_t i : atoms) frame.groups.back().push_back(g[i]);
    }
  frame.set_info("Time", InfoValue::real(sim.time()));
  frame.set_info("energy", InfoValue::real(r.energy));
  std::vector<double> w(9);
  for (int k = 0; k < 9; ++k) w[k] = r.virial[k / 3][k % 3];
  frame.set_info("virial", InfoValue::real_array(w));
  if (o.forces) frame.set_array(dump_column("forces", 3, r.forces, atoms));
  if (o.energies) frame.set_array(dump_column("energy_atom", 1, r.energies, atoms));
  if (o.unwrapped) frame.set_array(dump_column("unwrapped_position", 3, s.positions, atoms));
  if (o.virials) {
    // The Simulator's evaluations carry only the total virial (ForceResult::per_atom_virials);
    // GPUMD's per-atom partition needs one more evaluation at this sample.
    const ForceResult full = sim.potential().compute(s);
    frame.set_array(dump_column("virial", 9, full.virials, atoms));
  }
  if (per_frame_files_ || o.overwrite) {
    const std::string path =
        per_frame_files_ ? path_.substr(0, path_.size() - 1) + std::to_string(sim.step()) : path_;
    const std::string written = o.overwrite ? path + ".part" : path;
    {
      std::ofstream out(written, std::ios::trunc);
      if (!out) throw IOError("dump: cannot open '" + written + "' for writing");
      write_extxyz_frame(out, frame, o.masses);
      out.close();
      if (!out) throw IOError("dump: error while writing '" + written + "'");
    }
    if (o.overwrite && std::rename(written.c_str(), path.c_str()) != 0)
      throw IOError("dump: cannot replace '" + path + "' by '" + written + "'");
    return;
  }
  write_extxyz_frame(file_, frame, o.masses);
  file_.flush();
  if (!file_) throw IOError("dump: error while writing '" + path_ + "'");
}

// ------------------------------------------------------------------------------------ restart

RestartObserver::RestartObserver(long interval, const std::string& path) : Observer(interval), path_(path) {}

void RestartObserver::sample(const Simulator& sim) { sim.write_restart(path_); }

// ------------------------------------------------------------------------------------ RDF

RdfObserver::RdfObserver(long interval, double r_max, int bins, const std::string& a, const std::string& b)
    : Observer(interval), r_max_(r_max), bins_(bins), a_(a), b_(b), histogram_(bins, 0.0) {
  if (!(r_max > 0) || bins < 1) throw InputError("RDF: r_max must be positive and bins >= 1");
}

void RdfObserver::sample(const Simulator& sim) {
  const System& s = sim.system();
  const double volume = s.box.volume();
  if (!(volume > 0)) throw InputError("RDF: needs a periodic cell");
  NeighborList list(r_max_);
  list.build(s.box, s.positions);
  auto match = [&](size_t i, const std::string& name) { return name.empty() || s.species[s.types[i]] == name; };
  long na = 0, nb = 0;
  for (size_t i = 0; i < s.size(); ++i) na += match(i, a_), nb += match(i, b_);
  if (na == 0 || nb == 0) return;
  std::vector<double> h(bins_, 0.0);
  const double dr = r_max_ / bins_;
  const auto& off = list.offsets();
  for (size_t i = 0; i < s.size(); ++i) {
    if (!match(i, a_)) continue;
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      if (!match(list.neighbors()[e], b_)) continue;
      const double r = norm(list.pair_vector(i, e, s.positions, s.box));
      const int k = static_cast<int>(r / dr);
      if (k < bins_) h[k] += 1.0;
    }
  }
  const double density_b = nb / volume;
  for (int k = 0; k < bins_; ++k) {
    const double shell = 4.0 / 3.0 * 3.14159265358979323846 * (std::pow((k + 1) * dr, 3) - std::pow(k * dr, 3));
    histogram_[k] += h[k] / (na * density_b * shell);
  }
  ++samples_;
}

std::vector<double> RdfObserver::radii() const {
  std::vector<double> r(bins_);
  for (int k = 0; k < bins_; ++k) r[k] = (k + 0.5) * r_max_ / bins_;
  return r;
}

std::vector<double> RdfObserver::rdf() const {
  std::vector<double> g(histogram_);
  for (double& x : g) x = samples_ ? x / samples_ : 0.0;
  return g;
}

// ------------------------------------------------------------------------------------ stress-strain

StressStrainObserver::StressStrainObserver(long interval) : Observer(interval) {}

void StressStrainObserver::begin(const Simulator& sim) {
  if (rows_.empty())
    for (int a = 0; a < 3; ++a) lengths0_[a] = sim.system().box.cell()[a][a];
}

void StressStrainObserver::sample(const Simulator& sim) {
  const Mat3 p = sim.pressure_tensor();
  const auto& c = sim.system().box.cell();
  const double g = -units::kPressureToGPa;  // stress = -pressure, positive = tensile
  rows_.insert(rows_.end(), {double(sim.step()), c[0][0] / lengths0_[0] - 1.0, c[1][1] / lengths0_[1] - 1.0,
                             c[2][2] / lengths0_[2] - 1.0, g * p[0][0], g * p[1][1], g * p[2][2], g * p[1][2],
                             g * p[0][2], g * p[0][1]});
}

}  // namespace nepcg
