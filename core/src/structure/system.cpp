#include "nepcg/system.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "nepcg/elements.hpp"
#include "nepcg/error.hpp"

namespace nepcg {
namespace {

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

// Column names the extended-XYZ reader maps onto System fields (compared case-insensitively);
// an extra per-atom array may not use them, or it would not read back as itself.
bool reserved_array_name(const std::string& name) {
  static const char* reserved[] = {"species", "pos", "positions", "vel", "velo", "velocities",
                                   "mass", "masses", "group", "z", "force"};
  for (const char* r : reserved)
    if (iequals(name, r)) return true;
  return false;
}

void check_species_name(const std::string& name) {
  if (name.empty() || name.find_first_of(" \t\n\r\v\f") != std::string::npos)
    throw InputError("System: species names must be non-empty without blanks; got '" + name + "'");
}

}  // namespace

InfoValue InfoValue::string(const std::string& s) {
  InfoValue v;
  v.kind = Kind::String;
  v.text = s;
  return v;
}
InfoValue InfoValue::real(double x) {
  InfoValue v;
  v.kind = Kind::Real;
  v.reals = {x};
  return v;
}
InfoValue InfoValue::integer(long long i) {
  InfoValue v;
  v.kind = Kind::Integer;
  v.ints = {i};
  return v;
}
InfoValue InfoValue::boolean(bool b) {
  InfoValue v;
  v.kind = Kind::Bool;
  v.ints = {b ? 1 : 0};
  return v;
}
InfoValue InfoValue::real_array(const std::vector<double>& x) {
  InfoValue v;
  v.kind = Kind::RealArray;
  v.reals = x;
  return v;
}

std::vector<double> InfoValue::as_reals(const std::string& key) const {
  switch (kind) {
    case Kind::Real:
    case Kind::RealArray:
      return reals;
    case Kind::Integer:
    case Kind::IntegerArray:
    case Kind::Bool:
    case Kind::BoolArray:
      return std::vector<double>(ints.begin(), ints.end());
    default:
      throw InputError("System.info: '" + key + "' is not numeric; got '" + text + "'");
  }
}

size_t PerAtomArray::size() const {
  if (kind == 'R') return reals.size();
  if (kind == 'S') return texts.size();
  return ints.size();
}

double default_mass(const std::string& species) {
  const int z = atomic_number(species);
  return z > 0 ? atomic_mass(z) : 0.0;
}

System System::from_symbols(const std::vector<std::string>& names, const std::vector<double>& positions,
                            const Box& box, const std::vector<double>& masses) {
  System s;
  s.box = box;
  const size_t n = names.size();
  if (positions.size() != 3 * n)
    throw InputError("System: positions must have shape (N, 3) with N = " + std::to_string(n) + " species; got " +
                     std::to_string(positions.size()) + " values");
  if (!masses.empty() && masses.size() != n)
    throw InputError("System: masses must have N = " + std::to_string(n) + " values; got " +
                     std::to_string(masses.size()));
  s.positions = positions;
  s.types.resize(n);
  s.masses.resize(n);
  for (size_t i = 0; i < n; ++i) {
    s.types[i] = s.add_species(names[i]);
    if (!masses.empty()) {
      s.masses[i] = masses[i];
    } else {
      s.masses[i] = default_mass(names[i]);
      if (s.masses[i] <= 0.0)
        throw InputError("System: species '" + names[i] +
                         "' is not a chemical element, so its mass must be given (e.g. a mass column)");
    }
  }
  s.validate();
  return s;
}

int System::add_species(const std::string& name) {
  check_species_name(name);
  auto it = std::find(species.begin(), species.end(), name);
  if (it != species.end()) return static_cast<int>(it - species.begin());
  species.push_back(name);
  return static_cast<int>(species.size()) - 1;
}

std::vector<std::string> System::atom_species() const {
  std::vector<std::string> out(types.size());
  for (size_t i = 0; i < types.size(); ++i) out[i] = species[types[i]];
  return out;
}

System replicated(const System& s, int na, int nb, int nc) {
  if (na < 1 || nb < 1 || nc < 1) throw InputError("replicate: the numbers of copies must be >= 1");
  const size_t n = s.size(), copies = size_t(na) * nb * nc;
  if (copies > size_t(1) << 31 || n * copies > size_t(1) << 31)
    throw InputError("replicate: " + std::to_string(n * copies) + " atoms are too many");
  System r = s;
  r.positions.clear(), r.velocities.clear(), r.masses.clear(), r.types.clear();
  for (auto& g : r.groups) g.clear();
  for (auto& a : r.arrays) a.reals.clear(), a.ints.clear(), a.texts.clear();
  const Mat3& h = s.box.cell();
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < nb; ++j)
      for (int k = 0; k < nc; ++k) {
        for (size_t q = 0; q < n; ++q)
          for (int d = 0; d < 3; ++d) r.positions.push_back(s.positions[3 * q + d] + i * h[0][d] + j * h[1][d] + k * h[2][d]);
        r.velocities.insert(r.velocities.end(), s.velocities.begin(), s.velocities.end());
        r.masses.insert(r.masses.end(), s.masses.begin(), s.masses.end());
        r.types.insert(r.types.end(), s.types.begin(), s.types.end());
        for (size_t m = 0; m < s.groups.size(); ++m)
          r.groups[m].insert(r.groups[m].end(), s.groups[m].begin(), s.groups[m].end());
        for (size_t a = 0; a < s.arrays.size(); ++a) {
          const PerAtomArray& from = s.arrays[a];
          PerAtomArray& to = r.arrays[a];
          to.reals.insert(to.reals.end(), from.reals.begin(), from.reals.end());
          to.ints.insert(to.ints.end(), from.ints.begin(), from.ints.end());
          to.texts.insert(to.texts.end(), from.texts.begin(), from.texts.end());
        }
      }
  Mat3 cell = h;
  const int times[3] = {na, nb, nc};
  for (int a = 0; a < 3; ++a)
    for (int d = 0; d < 3; ++d) cell[a][d] *= times[a];
  r.box = Box(cell, s.box.pbc());
  return r;
}

