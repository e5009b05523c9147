// Interpreter of GPUMD run.in files (see nepcg/run_input.hpp for the supported keywords).
#include "nepcg/run_input.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "nepcg/load_potential.hpp"
#include "nepcg/mean_force.hpp"
#include "nepcg/simulator.hpp"

namespace nepcg {
namespace {

struct Line {
  long number;
  std::vector<std::string> tokens;
};

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || (!name.empty() && name[0] == '/')) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

class Interpreter {
 public:
  Interpreter(std::string input, std::string dir, const std::function<void(const std::string&)>& log)
      : input_(std::move(input)), dir_(std::move(dir)), log_(log) {}

  void execute() {
    text::refuse_directory(input_, "run.in");
    std::ifstream in(input_, std::ios::binary);
    if (!in) throw IOError("run.in: cannot open '" + input_ + "' for reading");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    std::string all = buffer.str();
    if (all.compare(0, 3, "\xEF\xBB\xBF") == 0) all.erase(0, 3);  // a UTF-8 byte-order mark
    // Lines end in \n, \r\n or \r (old Mac editors).
    std::vector<Line> lines;
    long n = 0;
    for (size_t start = 0; start < all.size();) {
      size_t end = all.find_first_of("\r\n", start);
      if (end == std::string::npos) end = all.size();
      Line l{++n, {}};
      const std::string text = all.substr(start, end - start);  // (split's views point into it)
      for (auto t : text::split(text::strip_comment(text))) l.tokens.emplace_back(t);
      if (!l.tokens.empty()) lines.push_back(l);
      start = end + (all.compare(end, 2, "\r\n") == 0 ? 2 : 1);
    }
    for (const auto& l : lines) {
      // Errors of the values a command passes on (a Simulator or observer refusing them) name the
      // line too; a run that fails names the line of its `run`.
      try {
        command(l);
      } catch (const FileFormatError&) {
        throw;
      } catch (const InputError& e) {
        fail(l, e.what());
      } catch (const RuntimeError& e) {
        throw RuntimeError(input_ + ":" + std::to_string(l.number) + ": '" + l.tokens[0] + "': " + e.what());
      } catch (const IOError& e) {  // (a potential or output file that cannot be opened)
        throw IOError(input_ + ":" + std::to_string(l.number) + ": '" + l.tokens[0] + "': " + e.what());
      }
    }
    if (runs_ == 0)  // (an empty or truncated run.in would otherwise "succeed" doing nothing)
      throw FileFormatError(input_, n, "no 'run N' line: nothing was run");
  }

 private:
  [[noreturn]] void fail(const Line& l, const std::string& reason) const {
    throw FileFormatError(input_, l.number, "'" + l.tokens[0] + "': " + reason);
  }
  double real(const Line& l, size_t k) const {
    double v;
    if (k >= l.tokens.size()) fail(l, "missing value " + std::to_string(k));
    if (!text::parse_double(l.tokens[k], v)) fail(l, "'" + l.tokens[k] + "' is not a number");
    return v;
  }
  long integer(const Line& l, size_t k) const {
    long long v;
    if (k >= l.tokens.size()) fail(l, "missing value " + std::to_string(k));
    if (!text::parse_int(l.tokens[k], v)) fail(l, "'" + l.tokens[k] + "' is not an integer");
    return static_cast<long>(v);
  }
  void say(const std::string& s) const {
    if (log_) log_(s);
  }

  const System& model() {
    if (!model_loaded_) {
      const std::string path = join_path(dir_, "model.xyz");
      ExtxyzReader reader(path);
      if (!reader.next(system_)) throw FileFormatError(path, 0, "no frame in model.xyz");
      if (system_.size() == 0) throw FileFormatError(path, 1, "model.xyz has no atoms");
      for (size_t m = 0; m < system_.groups.size(); ++m)
        for (size_t i = 0; i < system_.size(); ++i)
          if (system_.groups[m][i] < 0)
            throw FileFormatError(path, static_cast<long>(i) + 3,
                                  "group labels must be >= 0 (atom " + std::to_string(i) + ", grouping method " +
                                      std::to_string(m) + ": " + std::to_string(system_.groups[m][i]) + ")");
      model_loaded_ = true;
    }
    return system_;
  }

  Simulator& simulator(const Line& l) {
    if (!potential_) fail(l, "no potential given before this command");
    if (!sim_) {
      const bool has_velocities = !model().velocities.empty();
      sim_ = std::make_unique<Simulator>(model(), potential_, 1.0, seed_);
      if (!has_velocities) sim_->set_temperature(initial_temperature_);
    }
    return *sim_;
  }

