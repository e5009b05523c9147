// Internal: Lanes, W doubles (or floats) that go through the same arithmetic together. The CPU
// trainer evaluates W individuals of the population at once (lane l = individual l): the NEP
// kernels are templates on their real type, so NepViewT<Lanes> runs the very code of the
// double-precision reference with every parameter a vector of W values, while positions, basis
// functions and harmonics (the same for every individual) stay plain doubles. Each lane performs
// the operations of the scalar evaluation in the same order (results agree to round-off: the SIMD
// clones may fuse multiply-adds); the cached basis is read once per W individuals instead of once
// per individual.
//
// The W values are stored as pieces of `PieceBytes`, each a GCC/Clang vector-extension type the
// target maps onto one SIMD register: 64-byte pieces for AVX-512 code, 32-byte ones for AVX2.
// (A single 64-byte vector compiled for AVX2 is lowered by GCC 12 through the stack and general
// registers, element by element: 3-9x slower than two 32-byte pieces.) Every operation is a loop
// over the pieces with a constant trip count, unrolled by the compiler.
#pragma once

#include <cmath>
#include <cstring>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // 64-byte vectors by value: the functions are inlined
#endif

namespace nepcg {

/// Lanes of the CPU trainer: 8 doubles for precision "double", 16 floats (the same registers)
/// for precision "single".
constexpr int kTrainingLanes = 8;
constexpr int kTrainingLanesSingle = 16;

/// Constants of Lanes' tanh per real type: Taylor terms of expm1 below 2|x| = 1 and of exp(r)
/// above, log2(e), ln 2 as hi + lo (hi short enough that n * hi is exact), the exponent field.
template <class S>
struct LanesTanhTerms;
template <>
struct LanesTanhTerms<double> {
  static constexpr int kSmall = 18, kExp = 14, kExponentBias = 1023, kMantissaBits = 52;
  static constexpr double kLog2e = 1.4426950408889634, kLn2Hi = 0.693147180559890330187,
                          kLn2Lo = 5.4979230187083711552e-14;
};
template <>
struct LanesTanhTerms<float> {
  static constexpr int kSmall = 10, kExp = 9, kExponentBias = 127, kMantissaBits = 23;
  static constexpr float kLog2e = 1.44269504f, kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187e-6f;
};

/// W values of type T (double or float), stored as pieces of PieceBytes bytes. Mixed arithmetic
/// with a plain double (the cached basis, pair vectors) rounds the double to T first, so single
/// lanes compute in float throughout, as the GPU's single-precision kernels.
// alignas: GCC caps a vector type's alignment at what the baseline ISA supports (16 bytes), while
// the AVX-512 clone of the code moves 64-byte vectors with aligned instructions.
template <class T, int W, int PieceBytes>
struct alignas(PieceBytes) Lanes {
  using value_type = T;
  static constexpr int size = W;
  static constexpr int kPerPiece = PieceBytes / static_cast<int>(sizeof(T));
  static constexpr int kPieces = W / kPerPiece;
  static_assert(kPieces * kPerPiece == W, "W must be a multiple of the values per piece");
  typedef T Piece __attribute__((vector_size(PieceBytes)));
  Piece p[kPieces];

  Lanes() = default;
  // Implicit on purpose: R(0), R(2) * x and the like in the kernels broadcast a constant.
  Lanes(double x) {  // NOLINT
    for (int k = 0; k < kPieces; ++k) p[k] = Piece{} + static_cast<T>(x);
  }

  T operator[](int l) const { return p[l / kPerPiece][l % kPerPiece]; }
  void set(int l, double x) { p[l / kPerPiece][l % kPerPiece] = static_cast<T>(x); }

  Lanes& operator+=(const Lanes& o) {
    for (int k = 0; k < kPieces; ++k) p[k] += o.p[k];
    return *this;
  }
  Lanes& operator-=(const Lanes& o) {
    for (int k = 0; k < kPieces; ++k) p[k] -= o.p[k];
    return *this;
  }
  Lanes& operator*=(const Lanes& o) {
    for (int k = 0; k < kPieces; ++k) p[k] *= o.p[k];
    return *this;
  }
  friend Lanes operator+(Lanes a, const Lanes& b) { return a += b; }
  friend Lanes operator-(Lanes a, const Lanes& b) { return a -= b; }
  friend Lanes operator*(Lanes a, const Lanes& b) { return a *= b; }
  friend Lanes operator/(Lanes a, const Lanes& b) {
    for (int k = 0; k < kPieces; ++k) a.p[k] /= b.p[k];
    return a;
  }
  friend Lanes operator+(Lanes a, double b) {
    for (int k = 0; k < kPieces; ++k) a.p[k] += static_cast<T>(b);
    return a;
  }
  friend Lanes operator-(Lanes a, double b) {
    for (int k = 0; k < kPieces; ++k) a.p[k] -= static_cast<T>(b);
    return a;
  }
  friend Lanes operator*(Lanes a, double b) {
    for (int k = 0; k < kPieces; ++k) a.p[k] *= static_cast<T>(b);
    return a;
  }
  friend Lanes operator/(Lanes a, double b) {
    for (int k = 0; k < kPieces; ++k) a.p[k] /= static_cast<T>(b);
    return a;
  }
  friend Lanes operator+(double a, const Lanes& b) { return b + a; }
  friend Lanes operator-(double a, Lanes b) {
    for (int k = 0; k < kPieces; ++k) b.p[k] = static_cast<T>(a) - b.p[k];
    return b;
  }
  friend Lanes operator*(double a, const Lanes& b) { return b * a; }
  friend Lanes operator/(double a, Lanes b) {
    for (int k = 0; k < kPieces; ++k) b.p[k] = static_cast<T>(a) / b.p[k];
    return b;
  }
  friend Lanes operator-(Lanes a) {
    for (int k = 0; k < kPieces; ++k) a.p[k] = -a.p[k];
    return a;
  }

