// Extended XYZ writer (see nepcg/extxyz.hpp). Numbers use the shortest exact decimal form.
#include <fstream>
#include <sstream>

#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "text_parsing.hpp"

namespace nepcg {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool needs_quotes(const std::string& s) {
  return s.empty() || s.find_first_of(" \t\v\f=\"'{}[]") != std::string::npos;
}

// A real number that reads back as a real (not an integer): "2" becomes "2.0".
std::string format_real(double x) {
  std::string t = text::format_double(x);
  if (t.find_first_of(".eEn") == std::string::npos) t += ".0";
  return t;
}

std::string format_info(const std::string& key, const InfoValue& v) {
  if (v.kind == InfoValue::Kind::String && v.text.find_first_of("\n\r") != std::string::npos)
    throw InputError("extxyz: info '" + key + "' contains a line break, which extended XYZ cannot hold");
  using K = InfoValue::Kind;
  auto join = [](const auto& values, auto fmt) {
    std::string out;
    for (size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + fmt(values[i]);
    return out;
  };
  auto fint = [](long long x) { return std::to_string(x); };
  auto fbool = [](long long x) { return std::string(x ? "T" : "F"); };
  switch (v.kind) {
    case K::String:
      return needs_quotes(v.text) ? quote(v.text) : v.text;
    case K::Integer:
      return fint(v.ints.at(0));
    case K::Real:
      return format_real(v.reals.at(0));
    case K::Bool:
      return fbool(v.ints.at(0));
    case K::IntegerArray:
      return "\"" + join(v.ints, fint) + "\"";
    case K::RealArray:
      return "\"" + join(v.reals, format_real) + "\"";
    case K::BoolArray:
      return "\"" + join(v.ints, fbool) + "\"";
  }
  return "";
}

// The mass column is written unless every mass is the element default of its species.
bool masses_needed(const System& s) {
  for (size_t i = 0; i < s.size(); ++i)
    if (s.masses[i] != default_mass(s.species[s.types[i]])) return true;
  return false;
}

}  // namespace

void write_extxyz_frame(std::ostream& out, const System& s, bool always_write_masses) {
  s.validate();
  const size_t n = s.size();
  const bool write_mass = always_write_masses || masses_needed(s);
  std::string props = "species:S:1:pos:R:3";
  if (write_mass) props += ":mass:R:1";
  if (!s.velocities.empty()) props += ":vel:R:3";
  if (!s.groups.empty()) props += ":group:I:" + std::to_string(s.groups.size());
  for (const auto& a : s.arrays) props += ":" + a.name + ":" + std::string(1, a.kind) + ":" + std::to_string(a.ncols);

  std::string line;
  const Mat3& h = s.box.cell();
  bool have_cell = s.box.any_periodic();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) have_cell |= h[r][c] != 0.0;
  if (have_cell) {
    line += "Lattice=\"";
    for (int k = 0; k < 9; ++k) line += (k ? " " : "") + text::format_double(h[k / 3][k % 3]);
    line += "\" ";
  }
  line += "Properties=" + props;
  for (const auto& kv : s.info) line += " " + kv.first + "=" + format_info(kv.first, kv.second);
  const auto& p = s.box.pbc();
  line += std::string(" pbc=\"") + (p[0] ? "T" : "F") + " " + (p[1] ? "T" : "F") + " " + (p[2] ? "T" : "F") + "\"";

  out << n << "\n" << line << "\n";
  std::string row;
  for (size_t i = 0; i < n; ++i) {
    row = s.species[s.types[i]];
    for (int d = 0; d < 3; ++d) row += " " + text::format_double(s.positions[3 * i + d]);
    if (write_mass) row += " " + text::format_double(s.masses[i]);
    if (!s.velocities.empty())
      for (int d = 0; d < 3; ++d) row += " " + text::format_double(s.velocities[3 * i + d]);
    for (const auto& g : s.groups) row += " " + std::to_string(g[i]);
    for (const auto& a : s.arrays)
      for (int d = 0; d < a.ncols; ++d) {
        const size_t idx = i * a.ncols + d;
        if (a.kind == 'R') row += " " + text::format_double(a.reals[idx]);
        else if (a.kind == 'I') row += " " + std::to_string(a.ints[idx]);
        else if (a.kind == 'L') row += a.ints[idx] ? " T" : " F";
        else row += " " + a.texts[idx];
      }
    out << row << "\n";
  }
}

void write_extxyz(const std::string& path, const std::vector<System>& frames, bool append) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  if (!out) throw IOError("extxyz: cannot open '" + path + "' for writing");
  for (const auto& f : frames) write_extxyz_frame(out, f);
  if (!out) throw IOError("extxyz: error while writing '" + path + "'");
}

std::string format_extxyz(const std::vector<System>& frames) {
  std::ostringstream out;
  for (const auto& f : frames) write_extxyz_frame(out, f);
  return out.str();
}

}  // namespace nepcg