  void command(const Line& l) {
    const std::string& k = l.tokens[0];
    const size_t nt = l.tokens.size();
    if (k == "potential") {
      if (nt != 2) fail(l, "expected 'potential FILE'");
      if (sim_) fail(l, "changing the potential after a run is not supported");
      if (potential_) fail(l, "one potential per run.in is supported (GPUMD can add several)");
      potential_ = load_potential(join_path(dir_, l.tokens[1]));
      say("potential " + l.tokens[1] + " (" + potential_->name() + ", cutoff " +
          text::format_double(potential_->cutoff()) + " A)");
    } else if (k == "velocity") {
      if (nt != 2 && nt != 4) fail(l, "expected 'velocity T [seed S]'");
      initial_temperature_ = real(l, 1);
      if (!(initial_temperature_ >= 0) || !std::isfinite(initial_temperature_))
        fail(l, "the temperature must be finite and >= 0 K");
      if (nt == 4) {
        if (l.tokens[2] != "seed") fail(l, "expected 'seed' before the seed value");
        seed_ = static_cast<uint64_t>(integer(l, 3));
      } else {
        // As GPUMD: without a seed every run draws other velocities (and thermostat noise).
        seed_ = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
        if (!model().velocities.empty())  // (GPUMD too takes model.xyz's velocities then)
          say("velocity: model.xyz has velocities, which the run starts from; seed " + std::to_string(seed_) +
              " for the thermostat noise (write 'velocity T seed S' to repeat a run)");
        else
          say("velocity: seed " + std::to_string(seed_) + " (write 'velocity T seed S' to repeat a run)");
      }
      if (sim_) sim_->set_temperature(initial_temperature_);
    } else if (k == "time_step") {
      if (nt != 2) fail(l, "expected 'time_step DT' (fs); the max-displacement option is not supported");
      time_step_ = real(l, 1);
      // (0 would also turn the coupling times, counted in steps, into 0 fs)
      if (!(time_step_ > 0) || !std::isfinite(time_step_)) fail(l, "the time step must be a number > 0 (fs)");
    } else if (k == "ensemble") {
      ensemble(l);
    } else if (k == "fix") {
      if (nt == 2) {
        fixed_method_ = 0, fixed_group_ = static_cast<int>(integer(l, 1));
      } else if (nt == 3) {
        fixed_method_ = static_cast<int>(integer(l, 1)), fixed_group_ = static_cast<int>(integer(l, 2));
      } else {
        fail(l, "expected 'fix [method] group'");
      }
      if (fixed_method_ < 0 || fixed_group_ < 0) fail(l, "the grouping method and group must be >= 0");
    } else if (k == "deform") {
      deform(l);
    } else if (k == "dump_thermo") {
      if (nt != 2) fail(l, "expected 'dump_thermo N'");
      observers_.push_back(std::make_shared<ThermoObserver>(integer(l, 1), join_path(dir_, "thermo.out"), true));
    } else if (k == "dump_exyz") {
      if (nt < 2 || nt > 5) fail(l, "expected 'dump_exyz N [has_velocity [has_force [has_potential]]]'");
      DumpOptions o;
      o.append = true;
      bool* flags[3] = {&o.velocities, &o.forces, &o.energies};
      for (size_t q = 2; q < nt; ++q) {
        const long v = integer(l, q);
        if (v != 0 && v != 1) fail(l, "has_velocity, has_force and has_potential are 0 or 1");
        *flags[q - 2] = v == 1;
      }
      observers_.push_back(std::make_shared<DumpObserver>(integer(l, 1), join_path(dir_, "dump.xyz"), o));
    } else if (k == "dump_xyz") {
      dump_xyz(l);
    } else if (k == "dump_restart") {
      if (nt != 2) fail(l, "expected 'dump_restart N'");
      // GPUMD's restart.xyz: model.xyz of the current state (velocities, masses, groups),
      // replaced at every sample; copy it to model.xyz to go on.
      DumpOptions o;
      o.velocities = o.masses = true;
      o.overwrite = true;
      observers_.push_back(std::make_shared<DumpObserver>(integer(l, 1), join_path(dir_, "restart.xyz"), o));
    } else if (k == "replicate") {
      if (nt != 4) fail(l, "expected 'replicate na nb nc'");
      if (sim_) fail(l, "replicate must come before the first run");
      const System copy = model();
      system_ = replicated(copy, static_cast<int>(integer(l, 1)), static_cast<int>(integer(l, 2)),
                           static_cast<int>(integer(l, 3)));
      replicated_ = true;
      say("replicate: " + std::to_string(system_.size()) + " atoms");
    } else if (k == "dump_cg") {
      // GPUMD's coarse-graining data (NEP-CG): see run(); bead_name.txt is read at the run
      if (nt != 3) fail(l, "expected 'dump_cg interval grouping_method'");
      dump_cg_interval_ = integer(l, 1);
      dump_cg_method_ = static_cast<int>(integer(l, 2));
      if (dump_cg_interval_ < 1) fail(l, "the interval must be >= 1 step");
      if (dump_cg_method_ < 0) fail(l, "the grouping method must be >= 0");
    } else if (k == "run") {
      run(l);
    } else {
      fail(l, "unknown or unsupported keyword");
    }
  }

