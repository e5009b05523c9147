// Seeded random numbers with a portable, serialisable state: the same seed gives the same
// sequence on every platform (std::normal_distribution is implementation-defined, so normals are
// drawn here with the polar Box-Muller method), and the state can be saved in restart files.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>

namespace nepcg {

class Random {
 public:
  explicit Random(uint64_t seed = 0) : engine_(seed) {}

  /// Uniform in [0, 1).
  double uniform() { return (engine_() >> 11) * 0x1.0p-53; }
  /// 64 random bits (e.g. the key of a counter-based generator on a GPU).
  uint64_t bits() { return engine_(); }
  /// Standard normal.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }
  /// Gamma(shape, 1) (Marsaglia & Tsang), shape > 0.
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform_open(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform_open();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  /// Sum of n squared standard normals (chi-squared with n degrees of freedom).
  double chi_squared(long n) {
    if (n <= 0) return 0.0;
    if (n < 32) {
      double s = 0.0;
      for (long k = 0; k < n; ++k) {
        const double x = normal();
        s += x * x;
      }
      return s;
    }
    return 2.0 * gamma(0.5 * n);
  }

  /// Text form of the full state (engine + cached normal), for restart files.
  std::string state() const {
    std::ostringstream out;
    out << engine_ << " " << has_spare_ << " " << std::hexfloat << spare_;
    return out.str();
  }
  void set_state(const std::string& s) {
    std::istringstream in(s);
    std::string spare;
    in >> engine_ >> has_spare_ >> spare;
    spare_ = std::strtod(spare.c_str(), nullptr);
  }

 private:
  double uniform_open() {
    double u;
    do u = uniform();
    while (u == 0.0);
    return u;
  }
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace nepcg