void System::validate() const {
  const size_t n = types.size();
  auto fail = [](const std::string& m) { throw InputError("System: " + m); };
  if (positions.size() != 3 * n)
    fail("positions must have shape (" + std::to_string(n) + ", 3); got " + std::to_string(positions.size()) +
         " values");
  if (!velocities.empty() && velocities.size() != 3 * n)
    fail("velocities must have shape (" + std::to_string(n) + ", 3); got " + std::to_string(velocities.size()) +
         " values");
  if (masses.size() != n) fail("masses must have " + std::to_string(n) + " values; got " + std::to_string(masses.size()));
  for (size_t i = 0; i < n; ++i) {
    if (types[i] < 0 || types[i] >= static_cast<int>(species.size()))
      fail("atom " + std::to_string(i) + " has type " + std::to_string(types[i]) + " but there are " +
           std::to_string(species.size()) + " species");
    if (!(masses[i] > 0.0) || !std::isfinite(masses[i]))
      fail("atom " + std::to_string(i) + " has mass " + std::to_string(masses[i]) + "; masses must be positive");
  }
  for (size_t k = 0; k < positions.size(); ++k)
    if (!std::isfinite(positions[k]))
      fail("position of atom " + std::to_string(k / 3) + " is not finite (NaN or infinity)");
  for (size_t k = 0; k < velocities.size(); ++k)
    if (!std::isfinite(velocities[k]))
      fail("velocity of atom " + std::to_string(k / 3) + " is not finite (NaN or infinity)");
  for (size_t m = 0; m < groups.size(); ++m)
    if (groups[m].size() != n)
      fail("grouping method " + std::to_string(m) + " has " + std::to_string(groups[m].size()) +
           " labels; expected one per atom (" + std::to_string(n) + ")");
  for (const auto& name : species) check_species_name(name);
  for (const auto& a : arrays) {
    if (reserved_array_name(a.name))
      fail("per-atom array name '" + a.name + "' is reserved for a System field (use 'forces' for forces)");
    if (a.name.empty() || a.name.find_first_of(" \t:=\"") != std::string::npos)
      fail("per-atom array name '" + a.name + "' must be non-empty without blanks, ':', '=' or quotes");
  }
  for (const auto& a : arrays)
    if (a.size() != n * a.ncols)
      fail("per-atom array '" + a.name + "' has " + std::to_string(a.size()) + " values; expected " +
           std::to_string(n * a.ncols));
}

const InfoValue* System::find_info(const std::string& key) const {
  for (const auto& kv : info)
    if (iequals(kv.first, key)) return &kv.second;
  return nullptr;
}

void System::set_info(const std::string& key, const InfoValue& value) {
  for (auto& kv : info)
    if (iequals(kv.first, key)) {
      kv.second = value;
      return;
    }
  info.emplace_back(key, value);
}

bool System::erase_info(const std::string& key) {
  for (auto it = info.begin(); it != info.end(); ++it)
    if (iequals(it->first, key)) {
      info.erase(it);
      return true;
    }
  return false;
}

const PerAtomArray* System::find_array(const std::string& name) const {
  for (const auto& a : arrays)
    if (a.name == name) return &a;
  return nullptr;
}

PerAtomArray* System::find_array(const std::string& name) {
  for (auto& a : arrays)
    if (a.name == name) return &a;
  return nullptr;
}

void System::set_array(const PerAtomArray& array) {
  if (reserved_array_name(array.name))
    throw InputError("System: per-atom array name '" + array.name +
                     "' is reserved for a System field (use 'forces' for forces)");
  if (PerAtomArray* a = find_array(array.name)) {
    *a = array;
    return;
  }
  arrays.push_back(array);
}

bool System::erase_array(const std::string& name) {
  for (auto it = arrays.begin(); it != arrays.end(); ++it)
    if (it->name == name) {
      arrays.erase(it);
      return true;
    }
  return false;
}

bool System::reference_energy(double& energy) const {
  const InfoValue* v = find_info("energy");
  if (!v) return false;
  const auto x = v->as_reals("energy");
  if (x.size() != 1) throw InputError("System.info: 'energy' must be one number");
  energy = x[0];
  return true;
}

bool System::reference_virial(Mat3& w) const {
  if (const InfoValue* v = find_info("virial")) {
    const auto x = v->as_reals("virial");
    if (x.size() != 9) throw InputError("System.info: 'virial' must have 9 values; got " + std::to_string(x.size()));
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) w[r][c] = x[3 * r + c];
    return true;
  }
  if (const InfoValue* v = find_info("stress")) {
    const auto x = v->as_reals("stress");
    Mat3 s{};
    if (x.size() == 9) {
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) s[r][c] = x[3 * r + c];
    } else if (x.size() == 6) {  // Voigt order xx yy zz yz xz xy (ASE)
      s = {{{x[0], x[5], x[4]}, {x[5], x[1], x[3]}, {x[4], x[3], x[2]}}};
    } else {
      throw InputError("System.info: 'stress' must have 6 or 9 values; got " + std::to_string(x.size()));
    }
    const double volume = box.volume();
    if (!(volume > 0)) throw InputError("System.info: 'stress' needs a cell with non-zero volume");
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) w[r][c] = -s[r][c] * volume;
    return true;
  }
  return false;
}

}  // namespace nepcg
