// Training structures from extended-XYZ frames, with GPUMD's label conventions.
#include "nepcg/training/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"

namespace nepcg {

std::string TrainingStructure::where() const {
  if (source.empty()) return line > 0 ? "structure " + std::to_string(line) : "structure";
  return source + (line > 0 ? ":" + std::to_string(line) : "");
}

std::string missing_label_note(const std::vector<TrainingStructure>& data, const std::string& what) {
  if (data.empty()) return "";
  bool energy = false, forces = false;
  for (const auto& d : data) energy |= d.has_energy, forces |= d.has_forces;
  auto lower = [](std::string t) {
    for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return t;
  };
  // keys of the first structure that may hold the missing label under another name
  std::vector<std::string> like;
  for (const auto& [key, value] : data.front().system.info)
    if (!energy && lower(key).find("energy") != std::string::npos && lower(key) != "energy_weight") like.push_back(key);
  for (const auto& a : data.front().system.arrays)
    if (!forces && lower(a.name).find("force") != std::string::npos) like.push_back(a.name);
  std::string missing = !energy && !forces ? "an energy or forces" : !energy ? "an energy" : !forces ? "forces" : "";
  if (missing.empty()) return "";
  std::string note = what + ": no structure has " + missing + " (GPUMD's nep expects 'energy=' and a 'force' or " +
                     "'forces' column and stops without them; pynepcg trains on the labels there are)";
  if (!like.empty()) {
    note += "; unused keys:";
    for (const auto& k : like) note += " '" + k + "'";
    note += " (rename them to GPUMD's names to train on them)";
  }
  return note;
}

TrainingStructure make_training_structure(const System& frame, const std::string& source, long line) {
  TrainingStructure s;
  s.system = frame;
  s.source = source;
  s.line = line;
  const std::string at = s.where() + ": ";
  auto fail = [&](const std::string& m) -> void {
    if (!source.empty()) throw FileFormatError(source, line, m);
    throw InputError(at + m);
  };
  try {
    frame.validate();
  } catch (const InputError& e) {
    fail(e.what());
  }
  const size_t n = frame.size();
  if (n == 0) fail("a training structure needs at least one atom");
  if (!(std::abs(frame.box.volume()) > 0)) fail("a training structure needs a cell (Lattice) with non-zero volume");
  for (const char* key : {"energy", "virial", "stress", "weight", "energy_weight"})
    if (const InfoValue* v = frame.find_info(key))
      if (v->kind == InfoValue::Kind::Bool || v->kind == InfoValue::Kind::BoolArray)  // (energy=T: not 1 eV)
        fail(std::string("'") + key + "' must be numeric; got a boolean (T/F or a key without a value)");
  try {
    if (frame.reference_energy(s.energy)) {
      if (!std::isfinite(s.energy)) fail("energy is not finite");
      s.has_energy = true;
    }
    Mat3 w{};
    bool have_virial_key = frame.find_info("virial") != nullptr;
    if (frame.reference_virial(w)) {
      for (auto& row : w)
        for (double x : row)
          if (!std::isfinite(x)) fail("virial/stress is not finite");
      // Of each symmetric pair the later value of the 9-list wins (yx, zy, zx), as GPUMD.
      s.virial = {w[0][0], w[1][1], w[2][2], w[1][0], w[2][1], w[2][0]};
      s.has_virial = true;
      if (have_virial_key && frame.find_info("stress")) {
        System only_stress = frame;
        only_stress.erase_info("virial");
        Mat3 w2{};
        only_stress.reference_virial(w2);
        double worst = 0.0;
        for (int r = 0; r < 3; ++r)
          for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(w2[r][c] - w[r][c]) / n);
        if (worst > 1e-3) {
          std::ostringstream m;
          m << "virial and stress disagree by " << worst
            << " eV/atom (> 1e-3; remember stress is positive under tension); keep only one of them";
          fail(m.str());
        }
      }
    }
    if (const InfoValue* v = frame.find_info("weight")) {
      const auto x = v->as_reals("weight");
      if (x.size() != 1 || !(x[0] > 0 && x[0] <= 100)) fail("weight must be one number with 0 < weight <= 100");
      s.weight = x[0];
    }
    if (const InfoValue* v = frame.find_info("energy_weight")) {
      const auto x = v->as_reals("energy_weight");
      if (x.size() != 1 || !(x[0] >= 0 && std::isfinite(x[0]))) fail("energy_weight must be one number >= 0");
      s.energy_weight = x[0];
    }
    if (const InfoValue* v = frame.find_info("config_type")) s.config_type = v->text;
  } catch (const FileFormatError&) {
    throw;
  } catch (const InputError& e) {
    fail(e.what());
  }
  if (const PerAtomArray* f = frame.find_array("forces")) {
    if (f->kind != 'R' || f->ncols != 3) fail("forces must be a real array with 3 columns");
    s.forces = f->reals;
    for (size_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c)
        if (!std::isfinite(s.forces[3 * i + c]))
          fail("force of atom " + std::to_string(i) + " is not finite" +
               (source.empty() ? "" : " (line " + std::to_string(line + 2 + long(i)) + ")"));
    s.has_forces = true;
  }
  if (!s.has_energy && !s.has_forces && !s.has_virial)
    fail("the structure has no energy, forces, virial or stress to train on");
  return s;
}

