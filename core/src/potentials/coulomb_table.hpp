// Real-space Coulomb kernel E(s) of one charge pair as a function of s = r^2 (Å^2), tabulated so
// that the water pair loop needs no square root, exponential or erfc per pair (as LAMMPS's
// coulomb tables, but exact to ~1e-15 eV in energy and ~1e-12 eV/Å in force per unit charge
// product instead of ~1e-6):
//   Ewald / PME:  E(r) = erfc(alpha r) / r
//   DSF:          E(r) = erfc(alpha r) / r - e_shift - r f_shift    (Fennell & Gezelter 2006)
// Bins are uniform within each octave of s, 2^kBits per octave, and are found from the bits of
// the double s (exponent and leading mantissa bits), like LAMMPS's ncoultablebits tables. Each bin
// holds the quintic Hermite interpolant of E through the values, first and second derivatives at
// its ends, so the force is the exact derivative of the tabulated energy (energy conservation and
// finite-difference checks see one smooth function) and both are continuous across bins with
// continuous derivatives. Pairs outside the table (s < 1 Å^2) go to the direct formula.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace nepcg::detail {

class CoulombTable {
 public:
  static constexpr int kBits = 7;  // 128 bins per octave: quintic error ~1e-15 (E), ~1e-12 (dE/dr)

  /// Tabulates E on [1, 2^ceil(log2(s_max))) Å^2 (s_max = cutoff^2).
  CoulombTable(bool dsf, double alpha, double s_max, double e_shift, double f_shift)
      : dsf_(dsf), alpha_(alpha), e_shift_(e_shift), f_shift_(f_shift) {
    const int octaves = std::max(1, static_cast<int>(std::ceil(std::log2(std::max(s_max, 1.0)))));
    bins_ = octaves << kBits;
    base_ = key(1.0);
    force_.resize(kRow * size_t(bins_));
    energy_.resize(kRow * size_t(bins_));
    for (int64_t k = 0; k < bins_; ++k) {
      const int octave = static_cast<int>(k >> kBits);
      const double h = std::ldexp(1.0, octave - kBits);
      const double s0 = std::ldexp(1.0, octave) + double(k & ((1 << kBits) - 1)) * h;
      double f0, d0, e0, f1, d1, e1;
      exact(s0, f0, d0, e0);
      exact(s0 + h, f1, d1, e1);
      d0 *= h, d1 *= h, e0 *= h * h, e1 *= h * h;  // derivatives with respect to t = (s - s0) / h
      const double df = f1 - f0;
      double* c = &energy_[kRow * k];
      c[0] = f0;
      c[1] = d0;
      c[2] = 0.5 * e0;
      c[3] = 10 * df - 6 * d0 - 4 * d1 - 1.5 * e0 + 0.5 * e1;
      c[4] = -15 * df + 8 * d0 + 7 * d1 + 1.5 * e0 - e1;
      c[5] = 6 * df - 3 * d0 - 3 * d1 - 0.5 * e0 + 0.5 * e1;
      for (int m = 1; m <= 5; ++m) force_[kRow * k + m - 1] = m * c[m] / h;  // dE/ds: exactly E's derivative
    }
  }

  double alpha() const { return alpha_; }

  /// The rows and the bin search, by value, for vectorised pair loops (and lookup() below).
  struct View {
    const double* force;   // row k (stride kRow): dE/ds's 5 coefficients in t
    const double* energy;  // row k: E's 6 coefficients in t
    int64_t base, bins;
    /// Whether s lies in the table; the offset of its row (row 0 when it does not, so that loads
    /// stay inside the table) and the fraction t in the bin, t = (bits(s) & kFraction) /
    /// 2^(52 - kBits) exactly: those bits made the mantissa of a double in [1, 2), minus 1 (no
    /// integer-to-double conversion, which AVX2 lacks). Branch-free: vectorises.
    bool bin(double s, int64_t& row, double& t) const {
      uint64_t bits;
      std::memcpy(&bits, &s, sizeof bits);
      const int64_t key = static_cast<int64_t>(bits >> (52 - kBits)) - base;
      const bool in = (key >= 0) & (key < bins);
      row = in ? key * kRow : 0;
      const uint64_t one_plus_t = ((bits & kFraction) << kBits) | 0x3FF0000000000000ull;
      std::memcpy(&t, &one_plus_t, sizeof t);
      t -= 1.0;
      return in;
    }
  };
  View view() const { return {force_.data(), energy_.data(), base_, bins_}; }
  static constexpr int kRow = 8;  // coefficients per bin: 6 of E(t), or 5 of dE/ds; padded to 64 bytes
  static constexpr uint64_t kFraction = (uint64_t(1) << (52 - kBits)) - 1;

  /// dE/ds (per unit of k_e q_i q_j), and E(s) when `E` is not null; false when s is outside the
  /// table. (Force steps need only the derivative: one 64-byte row.)
  bool lookup(double s, double& dEds, double* E = nullptr) const {
    int64_t row;
    double t;
    if (!view().bin(s, row, t)) return false;
    const double* d = &force_[row];
    dEds = d[0] + t * (d[1] + t * (d[2] + t * (d[3] + t * d[4])));
    if (E) {
      const double* c = &energy_[row];
      *E = c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * c[5]))));
    }
    return true;
  }

  /// E, dE/ds and d2E/ds2 from erfc and exp directly.
  void exact(double s, double& E, double& Es, double& Ess) const {
    const double r = std::sqrt(s), ec = std::erfc(alpha_ * r);
    const double g = 1.12837916709551257390 * alpha_ * std::exp(-alpha_ * alpha_ * s);  // 2 alpha/sqrt(pi) e^-a2r2
    E = ec / r - (dsf_ ? e_shift_ + r * f_shift_ : 0.0);
    const double Er = -ec / s - g / r - (dsf_ ? f_shift_ : 0.0);  // dE/dr
    const double Err = 2 * ec / (s * r) + 2 * g / s + 2 * alpha_ * alpha_ * g;
    Es = Er / (2 * r);
    Ess = (Err - Er / r) / (4 * s);
  }

 private:
  static int64_t key(double s) {
    uint64_t bits;
    std::memcpy(&bits, &s, sizeof bits);
    return static_cast<int64_t>(bits >> (52 - kBits));
  }
  bool dsf_;
  double alpha_, e_shift_, f_shift_;
  int64_t bins_ = 0, base_ = 0;
  // 64-byte aligned rows (one cache line per lookup)
  struct alignas(64) Line {
    double v[kRow];
  };
  struct Rows {
    std::vector<Line> lines;
    void resize(size_t n) { lines.resize(n / kRow); }
    const double* data() const { return lines.empty() ? nullptr : lines[0].v; }
    double& operator[](size_t k) { return lines[k / kRow].v[k % kRow]; }
    const double& operator[](size_t k) const { return lines[k / kRow].v[k % kRow]; }
  };
  Rows force_, energy_;
};

}  // namespace nepcg::detail
