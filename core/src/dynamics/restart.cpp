// Restart files: a small text header with the integrator state (numbers in the shortest exact
// decimal form, the random-number state verbatim) followed by the system as an extended-XYZ
// frame with velocities, so a continued run is bit-identical to an uninterrupted one.
#include <fstream>
#include <sstream>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "nepcg/simulator.hpp"

namespace nepcg {

void Simulator::write_restart(const std::string& path) const {
  std::ofstream out(path);
  if (!out) throw IOError("Simulator: cannot open '" + path + "' for writing");
  auto num = [](double x) { return text::format_double(x); };
  out << "nepcg-restart 1\n";
  out << "step " << step_ << " run_step " << run_step_ << " run_length " << run_length_ << "\n";
  out << "time " << num(time_) << " time_step " << num(time_step_) << " target_temperature "
      << num(target_temperature_) << " bath_energy " << num(bath_energy_) << " nhc_tau " << num(nhc_tau_) << "\n";
  out << "nhc " << nhc_velocity_.size();
  for (double x : nhc_velocity_) out << " " << num(x);
  for (double x : nhc_position_) out << " " << num(x);
  out << "\n";
  out << "deform_lengths0 " << num(deform_lengths0_[0]) << " " << num(deform_lengths0_[1]) << " "
      << num(deform_lengths0_[2]) << "\n";
  out << "random " << random_.state() << "\n";
  write_extxyz_frame(out, system_);
  // The neighbour list's build state: rebuilding from it reproduces the entry order exactly.
  out << "neighbor_list " << (list_.num_builds() > 0 ? 1 : 0) << "\n";
  if (list_.num_builds() > 0) {
    System ref = system_;
    ref.box = Box(list_.reference_cell(), list_.reference_pbc());
    ref.positions = list_.reference_positions();
    ref.velocities.clear();
    ref.info.clear();
    ref.arrays.clear();
    write_extxyz_frame(out, ref);
  }
  if (!out) throw IOError("Simulator: error while writing '" + path + "'");
}

void Simulator::read_restart(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("Simulator: cannot open '" + path + "' for reading");
  std::string line;
  long line_no = 0;
  auto next = [&](const char* key) {
    if (!std::getline(in, line)) throw FileFormatError(path, line_no + 1, std::string("missing '") + key + "' line");
    ++line_no;
    std::istringstream ss(line);
    std::string k;
    ss >> k;
    if (k != key) throw FileFormatError(path, line_no, std::string("expected '") + key + "', got '" + k + "'");
    return std::string(line.begin() + std::min(line.size(), k.size() + 1), line.end());
  };
  auto field = [&](std::istringstream& ss, const char* name) {
    std::string k, v;
    ss >> k >> v;
    double x;
    if (k != name || !text::parse_double(v, x))
      throw FileFormatError(path, line_no, std::string("expected '") + name + " <number>'");
    return x;
  };
  if (next("nepcg-restart") != "1") throw FileFormatError(path, 1, "unsupported restart version");
  std::istringstream a(next("step"));
  long step;
  a >> step;
  const double run_step = field(a, "run_step"), run_length = field(a, "run_length");
  std::istringstream b(next("time"));
  double time;
  {
    std::string v;
    b >> v;
    if (!text::parse_double(v, time)) throw FileFormatError(path, line_no, "bad time");
  }
  const double time_step = field(b, "time_step"), target = field(b, "target_temperature");
  const double bath = field(b, "bath_energy"), tau = field(b, "nhc_tau");
  std::istringstream c(next("nhc"));
  size_t m = 0;
  c >> m;
  std::vector<double> xi(m), eta(m);
  for (auto* v : {&xi, &eta})
    for (double& x : *v) {
      std::string t;
      c >> t;
      if (!text::parse_double(t, x)) throw FileFormatError(path, line_no, "bad Nose-Hoover chain state");
    }
  std::istringstream d(next("deform_lengths0"));
  Vec3 l0;
  for (double& x : l0) {
    std::string t;
    d >> t;
    if (!text::parse_double(t, x)) throw FileFormatError(path, line_no, "bad deformation lengths");
  }
  const std::string rng = next("random");
  ExtxyzReader reader(in, path);
  System s;
  if (!reader.next(s)) throw FileFormatError(path, line_no + 1, "missing the system frame");
  if (s.size() != system_.size())
    throw InputError("Simulator: the restart file has " + std::to_string(s.size()) + " atoms; this simulator has " +
                     std::to_string(system_.size()));
  std::string nl_line;
  if (!std::getline(in, nl_line) || nl_line.rfind("neighbor_list", 0) != 0)
    throw FileFormatError(path, 0, "missing the 'neighbor_list' section after the system frame");
  list_ = NeighborList(list_.cutoff(), list_.skin(), list_.secondary_cutoff(), list_.half_only());
  if (nl_line == "neighbor_list 1") {
    System ref;
    if (!reader.next(ref) || ref.size() != s.size())
      throw FileFormatError(path, 0, "missing or wrong neighbour-list reference frame");
    list_.build(ref.box, ref.positions);
  }
  system_ = std::move(s);
  if (system_.velocities.empty()) system_.velocities.assign(3 * system_.size(), 0.0);
  step_ = step, run_step_ = static_cast<long>(run_step), run_length_ = static_cast<long>(run_length);
  time_ = time, time_step_ = time_step, target_temperature_ = target, bath_energy_ = bath, nhc_tau_ = tau;
  nhc_velocity_ = xi, nhc_position_ = eta;
  deform_lengths0_ = l0;
  random_.set_state(rng);
  forces_valid_ = false;
  resume_ = true;
}

}  // namespace nepcg
