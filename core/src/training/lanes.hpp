// Internal: TrainingLanes, W = 8 doubles that go through the same arithmetic together. The CPU trainer
// evaluates W individuals of the population at once (lane l = individual l): the NEP kernels are
// templates on their real type, so NepViewT<TrainingLanes> runs the very code of the double-precision
// reference with every parameter a vector of W values, while positions, basis functions and
// harmonics (the same for every individual) stay plain doubles. Each lane performs the operations
// of the scalar evaluation in the same order (results agree to round-off: the SIMD clones may fuse
// multiply-adds); the cached basis is read once per W individuals instead of once per
// individual, and the compiler maps a Lanes operation onto SIMD registers (AVX-512: one
// instruction for W = 8). Written with the GCC/Clang vector extensions (the compilers this
// project builds with).
#pragma once

#include <cmath>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // 64-byte vectors by value: the functions are inlined
#endif

namespace nepcg {

/// Lanes of the CPU trainer: 8 doubles (one AVX-512 register, two AVX2 registers).
constexpr int kTrainingLanes = 8;

// alignas: GCC caps a vector type's alignment at what the baseline ISA supports (16 bytes), while
// the AVX-512 clone of the code moves 64-byte vectors with aligned instructions.
struct alignas(8 * kTrainingLanes) TrainingLanes {
  typedef double Vec __attribute__((vector_size(8 * kTrainingLanes)));
  Vec v;

  TrainingLanes() = default;
  // Implicit on purpose: R(0), R(2) * x and the like in the kernels broadcast a constant.
  TrainingLanes(double x) : v(Vec{} + x) {}  // NOLINT
  explicit TrainingLanes(Vec x) : v(x) {}

  double operator[](int l) const { return v[l]; }
  void set(int l, double x) { v[l] = x; }

  TrainingLanes& operator+=(const TrainingLanes& o) {
    v += o.v;
    return *this;
  }
  TrainingLanes& operator-=(const TrainingLanes& o) {
    v -= o.v;
    return *this;
  }
  TrainingLanes& operator*=(const TrainingLanes& o) {
    v *= o.v;
    return *this;
  }
  friend TrainingLanes operator+(const TrainingLanes& a, const TrainingLanes& b) { return TrainingLanes(a.v + b.v); }
  friend TrainingLanes operator-(const TrainingLanes& a, const TrainingLanes& b) { return TrainingLanes(a.v - b.v); }
  friend TrainingLanes operator*(const TrainingLanes& a, const TrainingLanes& b) { return TrainingLanes(a.v * b.v); }
  friend TrainingLanes operator/(const TrainingLanes& a, const TrainingLanes& b) { return TrainingLanes(a.v / b.v); }
  friend TrainingLanes operator+(const TrainingLanes& a, double b) { return TrainingLanes(a.v + b); }
  friend TrainingLanes operator-(const TrainingLanes& a, double b) { return TrainingLanes(a.v - b); }
  friend TrainingLanes operator*(const TrainingLanes& a, double b) { return TrainingLanes(a.v * b); }
  friend TrainingLanes operator/(const TrainingLanes& a, double b) { return TrainingLanes(a.v / b); }
  friend TrainingLanes operator+(double a, const TrainingLanes& b) { return TrainingLanes(a + b.v); }
  friend TrainingLanes operator-(double a, const TrainingLanes& b) { return TrainingLanes(a - b.v); }
  friend TrainingLanes operator*(double a, const TrainingLanes& b) { return TrainingLanes(a * b.v); }
  friend TrainingLanes operator/(double a, const TrainingLanes& b) { return TrainingLanes(a / b.v); }
  friend TrainingLanes operator-(const TrainingLanes& a) { return TrainingLanes(-a.v); }

  /// tanh of every lane, found by argument-dependent lookup from the kernels' `tanh(z)`; within
  /// 4 ulp of std::tanh (tested against it), so lanes agree with the scalar path to round-off.
  friend TrainingLanes tanh(const TrainingLanes& x) {
    TrainingLanes y;
    lanes_tanh(x.v, y.v);
    return y;
  }

 private:
  typedef long long IVec __attribute__((vector_size(8 * kTrainingLanes)));

  // tanh|x| = e / (e + 2) with e = expm1(2|x|): for 2|x| < 1 expm1 from its Taylor series
  // (positive terms, no cancellation; 18 terms leave < 1e-17), above from exp, e^y = 2^n e^r
  // with n = round(y / ln 2), |r| <= ln(2) / 2 (13 Taylor terms, < 1e-17). Branch-free: both
  // are computed and one is selected per lane.
  static void lanes_tanh(const Vec& x, Vec& out) {
    const Vec zero = Vec{};
    const Vec ax = x < zero ? -x : x;
    Vec y = ax + ax;
    y = y > 40.0 + zero ? 40.0 + zero : y;  // tanh(20) = 1 in double; keeps 2^n finite
    // expm1 for y < 1: y (1 + y/2 (1 + y/3 (... (1 + y/18))))
    Vec s = 1.0 + zero;
    for (int k = 18; k >= 2; --k) s = 1.0 + s * (y * (1.0 / k));
    const Vec small = y * s;
    // exp for y >= 1
    const Vec n = __builtin_convertvector(__builtin_convertvector(y * 1.4426950408889634 + 0.5, IVec), Vec);
    const Vec r = (y - n * 0.693147180559890330187) - n * 5.4979230187083711552e-14;  // ln 2 = hi + lo
    Vec e = 1.0 / 6227020800.0 + zero;  // 1 / 13!
    static constexpr double kInvFactorial[13] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                                 1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800,
                                                 1.0 / 39916800, 1.0 / 479001600};
    for (int k = 12; k >= 0; --k) e = kInvFactorial[k] + e * r;
    const IVec bits = (__builtin_convertvector(n, IVec) + 1023) << 52;
    Vec two_n;
    __builtin_memcpy(&two_n, &bits, sizeof two_n);
    const Vec large = e * two_n - 1.0;
    const Vec em = y < 1.0 + zero ? small : large;
    const Vec t = em / (em + 2.0);
    out = x < zero ? -t : t;
  }
};

}  // namespace nepcg
