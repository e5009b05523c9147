// Extended XYZ reader (see nepcg/extxyz.hpp for the conventions).
#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <sstream>
#include <stdexcept>

#include "nepcg/elements.hpp"
#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "text_parsing.hpp"

namespace nepcg {
namespace {

struct KeyValue {
  std::string key;
  std::string value;
  bool has_value = false;
  bool quoted = false;
};

// Splits the comment line into key=value items. Values may be "quoted" (with \" escapes),
// {braced} or [bracketed]; blanks around '=' are tolerated. A key without '=' is a flag.
std::vector<KeyValue> split_comment(const std::string& line, const std::string& file, long line_no) {
  std::vector<KeyValue> items;
  size_t i = 0;
  const size_t n = line.size();
  auto skip_blank = [&] {
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
  };
  while (true) {
    skip_blank();
    if (i >= n) break;
    KeyValue kv;
    size_t k0 = i;
    while (i < n && line[i] != '=' && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    kv.key = line.substr(k0, i - k0);
    skip_blank();
    if (i < n && line[i] == '=') {
      ++i;
      skip_blank();
      kv.has_value = true;
      if (i < n && (line[i] == '"' || line[i] == '\'' || line[i] == '{' || line[i] == '[')) {
        const char open = line[i];
        const char close = open == '{' ? '}' : (open == '[' ? ']' : open);
        ++i;
        std::string v;
        bool closed = false;
        while (i < n) {
          if (line[i] == '\\' && i + 1 < n && (open == '"' || open == '\'')) {
            v += line[i + 1];
            i += 2;
            continue;
          }
          if (line[i] == close) {
            closed = true;
            ++i;
            break;
          }
          v += line[i++];
        }
        if (!closed)
          throw FileFormatError(file, line_no, "comment line: value of '" + kv.key + "' has no closing " +
                                                   std::string(1, close));
        if (open == '[' || open == '{')
          for (char& c : v)
            if (c == ',') c = ' ';
        kv.value = v;
        kv.quoted = true;
      } else {
        size_t v0 = i;
        while (i < n && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
        kv.value = line.substr(v0, i - v0);
        // "energy= virial=..." : the blank after '=' left the key without a value (the next item
        // is not its value). Unquoted values never hold '='.
        if (kv.value.find('=') != std::string::npos || kv.value.empty())
          throw FileFormatError(file, line_no, "comment line: '" + kv.key + "=' has no value");
      }
    }
    if (kv.key.empty()) throw FileFormatError(file, line_no, "comment line: '=' without a key");
    items.push_back(kv);
  }
  return items;
}

// Infers the type of an info value, as ASE does: numbers, booleans or arrays of them, else text.
InfoValue parse_info_value(const KeyValue& kv) {
  if (!kv.has_value) return InfoValue::boolean(true);
  const auto tokens = text::split(kv.value);
  if (tokens.empty()) return InfoValue::string(kv.value);
  std::vector<long long> ints;
  std::vector<double> reals;
  bool all_int = true, all_real = true, all_bool = true;
  for (auto t : tokens) {
    long long iv;
    double dv;
    bool bv;
    if (all_int && text::parse_int(t, iv)) ints.push_back(iv);
    else all_int = false;
    if (all_real && text::parse_double(t, dv)) reals.push_back(dv);
    else all_real = false;
    if (!text::parse_bool(t, bv)) all_bool = false;
  }
  InfoValue v;
  const bool single = tokens.size() == 1;
  if (all_int) {
    v.kind = single ? InfoValue::Kind::Integer : InfoValue::Kind::IntegerArray;
    v.ints = ints;
  } else if (all_real) {
    v.kind = single ? InfoValue::Kind::Real : InfoValue::Kind::RealArray;
    v.reals = reals;
  } else if (all_bool) {
    v.kind = single ? InfoValue::Kind::Bool : InfoValue::Kind::BoolArray;
    for (auto t : tokens) {
      bool b = false;
      text::parse_bool(t, b);
      v.ints.push_back(b);
    }
  } else {
    v.kind = InfoValue::Kind::String;
    v.text = kv.value;
  }
  return v;
}

// True for "name:T:n[:name:T:n...]" with T in R, I, S, L and n a positive integer.
bool looks_like_properties(const std::string& token) {
  std::vector<std::string> parts;
  std::stringstream ss(token);
  std::string p;
  while (std::getline(ss, p, ':')) parts.push_back(p);
  if (parts.empty() || parts.size() % 3 != 0) return false;
  for (size_t k = 0; k < parts.size(); k += 3) {
    long long count;
    if (parts[k + 1].size() != 1 || std::string("RISL").find(parts[k + 1][0]) == std::string::npos) return false;
    if (!text::parse_int(parts[k + 2], count) || count < 1) return false;
  }
  return true;
}

struct Column {
  std::string name;
  char kind;
  int ncols;
  enum class Role { Species, Position, Velocity, Mass, Group, AtomicNumber, Other } role;
  int array_index = -1;  // into System::arrays for Role::Other
};

}  // namespace

ExtxyzReader::ExtxyzReader(const std::string& path) : file_(new std::ifstream(path)), in_(file_.get()), name_(path) {
  text::refuse_directory(path, "extxyz");
  if (!*file_) throw IOError("extxyz: cannot open '" + path + "' for reading");
}

ExtxyzReader::ExtxyzReader(std::istream& in, const std::string& name) : in_(&in), name_(name) {}

bool ExtxyzReader::getline(std::string& line) {
  if (!std::getline(*in_, line)) return false;
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // (a UTF-8 byte-order mark)
  return true;
}

bool ExtxyzReader::next(System& frame) {
  std::string line;
  // Skip blank lines between frames; the end of the input ends the iteration.
  do {
    if (!getline(line)) return false;
  } while (text::split(line).empty());

  const auto count_tokens = text::split(line);
  long long n_atoms = -1;
  if (count_tokens.size() != 1 || !text::parse_int(count_tokens[0], n_atoms) || n_atoms < 0)
    throw FileFormatError(name_, line_, "expected the number of atoms (one non-negative integer) at the start of a "
                                        "frame; got '" + line + "'");
  const long header_line = line_;
  if (!getline(line))
    throw FileFormatError(name_, header_line, "file ends after the atom count; expected a comment line");
  const long comment_line = line_;

  frame = System();
  bool have_lattice = false, have_pbc = false;
  Mat3 cell{};
  std::array<bool, 3> pbc{true, true, true};
  std::string properties = "species:S:1:pos:R:3";
  bool after_properties = false;
  std::vector<std::string> seen_keys;
  for (const auto& kv : split_comment(line, name_, comment_line)) {
    const std::string key = text::lower(kv.key);
    if (!(after_properties && !kv.has_value && looks_like_properties(kv.key))) {
      // (the last one would win silently: two energies, two Lattices)
      if (std::find(seen_keys.begin(), seen_keys.end(), key) != seen_keys.end())
        throw FileFormatError(name_, comment_line, "comment line: '" + kv.key + "' is given twice");
      seen_keys.push_back(key);
    }
    // Tolerate a Properties list broken by a blank ("...:group:I:1 bead_type:S:1"), as some
    // hand-written files have: a following bare name:type:count token continues the list.
    if (after_properties && !kv.has_value && looks_like_properties(kv.key)) {
      properties += ":" + kv.key;
      continue;
    }
    after_properties = key == "properties";
    if (key == "lattice") {
      const auto t = text::split(kv.value);
      if (t.size() != 9)
        throw FileFormatError(name_, comment_line, "Lattice must have 9 numbers; got " + std::to_string(t.size()));
      for (int k = 0; k < 9; ++k)
        if (!text::parse_double(t[k], cell[k / 3][k % 3]))
          throw FileFormatError(name_, comment_line, "Lattice value '" + std::string(t[k]) + "' is not a number");
      have_lattice = true;
    } else if (key == "pbc") {
      const auto t = text::split(kv.value);
      if (t.size() != 3)
        throw FileFormatError(name_, comment_line, "pbc must have 3 values (T/F); got '" + kv.value + "'");
      for (int k = 0; k < 3; ++k) {
        bool b;
        if (!text::parse_bool(t[k], b))
          throw FileFormatError(name_, comment_line, "pbc value '" + std::string(t[k]) + "' is not T or F");
        pbc[k] = b;
      }
      have_pbc = true;
    } else if (key == "properties") {
      properties = kv.value;
    } else {
      frame.set_info(kv.key, parse_info_value(kv));
    }
  }
  if (!have_lattice) {
    if (have_pbc && (pbc[0] || pbc[1] || pbc[2]))
      throw FileFormatError(name_, comment_line, "frame is periodic (pbc) but has no Lattice");
    pbc = {false, false, false};
  }
  try {
    frame.box = Box(cell, pbc);
  } catch (const InputError& e) {
    throw FileFormatError(name_, comment_line, e.what());
  }

  // Column layout.
  std::vector<Column> columns;
  {
    std::vector<std::string> parts;
    std::stringstream ss(properties);
    std::string p;
    while (std::getline(ss, p, ':')) parts.push_back(p);
    if (parts.size() % 3 != 0)
      throw FileFormatError(name_, comment_line,
                            "Properties must be name:type:count triples; got '" + properties + "'");
    for (size_t k = 0; k < parts.size(); k += 3) {
      Column c;
      c.name = parts[k];
      if (parts[k + 1].size() != 1 || std::string("RISL").find(parts[k + 1][0]) == std::string::npos)
        throw FileFormatError(name_, comment_line, "Properties: type of '" + c.name + "' must be R, I, S or L; got '" +
                                                       parts[k + 1] + "'");
      c.kind = parts[k + 1][0];
      long long nc;
      if (!text::parse_int(parts[k + 2], nc) || nc < 1)
        throw FileFormatError(name_, comment_line, "Properties: count of '" + c.name +
                                                       "' must be a positive integer; got '" + parts[k + 2] + "'");
      if (nc > 1000000)
        throw FileFormatError(name_, comment_line, "Properties: count of '" + c.name + "' is too large (" +
                                                       parts[k + 2] + ")");
      c.ncols = static_cast<int>(nc);
      const std::string lname = text::lower(c.name);
      for (const auto& other : columns)
        if (text::lower(other.name) == lname)
          throw FileFormatError(name_, comment_line, "Properties: '" + c.name + "' is given twice");
      auto expect = [&](char kind, int ncols) {
        if (c.kind != kind || (ncols > 0 && c.ncols != ncols))
          throw FileFormatError(name_, comment_line, "Properties: '" + c.name + "' must be " + std::string(1, kind) +
                                                         ":" + (ncols > 0 ? std::to_string(ncols) : "G") + "; got " +
                                                         std::string(1, c.kind) + ":" + std::to_string(c.ncols));
      };
      if (lname == "species") {
        expect('S', 1);
        c.role = Column::Role::Species;
      } else if (lname == "pos" || lname == "positions") {
        expect('R', 3);
        c.role = Column::Role::Position;
      } else if (lname == "vel" || lname == "velo" || lname == "velocities") {
        expect('R', 3);
        c.role = Column::Role::Velocity;
      } else if (lname == "mass" || lname == "masses") {
        expect('R', 1);
        c.role = Column::Role::Mass;
      } else if (lname == "group") {
        expect('I', 0);
        c.role = Column::Role::Group;
      } else if (lname == "z" && c.kind == 'I' && c.ncols == 1) {
        c.role = Column::Role::AtomicNumber;
      } else {
        c.role = Column::Role::Other;
        PerAtomArray a;
        a.name = (lname == "force" || lname == "forces") ? std::string("forces") : c.name;
        a.kind = c.kind;
        a.ncols = c.ncols;
        c.array_index = static_cast<int>(frame.arrays.size());
        frame.arrays.push_back(a);
      }
      columns.push_back(c);
    }
  }
  bool has_species = false, has_pos = false, has_z = false, has_mass = false;
  for (const auto& c : columns) {
    has_species |= c.role == Column::Role::Species;
    has_pos |= c.role == Column::Role::Position;
    has_z |= c.role == Column::Role::AtomicNumber;
    has_mass |= c.role == Column::Role::Mass;
  }
  if (!has_species && !has_z)
    throw FileFormatError(name_, comment_line, "Properties has no species:S:1 column");
  if (!has_pos) throw FileFormatError(name_, comment_line, "Properties has no pos:R:3 column");

  size_t total_columns = 0;
  for (const auto& c : columns) total_columns += c.ncols;
  // Atom indices are ints; beyond memory the arrays below cannot be sized: say so with the line
  // instead of std::bad_alloc.
  if (n_atoms > std::numeric_limits<int>::max())
    throw FileFormatError(name_, header_line, "atom count " + std::to_string(n_atoms) + " is too large");
  const size_t n = static_cast<size_t>(n_atoms);
  try {
    frame.positions.resize(3 * n);
    frame.types.resize(n);
    frame.masses.assign(n, 0.0);
    for (const auto& c : columns) {
      if (c.role == Column::Role::Velocity) frame.velocities.resize(3 * n);
      if (c.role == Column::Role::Group) frame.groups.assign(c.ncols, std::vector<int>(n));
      if (c.role == Column::Role::Other) {
        PerAtomArray& a = frame.arrays[c.array_index];
        if (a.kind == 'R') a.reals.resize(n * a.ncols);
        else if (a.kind == 'S') a.texts.resize(n * a.ncols);
        else a.ints.resize(n * a.ncols);
      }
    }
  } catch (const std::bad_alloc&) {
    throw FileFormatError(name_, header_line, "atom count " + std::to_string(n_atoms) + " with " +
                                                  std::to_string(total_columns) + " columns does not fit in memory");
  } catch (const std::length_error&) {
    throw FileFormatError(name_, header_line, "atom count " + std::to_string(n_atoms) + " is too large");
  }
  std::vector<long> species_line;  // first line on which each species appears
  for (size_t i = 0; i < n; ++i) {
    if (!getline(line))
      throw FileFormatError(name_, line_ + 1, "file ends inside a frame: expected " + std::to_string(n) +
                                                  " atom lines, found " + std::to_string(i));
    const auto t = text::split(line);
    if (t.size() != total_columns)
      throw FileFormatError(name_, line_, "expected " + std::to_string(total_columns) +
                                              " columns (from Properties), got " + std::to_string(t.size()));
    size_t k = 0;
    for (const auto& c : columns) {
      auto number = [&](size_t idx, double& out) {
        if (!text::parse_double(t[idx], out))
          throw FileFormatError(name_, line_, "column '" + c.name + "': '" + std::string(t[idx]) +
                                                  "' is not a number");
      };
      auto integer = [&](size_t idx, long long& out) {
        if (!text::parse_int(t[idx], out))
          throw FileFormatError(name_, line_, "column '" + c.name + "': '" + std::string(t[idx]) +
                                                  "' is not an integer");
      };
      switch (c.role) {
        case Column::Role::Species: {
          const int before = static_cast<int>(frame.species.size());
          frame.types[i] = frame.add_species(std::string(t[k]));
          if (frame.types[i] == before) species_line.push_back(line_);
          break;
        }
        case Column::Role::AtomicNumber: {
          long long z;
          integer(k, z);
          if (z < 1 || z > kNumElements)
            throw FileFormatError(name_, line_, "column 'Z': atomic number " + std::to_string(z) + " out of range");
          if (!has_species) {
            const int before = static_cast<int>(frame.species.size());
            frame.types[i] = frame.add_species(element_symbol(static_cast<int>(z)));
            if (frame.types[i] == before) species_line.push_back(line_);
          }
          break;
        }
        case Column::Role::Position:
          for (int d = 0; d < 3; ++d) number(k + d, frame.positions[3 * i + d]);
          break;
        case Column::Role::Velocity:
          for (int d = 0; d < 3; ++d) number(k + d, frame.velocities[3 * i + d]);
          break;
        case Column::Role::Mass:
          number(k, frame.masses[i]);
          if (!(frame.masses[i] > 0) || !std::isfinite(frame.masses[i]))
            throw FileFormatError(name_, line_, "column '" + c.name + "': mass must be positive; got " +
                                                    std::string(t[k]));
          break;
        case Column::Role::Group:
          for (int d = 0; d < c.ncols; ++d) {
            long long g;
            integer(k + d, g);
            if (g < std::numeric_limits<int>::min() || g > std::numeric_limits<int>::max())
              throw FileFormatError(name_, line_, "column 'group': " + std::to_string(g) + " is out of range");
            frame.groups[d][i] = static_cast<int>(g);
          }
          break;
        case Column::Role::Other: {
          PerAtomArray& a = frame.arrays[c.array_index];
          for (int d = 0; d < c.ncols; ++d) {
            const size_t idx = i * c.ncols + d;
            if (c.kind == 'R') {
              number(k + d, a.reals[idx]);
            } else if (c.kind == 'I') {
              integer(k + d, a.ints[idx]);
            } else if (c.kind == 'L') {
              bool b;
              if (!text::parse_bool(t[k + d], b))
                throw FileFormatError(name_, line_, "column '" + c.name + "': '" + std::string(t[k + d]) +
                                                        "' is not T or F");
              a.ints[idx] = b;
            } else {
              a.texts[idx] = std::string(t[k + d]);
            }
          }
          break;
        }
        default:
          break;
      }
      k += c.ncols;
    }
    for (size_t d = 0; d < 3; ++d) {
      if (!std::isfinite(frame.positions[3 * i + d]))
        throw FileFormatError(name_, line_, "position is not finite (NaN or infinity)");
      if (!frame.velocities.empty() && !std::isfinite(frame.velocities[3 * i + d]))
        throw FileFormatError(name_, line_, "velocity is not finite (NaN or infinity)");
    }
  }
  if (!has_mass) {
    std::vector<double> species_mass(frame.species.size());
    for (size_t s = 0; s < frame.species.size(); ++s) {
      species_mass[s] = default_mass(frame.species[s]);
      if (species_mass[s] <= 0)
        throw FileFormatError(name_, species_line[s], "species '" + frame.species[s] +
                                                          "' is not a chemical element and the frame has no mass "
                                                          "column (add Properties ...:mass:R:1)");
    }
    for (size_t i = 0; i < n; ++i) frame.masses[i] = species_mass[frame.types[i]];
  }
  ++frames_;
  return true;
}

std::vector<System> read_extxyz(const std::string& path) {
  ExtxyzReader reader(path);
  std::vector<System> frames;
  System f;
  while (reader.next(f)) frames.push_back(std::move(f));
  return frames;
}

std::vector<System> parse_extxyz(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  ExtxyzReader reader(in, name);
  std::vector<System> frames;
  System f;
  while (reader.next(f)) frames.push_back(std::move(f));
  return frames;
}

}  // namespace nepcg
