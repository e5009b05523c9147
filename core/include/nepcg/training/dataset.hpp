// Training data: structures with reference energies, forces and virials, read from GPUMD's
// train.xyz / test.xyz (extended XYZ) with GPUMD's conventions.
//
// Units: energy eV (total of the structure), forces eV/Å, virial eV (total; positive =
// compressed, W = -stress * V), weights dimensionless. All three directions are periodic, as in
// GPUMD's nep. Unlike GPUMD, energy, forces and virial are each optional: a structure is trained
// on the labels it has.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "nepcg/system.hpp"

namespace nepcg {

struct TrainingStructure {
  System system;                      ///< positions, cell, species names (free-form: beads allowed)
  bool has_energy = false;
  double energy = 0.0;                ///< eV, whole structure
  bool has_forces = false;
  std::vector<double> forces;         ///< 3N, eV/Å
  bool has_virial = false;
  std::array<double, 6> virial{};     ///< eV, whole structure: xx yy zz xy yz zx
  double weight = 1.0;                ///< `weight=` (0 < w <= 100), multiplies every loss term
  double energy_weight = 1.0;         ///< `energy_weight=`
  std::string config_type;
  std::string source;                 ///< file the structure came from ("" for in-memory data)
  long line = 0;                      ///< line of its atom count in `source`

  size_t size() const { return system.size(); }
  /// "file:line" or "structure k" for messages.
  std::string where() const;
};

/// Converts a frame (info: energy, virial or stress, weight, energy_weight, config_type;
/// arrays: forces) into a training structure, checking labels (finite, consistent virial and
/// stress within 1e-3 eV/atom, 0 < weight <= 100). Throws InputError naming `source:line`.
TrainingStructure make_training_structure(const System& frame, const std::string& source = "", long line = 0);

/// Reads every frame of an extended-XYZ file; throws IOError / FileFormatError (file, line).
std::vector<TrainingStructure> read_training_set(const std::string& path);

/// A note for a data set in which no structure has an energy (or no structure has forces), naming
/// the keys that look like one (`REF_energy`, `free_energy`, `dft_force`, ...): GPUMD's nep stops
/// on such a file, pynepcg trains on the labels there are. Empty when both labels occur.
std::string missing_label_note(const std::vector<TrainingStructure>& data, const std::string& what);

/// Checks every structure's species against `types`; throws InputError naming the structure.
void check_species(const std::vector<TrainingStructure>& data, const std::vector<std::string>& types,
                   const std::string& what);

/// A 64-bit fingerprint (FNV-1a over the bits) of what a data set trains on: every structure's
/// species, types, positions, cell, periodicity, labels and weights, in order. Where the data
/// came from (file, line) and config_type do not enter. The trainer's checkpoint keeps it, so that
/// resuming on other data is noticed.
/// `baseline`: fixed parameters the labels are fitted against (flexible ZBL's), folded in when
/// non-empty (an empty one leaves the fingerprint of earlier checkpoints unchanged).
uint64_t training_data_fingerprint(const std::vector<TrainingStructure>& data, const std::vector<double>& baseline = {});

}  // namespace nepcg
