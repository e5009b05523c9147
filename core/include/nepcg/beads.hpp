// Beads of a coarse-grained mapping: groups of atoms identified by a label per atom (GPUMD's group
// column). Bead b collects the atoms whose label is the b-th smallest distinct label.
//
// Units: masses amu, positions Å, forces eV/Å.
#pragma once

#include <vector>

#include "nepcg/system.hpp"

namespace nepcg {

/// Compact bead index per atom from group labels (labels sorted ascending -> 0, 1, ...). When
/// `masses` is given, fills `bead_mass` with the summed masses (throws InputError for a bead with
/// zero mass).
std::vector<int> bead_indices(const std::vector<int>& labels, std::vector<double>* bead_mass = nullptr,
                              const std::vector<double>* masses = nullptr);

/// Mass-weighted centre of every bead (3 * num_beads): member positions are unwrapped by the
/// minimum-image convention relative to the bead's first (lowest-index) atom, as GPUMD's dump_cg,
/// so beads straddling a periodic boundary are whole. The centre is not wrapped into the cell.
std::vector<double> bead_centres(const System& system, const std::vector<int>& bead_of, int num_beads);

/// The atoms of every bead as one list: bead b's atoms are atoms[start[b] ... start[b + 1]), in
/// ascending index order (start has num_beads + 1 entries). Every bead_of entry must lie in
/// [0, num_beads).
void bead_members(const std::vector<int>& bead_of, int num_beads, std::vector<int>& start, std::vector<int>& atoms);
/// Sum of a per-atom 3-vector quantity (e.g. forces) over each bead (3 * num_beads).
std::vector<double> bead_sums(const std::vector<double>& per_atom, const std::vector<int>& bead_of, int num_beads);

}  // namespace nepcg
