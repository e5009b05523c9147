// Mixed-radix FFT (Stockham autosort passes between two work buffers).
#include "fft.hpp"

#include <cmath>
#include <string>

#include "nepcg/error.hpp"

namespace nepcg::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;
// Complex product without the C99 Annex G inf/NaN recovery (values here are finite).
inline std::complex<double> mul(const std::complex<double>& a, const std::complex<double>& b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
}

FFT1D::FFT1D(int n, int sign) : n_(n) {
  int m = n;
  for (int p : {4, 2, 3, 5})
    while (m % p == 0) factors_.push_back(p), m /= p;
  for (int p = 7; m > 1; p += 2)
    while (m % p == 0) factors_.push_back(p), m /= p;
  for (int p : factors_)
    if (p > 16) throw InputError("FFT: grid size " + std::to_string(n) + " has a prime factor above 13");
  twiddle_.resize(n);
  for (int j = 0; j < n; ++j) twiddle_[j] = std::polar(1.0, sign * 2.0 * kPi * j / n);
}

// Stockham autosort (decimation in frequency), one pass per factor p, ping-ponging between two
// buffers; no recursion and no bit reversal. A pass on sub-sequences of length len (stride s,
// m = len / p) maps
//   y[q + s (p j + t)] = w^(j t) sum_r x[q + s (j + r m)] w_p^(r t),  w = exp(sign 2 pi i / len),
// for j < m, t < p, q < s; then len /= p, s *= p.
void FFT1D::transform(std::complex<double>* x, std::ptrdiff_t stride, std::complex<double>* work) const {
  using cplx = std::complex<double>;
  const int n = n_;
  if (n <= 1) return;
  cplx* a = work;
  cplx* b = work + n;
  for (int k = 0; k < n; ++k) a[k] = x[k * stride];
  int len = n, s = 1;
  for (int p : factors_) {
    const int m = len / p, tstep = n / len;  // w^e = twiddle_[e * tstep]
    if (p == 2) {
      for (int j = 0; j < m; ++j) {
        const cplx w = twiddle_[j * tstep];
        for (int q = 0; q < s; ++q) {
          const cplx u = a[q + s * j], v = a[q + s * (j + m)];
          b[q + s * (2 * j)] = u + v;
          b[q + s * (2 * j + 1)] = mul(u - v, w);
        }
      }
    } else if (p == 4) {
      const cplx w4 = twiddle_[n / 4];  // exp(sign i pi / 2)
      for (int j = 0; j < m; ++j) {
        const cplx w1 = twiddle_[j * tstep], w2 = twiddle_[2 * j * tstep], w3 = twiddle_[3 * j * tstep];
        for (int q = 0; q < s; ++q) {
          const cplx a0 = a[q + s * j], a1 = a[q + s * (j + m)], a2 = a[q + s * (j + 2 * m)], a3 = a[q + s * (j + 3 * m)];
          const cplx t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3, t3 = mul(a1 - a3, w4);
          cplx* out = b + q + s * (4 * j);
          out[0] = t0 + t2;
          out[s] = mul(t1 + t3, w1);
          out[2 * s] = mul(t0 - t2, w2);
          out[3 * s] = mul(t1 - t3, w3);
        }
      }
    } else {  // 3, 5 or another prime: a p-point DFT with w_p^(r t) = twiddle_[(r t mod p) n / p]
      cplx y[16];
      for (int j = 0; j < m; ++j)
        for (int q = 0; q < s; ++q) {
          for (int r = 0; r < p; ++r) y[r] = a[q + s * (j + r * m)];
          for (int t = 0; t < p; ++t) {
            cplx acc = y[0];
            for (int r = 1; r < p; ++r) acc += mul(y[r], twiddle_[((r * t) % p) * (n / p)]);
            b[q + s * (p * j + t)] = mul(acc, twiddle_[j * t * tstep]);
          }
        }
    }
    std::swap(a, b);
    len = m, s *= p;
  }
  for (int k = 0; k < n; ++k) x[k * stride] = a[k];
}

void fft3d(std::vector<std::complex<double>>& g, int n0, int n1, int n2, int sign) {
  using cplx = std::complex<double>;
  const FFT1D f0(n0, sign), f1(n1, sign), f2(n2, sign);
  const int nmax = std::max(n0, std::max(n1, n2));
  // Lines along axes 0 and 1 are strided: they are gathered kBlock at a time (neighbours along
  // axis 2 are contiguous in memory), transformed and scattered back.
  constexpr int kBlock = 8;
  const long long n12 = static_cast<long long>(n1) * n2;
  const int blocks2 = (n2 + kBlock - 1) / kBlock;
#pragma omp parallel
  {
    std::vector<cplx> work(2 * nmax + 16), lines(static_cast<size_t>(kBlock) * nmax);
#pragma omp for schedule(static)
    for (long long r = 0; r < static_cast<long long>(n0) * n1; ++r) f2.transform(&g[r * n2], 1, work.data());
#pragma omp for schedule(static)
    for (long long task = 0; task < static_cast<long long>(n0) * blocks2; ++task) {
      const long long a = task / blocks2;
      const int c0 = static_cast<int>(task % blocks2) * kBlock, nc = std::min(kBlock, n2 - c0);
      cplx* base = &g[a * n12 + c0];
      for (int b = 0; b < n1; ++b)
        for (int t = 0; t < nc; ++t) lines[static_cast<size_t>(t) * nmax + b] = base[static_cast<long long>(b) * n2 + t];
      for (int t = 0; t < nc; ++t) f1.transform(&lines[static_cast<size_t>(t) * nmax], 1, work.data());
      for (int b = 0; b < n1; ++b)
        for (int t = 0; t < nc; ++t) base[static_cast<long long>(b) * n2 + t] = lines[static_cast<size_t>(t) * nmax + b];
    }
#pragma omp for schedule(static)
    for (long long task = 0; task < static_cast<long long>(n1) * blocks2; ++task) {
      const long long b = task / blocks2;
      const int c0 = static_cast<int>(task % blocks2) * kBlock, nc = std::min(kBlock, n2 - c0);
      cplx* base = &g[b * n2 + c0];
      for (int a = 0; a < n0; ++a)
        for (int t = 0; t < nc; ++t) lines[static_cast<size_t>(t) * nmax + a] = base[a * n12 + t];
      for (int t = 0; t < nc; ++t) f0.transform(&lines[static_cast<size_t>(t) * nmax], 1, work.data());
      for (int a = 0; a < n0; ++a)
        for (int t = 0; t < nc; ++t) base[a * n12 + t] = lines[static_cast<size_t>(t) * nmax + a];
    }
  }
}

int fft_good_size(int n) {
  for (int m = std::max(n, 1);; ++m) {
    int k = m;
    for (int p : {2, 3, 5})
      while (k % p == 0) k /= p;
    if (k == 1) return m;
  }
}

}  // namespace nepcg::detail