  void run(const Line& l) {
    if (l.tokens.size() != 2) fail(l, "expected 'run N'");
    const long steps = integer(l, 1);
    if (!ensemble_set_) fail(l, "no ensemble given for this run");
    ++runs_;
    Simulator& sim = simulator(l);
    // GPUMD counts the coupling times in steps and the deformation in Å per step, whatever the
    // order of `time_step` and `ensemble`/`deform` lines: converted with the time step of the run.
    Ensemble e = ensemble_;
    e.tau_temperature *= time_step_;
    e.tau_pressure *= time_step_;
    e.fixed_group_method = fixed_method_, e.fixed_group = fixed_group_;
    for (int q = 0; q < 3; ++q) {
      if (deform_per_step_[q] == 0.0) continue;
      if (!(time_step_ > 0)) fail(l, "a deformation needs a time step > 0 fs");
      // GPUMD changes the box length by A every step: an engineering strain rate A / (L0 dt).
      e.strain_rate[q] = deform_per_step_[q] / (sim.system().box.cell()[q][q] * time_step_);
    }
    // The temperature of dump_cg's kinetic correction: the ensemble's final target, or for nve
    // the one left by the last thermostatted run (GPUMD's T_2), else the `velocity` temperature.
    if (e.thermostat != ThermostatKind::None) last_target_temperature_ = e.temperature_end;
    std::vector<std::shared_ptr<Observer>> observers = observers_;
    if (dump_cg_interval_ > 0) {
      // GPUMD (built with -DUSE_NEPCG) holds the beads of grouping method 0 in nve and QTB runs;
      // pynepcg holds them in the runs that have dump_cg, under any of its thermostats.
      const System& s = sim.system();
      if (s.groups.empty()) fail(l, "dump_cg needs beads: a group column in model.xyz (grouping method 0 is held)");
      if (replicated_)  // (the copies keep their group labels, as in GPUMD: beads would span copies)
        fail(l, "dump_cg after replicate: the copies keep model.xyz's group labels, so every bead would span all "
                "copies; label the beads of the whole system in model.xyz instead");
      if (dump_cg_method_ >= static_cast<int>(s.groups.size()))
        fail(l, "dump_cg: grouping method " + std::to_string(dump_cg_method_) + " does not exist (model.xyz has " +
                    std::to_string(s.groups.size()) + ")");
      e.bead_group_method = 0;
      observers.push_back(std::make_shared<DumpCgObserver>(dump_cg_interval_, dump_cg_method_, bead_names(l),
                                                          join_path(dir_, "train.xyz"),
                                                          last_target_temperature_ >= 0 ? last_target_temperature_
                                                                                        : initial_temperature_));
    }
    const auto t0 = std::chrono::steady_clock::now();
    sim.run(steps, e, time_step_, observers);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::ostringstream msg;
    msg << "run " << steps << " steps: T = " << sim.temperature() << " K, speed "
        << (s > 0 ? steps * double(sim.system().size()) / s : 0.0) << " atom*step/second";
    say(msg.str());
    // As in GPUMD, ensemble, fix, deform and outputs act on the next run only.
    observers_.clear();
    dump_cg_interval_ = 0;
    ensemble_set_ = false;
    fixed_method_ = fixed_group_ = -1;
    deform_per_step_ = {0.0, 0.0, 0.0};
  }

  /// GPUMD's bead_name.txt beside run.in: one name per atom (a bead takes its first atom's).
  std::vector<std::string> bead_names(const Line& l) {
    const std::string path = join_path(dir_, "bead_name.txt");
    std::ifstream in(path);
    if (!in) fail(l, "dump_cg needs " + path + " (one bead name per atom, one per line), which cannot be opened");
    std::vector<std::string> names;
    std::string line;
    long number = 0;
    while (std::getline(in, line)) {
      ++number;
      const auto t = text::split(line);
      if (t.empty()) continue;
      if (t.size() != 1) throw FileFormatError(path, number, "expected one name per line");
      names.emplace_back(t[0]);
    }
    if (names.size() != model().size())
      throw FileFormatError(path, number, "has " + std::to_string(names.size()) + " names; model.xyz has " +
                                              std::to_string(model().size()) + " atoms (one name per atom, in order)");
    return names;
  }

