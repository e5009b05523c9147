// Simulation cell: a triclinic 3x3 cell (rows are the lattice vectors a, b, c, in Å, as in
// extended XYZ and ASE) with a periodicity flag per cell direction.
#pragma once

#include <array>
#include <vector>

#include "nepcg/vec3.hpp"

namespace nepcg {

class Box {
 public:
  /// A non-periodic box with a zero cell (isolated molecule or cluster).
  Box();
  /// cell: rows a, b, c in Å. A periodic direction needs a vector of non-zero length, and the
  /// periodic vectors must be linearly independent; a non-periodic direction may be zero.
  /// Throws InputError otherwise.
  Box(const Mat3& cell, const std::array<bool, 3>& pbc);

  const Mat3& cell() const { return cell_; }
  const std::array<bool, 3>& pbc() const { return pbc_; }
  bool periodic(int axis) const { return pbc_[axis]; }
  bool any_periodic() const { return pbc_[0] || pbc_[1] || pbc_[2]; }

  /// |det(cell)| in Å^3; 0 when a cell vector is zero.
  double volume() const;
  /// Distance between the two faces of the cell spanned by the other two vectors, per direction
  /// (h_a = V / |b x c| ...), in Å. Uses the effective cell (see below) for zero vectors.
  Vec3 thickness() const;

  /// Fractional coordinates s with r = s0 a + s1 b + s2 c (effective cell for zero vectors).
  Vec3 to_fractional(const Vec3& r) const;
  Vec3 to_cartesian(const Vec3& s) const;

  /// The shortest vector among d + n_a a + n_b b + n_c c over the periodic directions (integers
  /// n), exact for any cell shape including strongly skewed ones.
  Vec3 minimum_image(const Vec3& d) const;
  /// Map positions (3N, row-major) into the cell along the periodic directions (fractional
  /// coordinates in [0, 1)); non-periodic coordinates are left unchanged.
  void wrap(std::vector<double>& positions) const;

  /// Cell used for fractional coordinates: the given cell with every zero-length non-periodic
  /// vector replaced by a unit vector normal to the others.
  const Mat3& effective_cell() const { return effective_; }
  const Mat3& effective_inverse() const { return inverse_; }

 private:
  void prepare();

  Mat3 cell_{};
  std::array<bool, 3> pbc_{false, false, false};
  Mat3 effective_{};
  Mat3 inverse_{};
  // Reduced basis of the periodic lattice and its Gram inverse, for minimum_image.
  int n_periodic_ = 0;
  std::array<Vec3, 3> reduced_{};
  std::array<std::array<double, 3>, 3> gram_inverse_{};
  double short_radius2_ = 0.0;  // vectors shorter than this are their own minimum image
};

}  // namespace nepcg
