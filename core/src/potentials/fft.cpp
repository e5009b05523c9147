// Mixed-radix FFT (Stockham autosort passes between two work buffers).
#include "nepcg/detail/fft.hpp"

#include <algorithm>
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
    } else if (p == 3) {
      // y1,2 = a0 - (a1 + a2) / 2 +- i sin(sign 2 pi / 3) (a1 - a2)
      const double s3 = twiddle_[n / 3].imag();
      for (int j = 0; j < m; ++j) {
        const cplx w1 = twiddle_[j * tstep], w2 = twiddle_[2 * j * tstep];
        for (int q = 0; q < s; ++q) {
          const cplx a0 = a[q + s * j], a1 = a[q + s * (j + m)], a2 = a[q + s * (j + 2 * m)];
          const cplx sum = a1 + a2, dif = a1 - a2;
          const cplx t = a0 - 0.5 * sum, r = {-s3 * dif.imag(), s3 * dif.real()};  // i s3 (a1 - a2)
          cplx* out = b + q + s * (3 * j);
          out[0] = a0 + sum;
          out[s] = mul(t + r, w1);
          out[2 * s] = mul(t - r, w2);
        }
      }
    } else if (p == 5) {
      // with b1 = a1 + a4, b2 = a2 + a3, d1 = a1 - a4, d2 = a2 - a3, c_k = cos(2 pi k / 5),
      // s_k = sin(sign 2 pi k / 5): y1,4 = a0 + c1 b1 + c2 b2 +- i (s1 d1 + s2 d2),
      // y2,3 = a0 + c2 b1 + c1 b2 +- i (s2 d1 - s1 d2)
      const double c1 = twiddle_[n / 5].real(), s1 = twiddle_[n / 5].imag();
      const double c2 = twiddle_[2 * (n / 5)].real(), s2 = twiddle_[2 * (n / 5)].imag();
      for (int j = 0; j < m; ++j) {
        const cplx w1 = twiddle_[j * tstep], w2 = twiddle_[2 * j * tstep], w3 = twiddle_[3 * j * tstep],
                   w4 = twiddle_[4 * j * tstep];
        for (int q = 0; q < s; ++q) {
          const cplx a0 = a[q + s * j], a1 = a[q + s * (j + m)], a2 = a[q + s * (j + 2 * m)],
                     a3 = a[q + s * (j + 3 * m)], a4 = a[q + s * (j + 4 * m)];
          const cplx b1 = a1 + a4, b2 = a2 + a3, d1 = a1 - a4, d2 = a2 - a3;
          const cplx e1 = a0 + c1 * b1 + c2 * b2, e2 = a0 + c2 * b1 + c1 * b2;
          const cplx u1 = s1 * d1 + s2 * d2, u2 = s2 * d1 - s1 * d2;
          const cplx r1 = {-u1.imag(), u1.real()}, r2 = {-u2.imag(), u2.real()};  // i u
          cplx* out = b + q + s * (5 * j);
          out[0] = a0 + b1 + b2;
          out[s] = mul(e1 + r1, w1);
          out[2 * s] = mul(e2 + r2, w2);
          out[3 * s] = mul(e2 - r2, w3);
          out[4 * s] = mul(e1 - r1, w4);
        }
      }
    } else {  // another prime: a p-point DFT with w_p^(r t) = twiddle_[(r t mod p) n / p]
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

namespace {

// Transforms along axes 0 and 1 of a row-major (n0, n1, nz) grid. Those lines are strided: they
// are gathered kBlock at a time (neighbours along axis 2 are contiguous in memory), transformed
// and scattered back.
void fft_axes01(std::vector<std::complex<double>>& g, int n0, int n1, int nz, int sign) {
  using cplx = std::complex<double>;
  const FFT1D f0(n0, sign), f1(n1, sign);
  const int nmax = std::max(n0, n1);
  constexpr int kBlock = 8;
  const long long n12 = static_cast<long long>(n1) * nz;
  const int blocks2 = (nz + kBlock - 1) / kBlock;
#pragma omp parallel
  {
    std::vector<cplx> work(2 * nmax + 16), lines(static_cast<size_t>(kBlock) * nmax);
#pragma omp for schedule(static)
    for (long long task = 0; task < static_cast<long long>(n0) * blocks2; ++task) {
      const long long a = task / blocks2;
      const int c0 = static_cast<int>(task % blocks2) * kBlock, nc = std::min(kBlock, nz - c0);
      cplx* base = &g[a * n12 + c0];
      for (int b = 0; b < n1; ++b)
        for (int t = 0; t < nc; ++t) lines[static_cast<size_t>(t) * nmax + b] = base[static_cast<long long>(b) * nz + t];
      for (int t = 0; t < nc; ++t) f1.transform(&lines[static_cast<size_t>(t) * nmax], 1, work.data());
      for (int b = 0; b < n1; ++b)
        for (int t = 0; t < nc; ++t) base[static_cast<long long>(b) * nz + t] = lines[static_cast<size_t>(t) * nmax + b];
    }
#pragma omp for schedule(static)
    for (long long task = 0; task < static_cast<long long>(n1) * blocks2; ++task) {
      const long long b = task / blocks2;
      const int c0 = static_cast<int>(task % blocks2) * kBlock, nc = std::min(kBlock, nz - c0);
      cplx* base = &g[b * nz + c0];
      for (int a = 0; a < n0; ++a)
        for (int t = 0; t < nc; ++t) lines[static_cast<size_t>(t) * nmax + a] = base[a * n12 + t];
      for (int t = 0; t < nc; ++t) f0.transform(&lines[static_cast<size_t>(t) * nmax], 1, work.data());
      for (int a = 0; a < n0; ++a)
        for (int t = 0; t < nc; ++t) base[a * n12 + t] = lines[static_cast<size_t>(t) * nmax + a];
    }
  }
}

}  // namespace

void fft3d(std::vector<std::complex<double>>& g, int n0, int n1, int n2, int sign) {
  using cplx = std::complex<double>;
  const FFT1D f2(n2, sign);
#pragma omp parallel
  {
    std::vector<cplx> work(2 * n2 + 16);
#pragma omp for schedule(static)
    for (long long r = 0; r < static_cast<long long>(n0) * n1; ++r) f2.transform(&g[r * n2], 1, work.data());
  }
  fft_axes01(g, n0, n1, n2, sign);
}

// Real lines of even length N through complex FFTs of length M = N/2 on z[k] = x[2k] + i x[2k+1]:
// with Z = FFT_M(z), E[m] = (Z[m] + conj Z[M-m]) / 2 and O[m] = (Z[m] - conj Z[M-m]) / 2i are
// the transforms of the even and odd samples, and X[m] = E[m] + e^(-2 pi i m/N) O[m], m = 0 ... M.
// The inverse packs Z[m] = (X[m] + conj X[M-m]) + i e^(2 pi i m/N) (X[m] - conj X[M-m]).
void rfft3d_forward(const std::vector<double>& in, std::vector<std::complex<double>>& out, int n0, int n1, int n2) {
  using cplx = std::complex<double>;
  if (n2 % 2) throw InputError("rfft3d: the last grid dimension must be even; got " + std::to_string(n2));
  const int M = n2 / 2;
  const FFT1D fm(M, -1);
  std::vector<cplx> w(M + 1);
  for (int m = 0; m <= M; ++m) w[m] = std::polar(1.0, -2.0 * kPi * m / n2);
  const long long rows = static_cast<long long>(n0) * n1;
  out.resize(rows * (M + 1));
#pragma omp parallel
  {
    std::vector<cplx> z(M), work(2 * M + 16);
#pragma omp for schedule(static)
    for (long long r = 0; r < rows; ++r) {
      const double* x = &in[r * n2];
      for (int k = 0; k < M; ++k) z[k] = {x[2 * k], x[2 * k + 1]};
      fm.transform(z.data(), 1, work.data());
      cplx* X = &out[r * (M + 1)];
      for (int m = 0; m <= M; ++m) {
        const cplx a = z[m % M], b = std::conj(z[(M - m) % M]);
        const cplx e = 0.5 * (a + b), o = cplx(0.0, -0.5) * (a - b);
        X[m] = e + mul(w[m], o);
      }
    }
  }
  fft_axes01(out, n0, n1, M + 1, -1);
}

void rfft3d_backward(std::vector<std::complex<double>>& in, std::vector<double>& out, int n0, int n1, int n2) {
  using cplx = std::complex<double>;
  if (n2 % 2) throw InputError("rfft3d: the last grid dimension must be even; got " + std::to_string(n2));
  const int M = n2 / 2;
  fft_axes01(in, n0, n1, M + 1, +1);
  const FFT1D fm(M, +1);
  std::vector<cplx> w(M);
  for (int m = 0; m < M; ++m) w[m] = std::polar(1.0, 2.0 * kPi * m / n2);
  const long long rows = static_cast<long long>(n0) * n1;
  out.resize(rows * n2);
#pragma omp parallel
  {
    std::vector<cplx> z(M), work(2 * M + 16);
#pragma omp for schedule(static)
    for (long long r = 0; r < rows; ++r) {
      const cplx* X = &in[r * (M + 1)];
      for (int m = 0; m < M; ++m) {
        const cplx a = X[m], b = std::conj(X[M - m]);
        z[m] = (a + b) + mul(cplx(0.0, 1.0) * w[m], a - b);
      }
      fm.transform(z.data(), 1, work.data());
      double* x = &out[r * n2];
      for (int k = 0; k < M; ++k) x[2 * k] = z[k].real(), x[2 * k + 1] = z[k].imag();
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