  void ensemble(const Line& l) {
    const size_t nt = l.tokens.size();
    if (nt < 2) fail(l, "missing the ensemble name");
    const std::string& name = l.tokens[1];
    Ensemble e;
    auto thermostat = [&](ThermostatKind kind) {
      e.thermostat = kind;
      e.temperature_start = real(l, 2);
      e.temperature_end = real(l, 3);
      e.tau_temperature = real(l, 4);  // steps until the run (see run())
      if (!(e.tau_temperature >= 1)) fail(l, "the temperature coupling T_coup must be >= 1 (time steps)");
    };
    if (name == "nve") {
      if (nt != 2) fail(l, "nve takes no parameters");
    } else if (name == "nvt_ber" || name == "nvt_bdp" || name == "nvt_nhc" || name == "nvt_lan" || name == "nvt_bao") {
      if (nt != 5) fail(l, "expected 'ensemble " + name + " T1 T2 tau_T'");
      thermostat(name == "nvt_ber"   ? ThermostatKind::Berendsen
                 : name == "nvt_bdp" ? ThermostatKind::Bussi
                 : name == "nvt_nhc" ? ThermostatKind::NoseHooverChain
                                     : ThermostatKind::Langevin);
      e.splitting = name == "nvt_lan" ? LangevinSplitting::OBABO : LangevinSplitting::BAOAB;
    } else if (name == "npt_ber" || name == "npt_scr") {
      // GPUMD: npt_ber uses the Berendsen thermostat, npt_scr the Bussi thermostat.
      if (nt < 5) fail(l, "expected T1 T2 tau_T and a pressure block");
      const size_t np = nt - 5;
      if (np != 3 && np != 7 && np != 13)
        fail(l, "expected T1 T2 tau_T then 'p C tau_p', 'pxx pyy pzz Cxx Cyy Czz tau_p' or the 6+6+1 triclinic form");
      thermostat(name == "npt_ber" ? ThermostatKind::Berendsen : ThermostatKind::Bussi);
      if (real(l, 4) > 100000) e.thermostat = ThermostatKind::None;  // GPUMD: tau_T > 1e5 means NPH
      e.barostat = name == "npt_ber" ? BarostatKind::Berendsen : BarostatKind::StochasticCellRescaling;
      e.tau_pressure = real(l, nt - 1);  // steps until the run
      if (!(e.tau_pressure >= 1)) fail(l, "the pressure coupling p_coup must be >= 1 (time steps)");
      if (np == 3) {
        e.coupling = PressureCoupling::Isotropic;
        const double p = real(l, 5), c = real(l, 6);
        for (int a = 0; a < 3; ++a) e.pressure_start[a][a] = e.pressure_end[a][a] = p, e.modulus[a][a] = c;
      } else if (np == 7) {
        e.coupling = PressureCoupling::Orthorhombic;
        for (int a = 0; a < 3; ++a) {
          e.pressure_start[a][a] = e.pressure_end[a][a] = real(l, 5 + a);
          e.modulus[a][a] = real(l, 8 + a);
        }
      } else {
        e.coupling = PressureCoupling::Triclinic;
        const int idx[6][2] = {{0, 0}, {1, 1}, {2, 2}, {1, 2}, {0, 2}, {0, 1}};
        for (int q = 0; q < 6; ++q) {
          const int a = idx[q][0], b = idx[q][1];
          e.pressure_start[a][b] = e.pressure_start[b][a] = real(l, 5 + q);
          e.modulus[a][b] = e.modulus[b][a] = real(l, 11 + q);
        }
        e.pressure_end = e.pressure_start;
      }
    } else {
      fail(l, "ensemble '" + name + "' is not supported (nve, nvt_ber, nvt_bdp, nvt_nhc, nvt_lan, nvt_bao, npt_ber, npt_scr)");
    }
    try {
      e.validate();
    } catch (const InputError& err) {
      fail(l, err.what());
    }
    ensemble_ = e;
    ensemble_set_ = true;
  }

