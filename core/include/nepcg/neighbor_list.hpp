// Full Verlet neighbour list built with a cell list, for any triclinic box, any periodicity,
// boxes thinner than twice the cutoff (all periodic images are found, including images of the
// atom itself) and atoms outside the box.
//
// The list holds every pair (i, j, image) with |r_ij| < cutoff + skin, where
//   r_ij = x_j - x_i + n . H,  n = image shift (3 integers), H = cell rows,
// for both orderings (a full list). Within each atom's list the neighbours closer than
// secondary_cutoff + skin come first (`num_secondary`), so a potential with a shorter second
// cutoff (e.g. NEP's angular cutoff) iterates a prefix of the same list.
// Potentials must still test r < their cutoff: the list contains pairs up to cutoff + skin.
// The list stays valid until some atom moved more than skin/2 (with a bound for box changes);
// update() checks that and rebuilds only when needed. Memory and build time are O(N).
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "nepcg/box.hpp"

namespace nepcg {

class NeighborList {
 public:
  /// cutoff, secondary_cutoff (0 = none, else <= cutoff) and skin in Å. `half_only`: every
  /// unordered pair once, seen from one of its atoms chosen by the cell geometry (the bin offset
  /// from i to j is lexicographically positive, or j > i within a bin); offsets()/neighbors()
  /// then hold that half list, half_offsets() and half_pair_vectors() are the same arrays (no
  /// copies), and reverse() is unavailable. For pair potentials (Newton's third law): half the
  /// build's bin scans and distance tests. (owns_pair() describes the half view of a full list,
  /// not this one.)
  NeighborList(double cutoff, double skin = 0.0, double secondary_cutoff = 0.0, bool half_only = false);

  /// Builds the list for positions (3N, Å). Throws InputError for non-finite positions.
  void build(const Box& box, const std::vector<double>& positions);
  /// Rebuilds if the list may be out of date for these positions/box; returns true if rebuilt.
  bool update(const Box& box, const std::vector<double>& positions);
  /// True when a rebuild is needed (never built, atom count changed, moved > skin/2, box changed).
  bool needs_rebuild(const Box& box, const std::vector<double>& positions) const;

  double cutoff() const { return cutoff_; }
  double secondary_cutoff() const { return secondary_cutoff_; }
  double skin() const { return skin_; }
  bool half_only() const { return half_only_; }
  size_t num_atoms() const { return num_atoms_; }
  size_t num_pairs() const { return neighbors_.size(); }
  long num_builds() const { return num_builds_; }

  /// CSR layout: neighbours of atom i are entries offsets()[i] ... offsets()[i+1]-1.
  const std::vector<int64_t>& offsets() const { return offsets_; }
  const std::vector<int>& neighbors() const { return neighbors_; }
  /// Image shifts n, 3 per entry (relative to the positions given to build()).
  const std::vector<int16_t>& shifts() const { return shifts_; }
  /// reverse()[p] = the entry of the same pair seen from the other atom (j, i, -n), so that a
  /// quantity computed once per entry can be gathered by both atoms without atomics.
  /// (Built on first use after each build; thread-safe.)
  const std::vector<int64_t>& reverse() const;
  /// Half-list view: half_entries()[half_offsets()[i] ... half_offsets()[i+1]-1] are the entries
  /// of atom i that own their pair (j > i; for an atom's own images, the positive shift), so every
  /// unordered pair appears once. For pair potentials that use Newton's third law.
  /// (Built on first use after each build; thread-safe.)
  const std::vector<int64_t>& half_offsets() const;
  const std::vector<int64_t>& half_entries() const;
  /// True when entry p (of atom i, neighbour j, shift n) is the owner of its pair.
  static bool owns_pair(long long i, int j, const int16_t* n) {
    if (i != j) return i < j;
    return n[0] > 0 || (n[0] == 0 && (n[1] > 0 || (n[1] == 0 && n[2] > 0)));
  }
  /// Per-atom count of entries within secondary_cutoff + skin (a prefix of the atom's list).
  const std::vector<int>& num_secondary() const { return num_secondary_; }
  int num_neighbors(size_t i) const { return static_cast<int>(offsets_[i + 1] - offsets_[i]); }
  int max_neighbors() const;
  /// Positions and cell of the last build (a list rebuilt from them is identical, entry order
  /// included: restart files use this for bit-identical continuation).
  const std::vector<double>& reference_positions() const { return reference_positions_; }
  const Mat3& reference_cell() const { return reference_cell_; }
  const std::array<bool, 3>& reference_pbc() const { return reference_pbc_; }

