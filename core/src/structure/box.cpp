#include "nepcg/box.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "nepcg/error.hpp"

namespace nepcg {
namespace {

Vec3 normalized(const Vec3& v) { return (1.0 / norm(v)) * v; }

// Unit vectors completing the non-zero rows of `rows` (flagged in `given`) to a basis.
void complete_basis(std::array<Vec3, 3>& rows, const std::array<bool, 3>& given) {
  int n_given = 0;
  for (bool g : given) n_given += g;
  if (n_given == 0) {
    rows = {Vec3{1, 0, 0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}};
    return;
  }
  if (n_given == 2) {
    int missing = !given[0] ? 0 : (!given[1] ? 1 : 2);
    const Vec3& u = rows[(missing + 1) % 3];
    const Vec3& v = rows[(missing + 2) % 3];
    rows[missing] = normalized(cross(u, v));  // right-handed: a . (b x c) > 0 when possible
    return;
  }
  if (n_given == 1) {
    int have = given[0] ? 0 : (given[1] ? 1 : 2);
    Vec3 a = normalized(rows[have]);
    int k = 0;  // the Cartesian axis least aligned with a
    for (int i = 1; i < 3; ++i)
      if (std::fabs(a[i]) < std::fabs(a[k])) k = i;
    Vec3 e{0, 0, 0};
    e[k] = 1.0;
    Vec3 b = normalized(e - dot(e, a) * a);
    rows[(have + 1) % 3] = b;
    rows[(have + 2) % 3] = cross(a, b);
  }
}

}  // namespace

Box::Box() { prepare(); }

Box::Box(const Mat3& cell, const std::array<bool, 3>& pbc) : cell_(cell), pbc_(pbc) { prepare(); }

void Box::prepare() {
  static const char* names[3] = {"a", "b", "c"};
  std::array<Vec3, 3> rows{cell_[0], cell_[1], cell_[2]};
  std::array<bool, 3> given{};
  for (int i = 0; i < 3; ++i) {
    for (double x : rows[i])
      if (!std::isfinite(x)) throw InputError("Box: cell contains a non-finite number");
    given[i] = norm(rows[i]) > 1e-12;
    if (pbc_[i] && !given[i])
      throw InputError(std::string("Box: periodic direction ") + names[i] +
                       " needs a non-zero cell vector; got a zero vector");
  }
  complete_basis(rows, given);
  for (int i = 0; i < 3; ++i) effective_[i] = rows[i];
  const double d = det(effective_);
  const double scale = norm(rows[0]) * norm(rows[1]) * norm(rows[2]);
  if (std::fabs(d) <= 1e-10 * scale)
    throw InputError("Box: cell vectors are linearly dependent (zero volume)");
  inverse_ = inverse(effective_);

  // Reduced basis of the periodic sub-lattice (pairwise Gauss reduction) for minimum_image.
  n_periodic_ = 0;
  for (int i = 0; i < 3; ++i)
    if (pbc_[i]) reduced_[n_periodic_++] = cell_[i];
  for (int iter = 0, changed = 1; changed && iter < 1000; ++iter) {
    changed = 0;
    for (int i = 0; i < n_periodic_; ++i)
      for (int j = 0; j < n_periodic_; ++j) {
        if (i == j) continue;
        const double m = std::round(dot(reduced_[i], reduced_[j]) / dot(reduced_[j], reduced_[j]));
        if (m != 0.0) {
          reduced_[i] = reduced_[i] - m * reduced_[j];
          changed = 1;
        }
      }
  }
  // Inverse of the Gram matrix of the reduced periodic vectors (k x k, k <= 3).
  Mat3 gram{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      gram[i][j] = (i < n_periodic_ && j < n_periodic_) ? dot(reduced_[i], reduced_[j]) : (i == j);
  gram_inverse_ = inverse(gram);
  // Every nonzero lattice vector is at least as long as the smallest spacing between lattice
  // planes of the reduced basis, h_min; a vector shorter than h_min / 2 is its own minimum image.
  double h_min = std::numeric_limits<double>::infinity();
  const int k = n_periodic_;
  for (int i = 0; i < k; ++i) {
    double h = norm(reduced_[i]);
    if (k == 2) h = norm(cross(reduced_[0], reduced_[1])) / norm(reduced_[1 - i]);
    if (k == 3) h = std::fabs(det(Mat3{reduced_[0], reduced_[1], reduced_[2]})) / norm(cross(reduced_[(i + 1) % 3], reduced_[(i + 2) % 3]));
    h_min = std::min(h_min, h);
  }
  short_radius2_ = k > 0 ? 0.25 * h_min * h_min * (1.0 - 1e-12) : 0.0;
}

double Box::volume() const { return std::fabs(det(cell_)); }

Vec3 Box::thickness() const {
  const double v = std::fabs(det(effective_));
  const auto& m = effective_;
  return {v / norm(cross(m[1], m[2])), v / norm(cross(m[2], m[0])), v / norm(cross(m[0], m[1]))};
}

Vec3 Box::to_fractional(const Vec3& r) const {
  // r = s^T H  =>  s = r H^-1 (row vector times matrix).
  Vec3 s{};
  for (int c = 0; c < 3; ++c) s[c] = r[0] * inverse_[0][c] + r[1] * inverse_[1][c] + r[2] * inverse_[2][c];
  return s;
}

Vec3 Box::to_cartesian(const Vec3& s) const {
  Vec3 r{};
  for (int c = 0; c < 3; ++c) r[c] = s[0] * effective_[0][c] + s[1] * effective_[1][c] + s[2] * effective_[2][c];
  return r;
}

Vec3 Box::minimum_image(const Vec3& d) const {
  if (n_periodic_ == 0) return d;
  const int k = n_periodic_;
  // Least-squares lattice coordinates of d, rounded; then search the neighbouring lattice points.
  double proj[3] = {0, 0, 0}, coef[3] = {0, 0, 0};
  for (int i = 0; i < k; ++i) proj[i] = dot(reduced_[i], d);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) coef[i] += gram_inverse_[i][j] * proj[j];
    coef[i] = std::round(coef[i]);
  }
  {  // fast path: the rounded image is short enough to be the minimum (see update())
    Vec3 v = d;
    for (int i = 0; i < k; ++i) v = v - coef[i] * reduced_[i];
    if (dot(v, v) < short_radius2_) return v;
  }
  Vec3 best = d;
  double best_len = std::numeric_limits<double>::infinity();
  const int r = 2;
  const int lo1 = k > 1 ? -r : 0, lo2 = k > 2 ? -r : 0;
  for (int a = -r; a <= r; ++a)
    for (int b = lo1; b <= -lo1; ++b)
      for (int c = lo2; c <= -lo2; ++c) {
        const double n[3] = {coef[0] + a, coef[1] + b, coef[2] + c};
        Vec3 v = d;
        for (int i = 0; i < k; ++i) v = v - n[i] * reduced_[i];
        const double len = dot(v, v);
        if (len < best_len) {
          best_len = len;
          best = v;
        }
      }
  return best;
}

void Box::wrap(std::vector<double>& positions) const {
  if (!any_periodic()) return;
  const size_t n = positions.size() / 3;
  for (size_t i = 0; i < n; ++i) {
    Vec3 s = to_fractional({positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]});
    for (int a = 0; a < 3; ++a)
      if (pbc_[a]) {
        s[a] -= std::floor(s[a]);
        if (s[a] >= 1.0) s[a] = 0.0;
      }
    const Vec3 r = to_cartesian(s);
    for (int a = 0; a < 3; ++a) positions[3 * i + a] = r[a];
  }
}

}  // namespace nepcg