  /// tanh of every lane, found by argument-dependent lookup from the kernels' `tanh(z)`: double
  /// lanes within 4 ulp of std::tanh (tested against it), so lanes agree with the scalar path to
  /// round-off; float lanes in float arithmetic, within 4 float ulp of the exact value (3.3 ulp
  /// at most over every third float in [1e-30, 12]; CUDA's tanhf, which the GPU's single
  /// precision uses, is documented within 2).
  friend Lanes tanh(const Lanes& x) {
    if constexpr (sizeof(T) == sizeof(float)) {
      typedef int IPiece __attribute__((vector_size(PieceBytes)));
      Lanes y;
      for (int k = 0; k < kPieces; ++k) lanes_tanh<float, Piece, IPiece>(x.p[k], y.p[k]);
      return y;
    } else {
      typedef long long IPiece __attribute__((vector_size(PieceBytes)));
      Lanes y;
      for (int k = 0; k < kPieces; ++k) lanes_tanh<double, Piece, IPiece>(x.p[k], y.p[k]);
      return y;
    }
  }

 private:
  // tanh|x| = e / (e + 2) with e = expm1(2|x|): for 2|x| < 1 expm1 from its Taylor series
  // (positive terms, no cancellation), above from exp, e^y = 2^n e^r with n = round(y / ln 2),
  // |r| <= ln(2) / 2, from its Taylor series and 2^n built in the exponent bits; 2|x| is capped
  // at 40 (tanh(20) = 1 in double and float; keeps 2^n finite). Branch-free: both are computed
  // and one is selected per lane. Terms (LanesTanhTerms): double 18 and 14 (< 1e-17), float 10
  // and 9 (< 3e-8 and < 6e-9).
  static constexpr double factorial(int k) { return k <= 1 ? 1.0 : k * factorial(k - 1); }

  template <class S, class Vec, class IVec>
  static void lanes_tanh(const Vec x, Vec& out) {
    using C = LanesTanhTerms<S>;
    const Vec zero = Vec{};
    const Vec ax = x < zero ? -x : x;
    Vec y = ax + ax;
    y = y > S(40) + zero ? S(40) + zero : y;
    // expm1 for y < 1: y (1 + y/2 (1 + y/3 (... (1 + y/K))))
    Vec s = S(1) + zero;
    for (int k = C::kSmall; k >= 2; --k) s = S(1) + s * (y * (S(1) / S(k)));
    const Vec small = y * s;
    // exp for y >= 1
    const Vec n = __builtin_convertvector(__builtin_convertvector(y * C::kLog2e + S(0.5), IVec), Vec);
    const Vec r = (y - n * C::kLn2Hi) - n * C::kLn2Lo;  // ln 2 = hi + lo, n * hi exact
    Vec e = S(1) / S(factorial(C::kExp - 1)) + zero;
    for (int k = C::kExp - 2; k >= 0; --k) e = S(1) / S(factorial(k)) + e * r;
    const IVec bits = (__builtin_convertvector(n, IVec) + C::kExponentBias) << C::kMantissaBits;
    Vec two_n;
    std::memcpy(&two_n, &bits, sizeof two_n);
    const Vec large = e * two_n - S(1);
    const Vec em = y < S(1) + zero ? small : large;
    const Vec t = em / (em + S(2));
    out = x < zero ? -t : t;
  }
};

/// The trainer's lanes: one 64-byte piece (AVX-512 code) or two 32-byte pieces (AVX2 and
/// baseline code), in double and in single precision.
using TrainingLanesWide = Lanes<double, kTrainingLanes, 64>;
using TrainingLanes = Lanes<double, kTrainingLanes, 32>;
using TrainingLanesSingleWide = Lanes<float, kTrainingLanesSingle, 64>;
using TrainingLanesSingle = Lanes<float, kTrainingLanesSingle, 32>;
/// Half packs (one 32-byte piece) for the population's last few individuals: 50 individuals
/// fill 3 packs of 16 and a half pack of 8 instead of 4 packs of 16 (12 % less work).
using TrainingLanesHalf = Lanes<double, kTrainingLanes / 2, 32>;
using TrainingLanesSingleHalf = Lanes<float, kTrainingLanesSingle / 2, 32>;

}  // namespace nepcg