  // dump_xyz N FILE [group M ID] [precision single|double] {property ...} (GPUMD since 2025), or the
  // older form dump_xyz M ID N FILE {property ...} (M < 0: every atom). Positions wrapped into
  // the cell; a FILE ending in '*' gives one file per sample.
  void dump_xyz(const Line& l) {
    const size_t nt = l.tokens.size();
    const char* syntax = "expected 'dump_xyz N FILE [group M ID] [precision single|double] [property ...]'";
    if (nt < 3) fail(l, syntax);
    long long probe;
    const bool old_form = nt >= 5 && text::parse_int(l.tokens[1], probe) && text::parse_int(l.tokens[2], probe) &&
                          text::parse_int(l.tokens[3], probe);
    DumpOptions o;
    o.append = true;
    o.wrap = true;
    o.group_labels = false;
    long interval;
    std::string file;
    size_t q;
    if (old_form) {
      const long method = integer(l, 1);
      if (method >= 0) o.group_method = static_cast<int>(method), o.group_id = static_cast<int>(integer(l, 2));
      interval = integer(l, 3);
      file = l.tokens[4];
      q = 5;
    } else {
      interval = integer(l, 1);
      file = l.tokens[2];
      q = 3;
    }
    for (; q < nt; ++q) {
      const std::string& w = l.tokens[q];
      if (w == "group" && !old_form) {
        if (q + 2 >= nt) fail(l, "expected 'group M ID' (grouping method and group)");
        o.group_method = static_cast<int>(integer(l, q + 1));
        o.group_id = static_cast<int>(integer(l, q + 2));
        if (o.group_method < 0 || o.group_id < 0) fail(l, "the grouping method and group must be >= 0");
        q += 2;
      } else if (w == "precision") {
        // Accepted for GPUMD's inputs; every value is written with the shortest decimals that
        // read back to the same double, which holds both of GPUMD's precisions.
        if (q + 1 >= nt || (l.tokens[q + 1] != "single" && l.tokens[q + 1] != "double"))
          fail(l, "expected 'precision single' or 'precision double'");
        ++q;
      } else if (w == "mass") {
        o.masses = true;
      } else if (w == "velocity") {
        o.velocities = true;
      } else if (w == "force") {
        o.forces = true;
      } else if (w == "potential") {
        o.energies = true;
      } else if (w == "virial") {
        o.virials = true;
      } else if (w == "unwrapped_position") {
        o.unwrapped = true;
      } else if (w == "group_labels" || (w == "group" && old_form)) {
        o.group_labels = true;
      } else if (w == "charge" || w == "bec") {
        fail(l, "'" + w + "' needs a potential with charges, which pynepcg does not have");
      } else {
        fail(l, "property '" + w + "' is not supported (mass, velocity, force, potential, virial, unwrapped_position, "
                "group_labels; options group M ID, precision single|double)");
      }
    }
    observers_.push_back(std::make_shared<DumpObserver>(interval, join_path(dir_, file), o));
  }

  void deform(const Line& l) {
    const size_t nt = l.tokens.size();
    if (nt != 5 && nt != 7) fail(l, "expected 'deform A x y z' or 'deform Ax Ay Az x y z' (Å per step, flags 0/1)");
    for (int q = 0; q < 3; ++q) {
      const double a = nt == 5 ? real(l, 1) : real(l, 1 + q);
      const long flag = integer(l, nt - 3 + q);
      if (flag != 0 && flag != 1) fail(l, "the axis flags are 0 or 1");
      if (!std::isfinite(a)) fail(l, "the deformation per step must be finite");
      deform_per_step_[q] = flag ? a : 0.0;  // Å per step; a strain rate at the run
    }
  }

  std::string input_, dir_;
  std::function<void(const std::string&)> log_;
  System system_;
  bool model_loaded_ = false;
  std::shared_ptr<const Potential> potential_;
  std::unique_ptr<Simulator> sim_;
  double time_step_ = 1.0, initial_temperature_ = 300.0;
  double last_target_temperature_ = -1.0;  // < 0: none yet (the `velocity` temperature is used)
  long dump_cg_interval_ = 0;               // 0: no dump_cg in this run
  bool replicated_ = false;
  int dump_cg_method_ = 0;
  bool ensemble_set_ = false;
  long runs_ = 0;  // `run` lines executed
  uint64_t seed_ = 0;
  Ensemble ensemble_;
  int fixed_method_ = -1, fixed_group_ = -1;
  std::array<double, 3> deform_per_step_{0.0, 0.0, 0.0};  // Å per step (GPUMD's deform)
  std::vector<std::shared_ptr<Observer>> observers_;
};

}  // namespace

void run_gpumd_input(const std::string& input, const std::string& directory,
                     const std::function<void(const std::string&)>& log) {
  std::string dir = directory;
  if (dir.empty()) {
    const size_t slash = input.find_last_of('/');
    dir = slash == std::string::npos ? "" : input.substr(0, slash);
  }
  Interpreter(input, dir, log).execute();
}

}  // namespace nepcg