  /// Pair vector r_ij (Å) of entry p (belonging to atom i) for the given positions and box.
  Vec3 pair_vector(size_t i, int64_t p, const std::vector<double>& positions, const Box& box) const {
    const int j = neighbors_[p];
    const int16_t* n = &shifts_[3 * p];
    const Mat3& h = box.cell();
    Vec3 r;
    // (x_j - x_i) + n . H, in this order: PairVectors' shift tables give the same bits
    for (int c = 0; c < 3; ++c)
      r[c] = (positions[3 * j + c] - positions[3 * i + c]) + (n[0] * h[0][c] + n[1] * h[1][c] + n[2] * h[2][c]);
    return r;
  }

  /// The same pair vectors through raw pointers taken once, for hot loops (the compiler cannot
  /// keep a std::vector's data pointer in a register across stores to other arrays). Each entry's
  /// image shift is a code into a small table of Cartesian shift vectors n . H made for this box,
  /// so a pair vector costs three loads and adds, without a branch (the bits are those of
  /// pair_vector()).
  struct PairVectors {
    const int* neighbors;
    const uint32_t* codes;  // null when the shifts are too spread for a table (tiny boxes)
    const int16_t* shifts;
    const double* x;
    Mat3 h;
    std::vector<double> table;  // 3 per shift code
    Vec3 operator()(long long i, int64_t p) const {
      const int j = neighbors[p];
      Vec3 r{x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
      if (codes) {
        const double* t = &table[3 * codes[p]];
        r[0] += t[0], r[1] += t[1], r[2] += t[2];
        return r;
      }
      const int16_t* n = shifts + 3 * p;
      for (int c = 0; c < 3; ++c) r[c] += n[0] * h[0][c] + n[1] * h[1][c] + n[2] * h[2][c];
      return r;
    }
  };
  PairVectors pair_vectors(const std::vector<double>& positions, const Box& box) const;
  /// The same for the half list: v(i, h) is the pair vector of half_entries()[h] and
  /// v.neighbors[h] its neighbour, read from compact copies (no indirection through the entry).
  PairVectors half_pair_vectors(const std::vector<double>& positions, const Box& box) const;

 private:
  double cutoff_, skin_, secondary_cutoff_;
  bool half_only_ = false;
  size_t num_atoms_ = 0;
  long num_builds_ = 0;
  std::vector<int64_t> offsets_;
  std::vector<int> neighbors_;
  std::vector<int16_t> shifts_;
  // Dense shift codes: ((n0 + R) (2R+1) + n1 + R) (2R+1) + n2 + R for |n_a| <= R = shift_reach_
  // (empty when R would exceed kMaxShiftReach).
  static constexpr int kMaxShiftReach = 12;
  int shift_reach_ = 0;
  std::vector<uint32_t> shift_codes_;
  std::vector<int> num_secondary_;
  // Views derived from the list on first use (mutable: computed inside const accessors).
  void compute_reverse() const;
  void compute_half() const;
  void ensure_view(bool& ready, void (NeighborList::*compute)() const) const;
  struct Views {
    std::mutex mutex;
    bool reverse_ready = false, half_ready = false;
    Views() = default;
    Views(const Views&) {}  // a copied list recomputes its views when asked
    Views& operator=(const Views&) {
      reset();
      return *this;
    }
    void reset() { reverse_ready = half_ready = false; }
  };
  mutable Views views_;
  struct BuildBuffers {  // per-thread search output, kept between builds
    std::vector<std::vector<int>> j;
    std::vector<std::vector<int16_t>> shift;
  } build_buffers_;
  mutable std::vector<int64_t> reverse_;
  mutable std::vector<int64_t> half_offsets_, half_entries_;
  mutable std::vector<int> half_neighbors_;
  mutable std::vector<uint32_t> half_codes_;
  mutable std::vector<int16_t> half_shifts_;  // only without shift codes
  PairVectors with_shift_table(PairVectors v, const uint32_t* codes) const;
  // State at the last build, for the rebuild criterion.
  std::vector<double> reference_positions_;
  Mat3 reference_cell_{};
  std::array<bool, 3> reference_pbc_{};
  std::array<int, 3> max_shift_{};
};

}  // namespace nepcg
