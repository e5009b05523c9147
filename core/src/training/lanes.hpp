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
      for (int k = 0; k < kPieces; ++k) lanes_tanh_float<Piece, IPiece>(x.p[k], y.p[k]);
      return y;
    } else {
      typedef long long IPiece __attribute__((vector_size(PieceBytes)));
      Lanes y;
      for (int k = 0; k < kPieces; ++k) lanes_tanh<Piece, IPiece>(x.p[k], y.p[k]);
      return y;
    }
  }

 private:
  // tanh|x| = e / (e + 2) with e = expm1(2|x|): for 2|x| < 1 expm1 from its Taylor series
  // (positive terms, no cancellation; 18 terms leave < 1e-17), above from exp, e^y = 2^n e^r
  // with n = round(y / ln 2), |r| <= ln(2) / 2 (13 Taylor terms, < 1e-17). Branch-free: both
  // are computed and one is selected per lane.
  template <class DVec, class IVec>
  static void lanes_tanh(const DVec x, DVec& out) {
    const DVec zero = DVec{};
    const DVec ax = x < zero ? -x : x;
    DVec y = ax + ax;
    y = y > 40.0 + zero ? 40.0 + zero : y;  // tanh(20) = 1 in double; keeps 2^n finite
    // expm1 for y < 1: y (1 + y/2 (1 + y/3 (... (1 + y/18))))
    DVec s = 1.0 + zero;
    for (int k = 18; k >= 2; --k) s = 1.0 + s * (y * (1.0 / k));
    const DVec small = y * s;
    // exp for y >= 1
    const DVec n = __builtin_convertvector(__builtin_convertvector(y * 1.4426950408889634 + 0.5, IVec), DVec);
    const DVec r = (y - n * 0.693147180559890330187) - n * 5.4979230187083711552e-14;  // ln 2 = hi + lo
    DVec e = 1.0 / 6227020800.0 + zero;  // 1 / 13!
    static constexpr double kInvFactorial[13] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                                 1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800,
                                                 1.0 / 39916800, 1.0 / 479001600};
    for (int k = 12; k >= 0; --k) e = kInvFactorial[k] + e * r;
    const IVec bits = (__builtin_convertvector(n, IVec) + 1023) << 52;
    DVec two_n;
    std::memcpy(&two_n, &bits, sizeof two_n);
    const DVec large = e * two_n - 1.0;
    const DVec em = y < 1.0 + zero ? small : large;
    const DVec t = em / (em + 2.0);
    out = x < zero ? -t : t;
  }

  // The same construction in float: expm1 for 2|x| < 1 from 10 Taylor terms (< 3e-8), above
  // e^r with |r| <= ln(2)/2 from 9 terms (< 6e-9) and 2^n with n <= 58 (2|x| capped at 40:
  // tanh(20) = 1 in float).
  template <class FVec, class IVec>
  static void lanes_tanh_float(const FVec x, FVec& out) {
    const FVec zero = FVec{};
    const FVec ax = x < zero ? -x : x;
    FVec y = ax + ax;
    y = y > 40.0f + zero ? 40.0f + zero : y;
    FVec s = 1.0f + zero;
    for (int k = 10; k >= 2; --k) s = 1.0f + s * (y * (1.0f / k));
    const FVec small = y * s;
    const FVec n = __builtin_convertvector(__builtin_convertvector(y * 1.44269504f + 0.5f, IVec), FVec);
    // ln 2 = hi + lo, hi with 15 significant bits so that n * hi is exact
    const FVec r = (y - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
    static constexpr float kInvFactorial[9] = {1.0f,         1.0f,          1.0f / 2,      1.0f / 6,    1.0f / 24,
                                               1.0f / 120,   1.0f / 720,    1.0f / 5040,   1.0f / 40320};
    FVec e = kInvFactorial[8] + zero;
    for (int k = 7; k >= 0; --k) e = kInvFactorial[k] + e * r;
    const IVec bits = (__builtin_convertvector(n, IVec) + 127) << 23;
    FVec two_n;
    std::memcpy(&two_n, &bits, sizeof two_n);
    const FVec large = e * two_n - 1.0f;
    const FVec em = y < 1.0f + zero ? small : large;
    const FVec t = em / (em + 2.0f);
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
