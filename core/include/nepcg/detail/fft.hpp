// Internal (used by PME; bound as pynepcg._core._fft / _rfft3d for tests only): a small complex
// FFT for grid sizes whose prime factors are 2, 3 and 5 (others work through a direct DFT step,
// slowly), in 1D and on 3D row-major grids. Unnormalised:
//   X[m] = sum_k x[k] exp(sign 2 pi i m k / n).
#pragma once

#include <complex>
#include <vector>

namespace nepcg::detail {

class FFT1D {
 public:
  FFT1D(int n, int sign);
  int size() const { return n_; }
  /// Transforms x (n values, stride `stride`) in place; `work` holds at least 2n values.
  void transform(std::complex<double>* x, std::ptrdiff_t stride, std::complex<double>* work) const;

 private:
  int n_;
  std::vector<int> factors_;
  std::vector<std::complex<double>> twiddle_;  // exp(sign 2 pi i j / n), j = 0 ... n-1
};

/// In-place 3D transform of a row-major (n0, n1, n2) grid (OpenMP over lines).
void fft3d(std::vector<std::complex<double>>& grid, int n0, int n1, int n2, int sign);

/// Real-to-complex 3D transform (sign -1, unnormalised) of a real row-major (n0, n1, n2) grid, n2
/// even: `out` gets the half spectrum (n0, n1, n2/2 + 1), m2 = 0 ... n2/2 (the rest follows from
/// X[-m] = conj X[m]). Half the work of fft3d on the same grid.
void rfft3d_forward(const std::vector<double>& in, std::vector<std::complex<double>>& out, int n0, int n1, int n2);
/// The inverse direction (sign +1, unnormalised) from a Hermitian half spectrum to the real grid;
/// `in` is overwritten.
void rfft3d_backward(std::vector<std::complex<double>>& in, std::vector<double>& out, int n0, int n1, int n2);

/// Smallest integer >= n whose prime factors are only 2, 3 and 5.
int fft_good_size(int n);

}  // namespace nepcg::detail
