// Mixed-radix decimation-in-time FFT (recursive, out of place into a work buffer).
#include "fft.hpp"

#include <cmath>
#include <string>

#include "nepcg/error.hpp"

namespace nepcg::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;
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

// out[0 .. n-1] = DFT of in[0], in[s], ..., in[(n-1)s]; `scratch` holds n values.
void FFT1D::recurse(const std::complex<double>* in, std::ptrdiff_t s, std::complex<double>* out, int n, size_t level,
                    std::complex<double>* scratch) const {
  using cplx = std::complex<double>;
  if (n == 1) {
    out[0] = in[0];
    return;
  }
  const int p = factors_[level], m = n / p;
  // Sub-transforms of the p decimated sequences into scratch[r*m ...], then combine into out.
  for (int r = 0; r < p; ++r) recurse(in + r * s, s * p, scratch + r * m, m, level + 1, out);
  const int tstep = n_ / n;  // twiddle w_n^e = twiddle_[e * tstep]
  if (p == 2) {
    for (int k = 0; k < m; ++k) {
      const cplx a = scratch[k], b = scratch[m + k] * twiddle_[k * tstep];
      out[k] = a + b, out[k + m] = a - b;
    }
    return;
  }
  if (p == 4) {
    const cplx w4 = twiddle_[n_ / 4];  // exp(sign i pi/2)
    for (int k = 0; k < m; ++k) {
      const cplx a0 = scratch[k], a1 = scratch[m + k] * twiddle_[k * tstep],
                 a2 = scratch[2 * m + k] * twiddle_[2 * k * tstep], a3 = scratch[3 * m + k] * twiddle_[3 * k * tstep];
      const cplx t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3, t3 = (a1 - a3) * w4;
      out[k] = t0 + t2, out[k + m] = t1 + t3, out[k + 2 * m] = t0 - t2, out[k + 3 * m] = t1 - t3;
    }
    return;
  }
  // General radix p (3, 5, other primes): twiddle, then a p-point DFT with w_p^(rq).
  cplx wp[256];
  const int pstep = n_ / p;
  for (int r = 0; r < p; ++r)
    for (int q = 0; q < p; ++q) wp[r * p + q] = twiddle_[((r * q) % p) * pstep];
  cplx y[16];
  for (int k = 0; k < m; ++k) {
    y[0] = scratch[k];
    for (int r = 1; r < p; ++r) y[r] = scratch[r * m + k] * twiddle_[r * k * tstep];
    for (int q = 0; q < p; ++q) {
      cplx acc = y[0];
      for (int r = 1; r < p; ++r) acc += y[r] * wp[r * p + q];
      out[k + q * m] = acc;
    }
  }
}

void FFT1D::transform(std::complex<double>* x, std::ptrdiff_t stride, std::complex<double>* work) const {
  if (n_ <= 1) return;
  recurse(x, stride, work, n_, 0, work + n_);
  for (int k = 0; k < n_; ++k) x[k * stride] = work[k];
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