std::vector<TrainingStructure> read_training_set(const std::string& path) {
  ExtxyzReader reader(path);
  std::vector<TrainingStructure> out;
  System frame;
  long line = 1;
  while (reader.next(frame)) {
    out.push_back(make_training_structure(frame, path, line));
    line += static_cast<long>(frame.size()) + 2;
  }
  if (out.empty()) throw FileFormatError(path, 0, "no structures in the file");
  return out;
}

namespace {

// FNV-1a, 64 bits.
struct Fnv1a {
  uint64_t h = 1469598103934665603ULL;
  void bytes(const void* p, size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    for (size_t k = 0; k < n; ++k) h = (h ^ c[k]) * 1099511628211ULL;
  }
  void number(double x) {
    if (x == 0.0) x = 0.0;  // -0 and +0 label the same thing
    bytes(&x, sizeof x);
  }
  void integer(uint64_t v) { bytes(&v, sizeof v); }
  void text(const std::string& s) {
    integer(s.size());
    bytes(s.data(), s.size());
  }
};

}  // namespace

uint64_t training_data_fingerprint(const std::vector<TrainingStructure>& data, const std::vector<double>& baseline) {
  Fnv1a f;
  if (!baseline.empty()) {
    f.integer(baseline.size());
    for (double x : baseline) f.number(x);
  }
  f.integer(data.size());
  for (const auto& s : data) {
    const System& sys = s.system;
    f.integer(sys.size());
    for (size_t i = 0; i < sys.size(); ++i) f.text(sys.species[sys.types[i]]);
    for (double x : sys.positions) f.number(x);
    for (const auto& row : sys.box.cell())
      for (double x : row) f.number(x);
    for (bool p : sys.box.pbc()) f.integer(p);
    f.integer(s.has_energy);
    if (s.has_energy) f.number(s.energy);
    f.integer(s.has_forces);
    if (s.has_forces)
      for (double x : s.forces) f.number(x);
    f.integer(s.has_virial);
    if (s.has_virial)
      for (double x : s.virial) f.number(x);
    f.number(s.weight);
    f.number(s.energy_weight);
  }
  return f.h;
}

void check_species(const std::vector<TrainingStructure>& data, const std::vector<std::string>& types,
                   const std::string& what) {
  for (const auto& s : data)
    for (const auto& name : s.system.species) {
      if (std::find(types.begin(), types.end(), name) != types.end()) continue;
      // Only complain about species that atoms actually use.
      bool used = false;
      for (size_t i = 0; i < s.size() && !used; ++i) used = s.system.species[s.system.types[i]] == name;
      if (!used) continue;
      std::string list;
      for (const auto& x : types) list += (list.empty() ? "" : " ") + x;
      const std::string m = what + ": species '" + name + "' is not in 'type' (" + list + ")";
      if (!s.source.empty()) throw FileFormatError(s.source, s.line, m);
      throw InputError(s.where() + ": " + m);
    }
}

}  // namespace nepcg
