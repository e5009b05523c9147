// Small fixed-size vector and matrix types used across the API. Vec3 is a plain std::array so
// that (N, 3) row-major numpy arrays map onto std::vector<double> of 3N values without copies.
#pragma once

#include <array>
#include <cmath>

namespace nepcg {

using Vec3 = std::array<double, 3>;
/// 3x3 matrix, row-major: m[r][c].
using Mat3 = std::array<std::array<double, 3>, 3>;

inline Vec3 operator+(const Vec3& a, const Vec3& b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
inline Vec3 operator-(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
inline Vec3 operator*(double s, const Vec3& a) { return {s * a[0], s * a[1], s * a[2]}; }
inline double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }
inline Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline double det(const Mat3& m) { return dot(m[0], cross(m[1], m[2])); }
/// Inverse of a 3x3 matrix (caller checks det != 0).
inline Mat3 inverse(const Mat3& m) {
  const double d = det(m);
  const Vec3 c0 = cross(m[1], m[2]), c1 = cross(m[2], m[0]), c2 = cross(m[0], m[1]);
  // (m^-1)[r][c] = cofactor(c, r) / det; the rows of m^-1 transposed are c0, c1, c2.
  Mat3 inv{};
  for (int r = 0; r < 3; ++r) {
    inv[r][0] = c0[r] / d;
    inv[r][1] = c1[r] / d;
    inv[r][2] = c2[r] / d;
  }
  return inv;
}

}  // namespace nepcg
