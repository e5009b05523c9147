// System: the atoms (or beads) of one configuration, with its box and per-frame metadata.
//
// Units: positions Å, velocities Å/fs, masses amu. Arrays are structure-of-arrays: each
// per-atom vector quantity is a row-major (N, 3) block of 3N doubles.
// Species: every atom has an integer type t = 0 ... T-1 indexing `species` (free-form names:
// element symbols for atoms, any name for coarse-grained beads).
#pragma once

#include <string>
#include <vector>

#include "nepcg/box.hpp"

namespace nepcg {

/// One `key=value` item of an extended-XYZ comment line (or any per-frame metadata).
struct InfoValue {
  enum class Kind { String, Integer, Real, Bool, IntegerArray, RealArray, BoolArray };
  Kind kind = Kind::String;
  std::string text;            ///< Kind::String
  std::vector<double> reals;   ///< Real (one value) or RealArray
  std::vector<long long> ints; ///< Integer, IntegerArray, Bool and BoolArray (0 / 1)

  static InfoValue string(const std::string& s);
  static InfoValue real(double x);
  static InfoValue integer(long long i);
  static InfoValue boolean(bool b);
  static InfoValue real_array(const std::vector<double>& x);
  /// The value as numbers (integers and booleans converted), or throws InputError.
  std::vector<double> as_reals(const std::string& key) const;
};

/// A per-atom array beyond the core ones (e.g. forces, per-atom energies, user columns).
/// kind: 'R' real, 'I' integer, 'S' string, 'L' logical; ncols values per atom, row-major.
struct PerAtomArray {
  std::string name;
  char kind = 'R';
  int ncols = 1;
  std::vector<double> reals;       ///< 'R'
  std::vector<long long> ints;     ///< 'I' and 'L'
  std::vector<std::string> texts;  ///< 'S'
  size_t size() const;             ///< number of stored values
};

class System {
 public:
  Box box;
  std::vector<double> positions;      ///< 3N, Å
  std::vector<double> velocities;     ///< 3N, Å/fs; empty when not set
  std::vector<double> masses;         ///< N, amu
  std::vector<int> types;             ///< N, indices into species
  std::vector<std::string> species;   ///< T names, in type order
  /// Grouping methods (as GPUMD's `group` columns): groups[m][i] = label of atom i in method m.
  std::vector<std::vector<int>> groups;
  /// Ordered per-frame metadata (energy, virial, stress, weight, config_type, user keys).
  std::vector<std::pair<std::string, InfoValue>> info;
  /// Extra per-atom arrays in file order (forces, energies, ...).
  std::vector<PerAtomArray> arrays;

  size_t size() const { return types.size(); }

  /// Builds a system from species names per atom; masses default to the standard atomic mass
  /// of each element symbol. Throws InputError for a name that is not an element when no mass
  /// is given (pass `masses` for coarse-grained beads).
  static System from_symbols(const std::vector<std::string>& names, const std::vector<double>& positions,
                             const Box& box, const std::vector<double>& masses = {});

  /// Species index of a name, adding it to `species` if new.
  int add_species(const std::string& name);
  /// Names per atom.
  std::vector<std::string> atom_species() const;

  /// Checks array sizes, type indices, finite positions and positive masses; throws InputError.
  void validate() const;

  // --- metadata helpers (keys compared case-insensitively) ---
  const InfoValue* find_info(const std::string& key) const;
  void set_info(const std::string& key, const InfoValue& value);
  bool erase_info(const std::string& key);
  const PerAtomArray* find_array(const std::string& name) const;
  PerAtomArray* find_array(const std::string& name);
  void set_array(const PerAtomArray& array);
  bool erase_array(const std::string& name);

  /// Total virial W (eV, 3x3, GPUMD sign: positive = compressed) from the `virial` key, or from
  /// `stress` (eV/Å^3, 6 Voigt xx yy zz yz xz xy or 9 values) as W = -stress * volume.
  /// Returns false when neither is present.
  bool reference_virial(Mat3& virial) const;
  /// Reference energy (eV) from the `energy` key; false when absent.
  bool reference_energy(double& energy) const;
};

/// The system repeated na x nb x nc times along its cell vectors (GPUMD's `replicate`): copy
/// (i, j, k) is shifted by i a + j b + k c, copies in that loop order (k fastest), each holding
/// every atom in order with its species, mass, velocity, group labels (unchanged, as GPUMD) and
/// per-atom arrays; the cell vectors are multiplied by na, nb, nc. Throws InputError for counts < 1.
System replicated(const System& system, int na, int nb, int nc);

/// Standard mass of a species name when it is an element symbol; 0 otherwise.
double default_mass(const std::string& species);

}  // namespace nepcg
