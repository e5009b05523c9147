// Smooth particle-mesh Ewald (Essmann et al., J. Chem. Phys. 103, 8577 (1995)): the reciprocal
// Ewald sum with charges spread on a (K1, K2, K3) grid by cardinal B-splines of order p.
//
// u_i = K . s_i (s: fractional coordinates); Q(g) = sum_i q_i prod_d M_p(u_id - g_d) (periodic);
// C(m) = (2 pi ke / V) exp(-k^2/4 alpha^2)/k^2 B(m), k = 2 pi (m1 b1 + m2 b2 + m3 b3),
// B(m) = prod_d |b_d(m_d)|^2 (Euler exponential spline factors), C(0) = 0:
//   E = sum_m C(m) |FFT(Q)(m)|^2,  Phi = 2 IFFT(C FFT(Q)) (= dE/dQ),  E_i = q_i/2 sum_g w_i(g) Phi(g)
//   F_i = -q_i sum_g grad w_i(g) Phi(g),
//   W_i = q_i/2 sum_g w_i(g) Phi^ab(g),  Phi^ab = 2 IFFT(C T^ab FFT(Q)),
//   T^ab = delta_ab - 2 (1/k^2 + 1/(4 alpha^2)) k_a k_b  (the same per-atom split as ewald.cpp).
// The energy is a smooth function of positions and strain; forces and virials are its exact
// derivatives (fractional coordinates, hence Q, do not change under a homogeneous strain).
// The total force is not exactly zero (interpolation error, of the order of the requested accuracy).
#include <algorithm>
#include <cmath>
#include <complex>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ewald.hpp"
#include "nepcg/detail/fft.hpp"
#include "nepcg/error.hpp"

namespace nepcg::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;

// theta[j] = M_p(w + j), dtheta[j] = M_p'(w + j), j = 0 ... p-1, for w in [0, 1).
void bspline(double w, int p, double* theta, double* dtheta) {
  double d[16] = {w, 1.0 - w};  // order 2
  for (int n = 3; n <= p; ++n) {
    if (n == p)
      for (int j = 0; j < n; ++j) dtheta[j] = (j < n - 1 ? d[j] : 0.0) - (j > 0 ? d[j - 1] : 0.0);
    double e[16];
    for (int j = 0; j < n; ++j) {
      const double a = j < n - 1 ? d[j] : 0.0, b = j > 0 ? d[j - 1] : 0.0;
      e[j] = ((w + j) * a + (n - w - j) * b) / (n - 1);
    }
    std::copy(e, e + n, d);
  }
  if (p == 2) dtheta[0] = 1.0, dtheta[1] = -1.0;
  std::copy(d, d + p, theta);
}

// |b(m)|^2 = 1 / |sum_{k=0}^{p-2} M_p(k+1) exp(2 pi i m k / K)|^2 for m = 0 ... K-1.
std::vector<double> euler_factors(int K, int p) {
  double th[16], dth[16];
  bspline(0.0, p, th, dth);  // th[j] = M_p(j); M_p(k+1) = th[k+1]
  std::vector<double> b(K);
  for (int m = 0; m < K; ++m) {
    std::complex<double> s = 0.0;
    for (int k = 0; k <= p - 2; ++k) s += th[k + 1] * std::polar(1.0, 2 * kPi * m * k / K);
    const double a = std::norm(s);
    // For odd p, |s| vanishes at m = K/2; interpolate from the neighbours as is customary.
    b[m] = a > 1e-14 ? 1.0 / a : -1.0;
  }
  for (int m = 0; m < K; ++m)
    if (b[m] < 0) b[m] = 0.5 * (b[(m + K - 1) % K] + b[(m + 1) % K]);
  return b;
}

int wrap_index(int i, int K) {
  i %= K;
  return i < 0 ? i + K : i;
}
}  // namespace

double pme_error_estimate(const Box& box, const std::array<int, 3>& grid, int order, double alpha, double sum_q2,
                          size_t natoms) {
  // RMS force error in the random-phase approximation (as Kolafa-Perram for Ewald):
  //   dF^2 = sum_q2^2 / N sum_m (G(k)/V)^2 k^2 A(m),  G = 4 pi exp(-k^2/4 alpha^2)/k^2,
  // A(m) = 2 sum_d sum_{n != 0} (u_d / (u_d + n))^(2p), u_d = m_d / K_d (B-spline aliasing of the
  // assignment and of the interpolation), plus the modes beyond the grid's Nyquist frequency
  // (A = 1), estimated by the Ewald truncation formula.
  const double volume = box.volume();
  const Mat3& inv = box.effective_inverse();
  std::array<std::vector<double>, 3> alias;
  for (int d = 0; d < 3; ++d) {
    alias[d].resize(grid[d]);
    for (int m = 0; m < grid[d]; ++m) {
      const int mm = m <= grid[d] / 2 ? m : m - grid[d];
      const double u = double(mm) / grid[d];
      double a = 0.0;
      if (mm != 0)
        for (int n = -4; n <= 4; ++n)
          if (n != 0) a += std::pow(u / (u + n), 2 * order);
      alias[d][m] = a;
    }
  }
  // g^2 k^2 = (4 pi / V)^2 exp(-c k^2) / k^2 with c = 1 / (2 alpha^2). The estimate runs whenever
  // the cell changes (every step under a barostat), so exp(-c k^2) is not evaluated per grid point:
  // with k^2 = sum_de G_de n_d n_e (G = 4 pi^2 b_d . b_e, b_d the reciprocal vectors) it is the
  // product of three 1-D tables (diagonal terms) and three 2-D tables (cross terms; all 1 for an
  // orthorhombic cell), leaving multiplications in the inner loop.
  const double c = 0.5 / (alpha * alpha);
  double G[3][3];
  for (int d = 0; d < 3; ++d)
    for (int e = 0; e < 3; ++e)
      G[d][e] = 4 * kPi * kPi * (inv[0][d] * inv[0][e] + inv[1][d] * inv[1][e] + inv[2][d] * inv[2][e]);
  auto folded = [&](int d, int m) { return double(m <= grid[d] / 2 ? m : m - grid[d]); };
  // Cross factors stay finite (|exponent| <= 600) unless the cell is very skewed; then exp per point.
  double worst_cross = 0.0;
  for (int d = 0; d < 3; ++d)
    for (int e = d + 1; e < 3; ++e)
      worst_cross = std::max(worst_cross, 2 * c * std::abs(G[d][e]) * (grid[d] / 2) * (grid[e] / 2));
  const bool factorised = worst_cross <= 600.0;
  std::array<std::vector<double>, 3> diag;
  for (int d = 0; d < 3; ++d) {
    diag[d].resize(grid[d]);
    for (int m = 0; m < grid[d]; ++m) diag[d][m] = std::exp(-c * G[d][d] * folded(d, m) * folded(d, m));
  }
  auto cross_table = [&](int d, int e) {
    std::vector<double> t(size_t(grid[d]) * grid[e], 1.0);
    if (factorised && G[d][e] != 0.0)
      for (int a = 0; a < grid[d]; ++a)
        for (int b = 0; b < grid[e]; ++b) t[size_t(a) * grid[e] + b] = std::exp(-2 * c * G[d][e] * folded(d, a) * folded(e, b));
    return t;
  };
  const std::vector<double> x01 = cross_table(0, 1), x02 = cross_table(0, 2), x12 = cross_table(1, 2);
  std::vector<double> n2(grid[2]), n2sq(grid[2]);
  for (int m2 = 0; m2 < grid[2]; ++m2) n2[m2] = folded(2, m2), n2sq[m2] = n2[m2] * n2[m2];
  double sum = 0.0;
  for (int m0 = 0; m0 < grid[0]; ++m0)
    for (int m1 = 0; m1 < grid[1]; ++m1) {
      const double n0 = folded(0, m0), n1 = folded(1, m1);
      // k^2 = q0 + q1 n2 + G22 n2^2 along the row
      const double q0 = G[0][0] * n0 * n0 + G[1][1] * n1 * n1 + 2 * G[0][1] * n0 * n1;
      const double q1 = 2 * (G[0][2] * n0 + G[1][2] * n1);
      const double f01 = diag[0][m0] * diag[1][m1] * x01[size_t(m0) * grid[1] + m1];
      const double a01 = alias[0][m0] + alias[1][m1];
      const double* r02 = &x02[size_t(m0) * grid[2]];
      const double* r12 = &x12[size_t(m1) * grid[2]];
      double row = 0.0;
      for (int m2 = (m0 == 0 && m1 == 0) ? 1 : 0; m2 < grid[2]; ++m2) {
        const double k2 = q0 + q1 * n2[m2] + G[2][2] * n2sq[m2];
        const double w = factorised ? f01 * diag[2][m2] * r02[m2] * r12[m2] : std::exp(-c * k2);
        row += w / k2 * (a01 + alias[2][m2]);
      }
      sum += row;
    }
  sum *= 2.0 * (4 * kPi / volume) * (4 * kPi / volume);
  double err2 = sum_q2 * sum_q2 / double(natoms) * sum;
  const Vec3 h = box.thickness();
  for (int d = 0; d < 3; ++d) {
    const int n = grid[d] / 2;
    const double e = 2.0 * sum_q2 * alpha / h[d] * std::sqrt(1.0 / (kPi * n * double(natoms))) *
                     std::exp(-kPi * kPi * double(n) * n / (alpha * alpha * h[d] * h[d]));
    err2 += e * e;
  }
  return std::sqrt(err2);
}

namespace {
// Grid points along axis d: FFT-friendly (factors 2, 3, 5) and, along the last axis, even (the
// real-to-complex transforms pack pairs of points).
int grid_size(int d, int n) { return d == 2 ? 2 * fft_good_size((n + 1) / 2) : fft_good_size(n); }
}  // namespace

void pme_grid_setup(const Box& box, size_t n, double sum_q2, double accuracy, int order, EwaldSetup& e) {
  // Start from the Ewald k cut-off (grid Nyquist frequency >= it), refine until the estimate holds.
  const Mat3& cell = box.cell();
  for (int d = 0; d < 3; ++d) {
    const double len = std::sqrt(cell[d][0] * cell[d][0] + cell[d][1] * cell[d][1] + cell[d][2] * cell[d][2]);
    e.grid[d] = grid_size(d, std::max(2 * order, static_cast<int>(std::ceil(e.kcut * len / kPi))));
  }
  for (int it = 0; it < 200; ++it) {
    e.pme_error = pme_error_estimate(box, e.grid, order, e.alpha, sum_q2, n);
    if (e.pme_error <= accuracy) return;
    // grow the direction with the coarsest spacing
    const Vec3 h = box.thickness();
    int d = 0;
    for (int c = 1; c < 3; ++c)
      if (h[c] / e.grid[c] > h[d] / e.grid[d]) d = c;
    e.grid[d] = grid_size(d, e.grid[d] + 1);
  }
}

void pme_reciprocal(const System& s, const std::vector<double>& q, const EwaldSetup& e, int order, double ke,
                    ForceResult& out) {
  using cplx = std::complex<double>;
  const int p = order;
  const int K0 = e.grid[0], K1 = e.grid[1], K2 = e.grid[2];
  const long long ng = static_cast<long long>(K0) * K1 * K2;
  const long long n = static_cast<long long>(s.size());
  const double volume = s.box.volume();
  const Mat3& inv = s.box.effective_inverse();
  const int K[3] = {K0, K1, K2};

  // B-spline weights per atom: base grid index and p weights (and derivatives) per direction.
  std::vector<int> base(3 * n);
  std::vector<double> th(3 * n * p), dth(3 * n * p);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < n; ++i)
    for (int d = 0; d < 3; ++d) {
      double f = s.positions[3 * i] * inv[0][d] + s.positions[3 * i + 1] * inv[1][d] + s.positions[3 * i + 2] * inv[2][d];
      f -= std::floor(f);
      const double u = f * K[d];
      const double fl = std::floor(u);
      base[3 * i + d] = static_cast<int>(fl) % K[d];
      bspline(u - fl, p, &th[(3 * i + d) * p], &dth[(3 * i + d) * p]);
    }

  // Charge assignment. Each thread owns a slab of grid planes along axis 0 and adds every atom's
  // contributions to its own planes, in atom order: every grid point sums its terms in the same
  // order as a serial loop, whatever the number of threads (deterministic, no atomics).
  std::vector<double> R(ng, 0.0);
#pragma omp parallel
  {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    const int plane_begin = static_cast<int>(static_cast<long long>(K0) * t / nt);
    const int plane_end = static_cast<int>(static_cast<long long>(K0) * (t + 1) / nt);
    for (long long i = 0; i < n; ++i) {
      int z_index[16];  // wrapped z grid indices of this atom (order <= 10)
      const double* t0 = &th[(3 * i) * p];
      const double* t1 = &th[(3 * i + 1) * p];
      const double* t2 = &th[(3 * i + 2) * p];
      for (int c = 0; c < p; ++c) z_index[c] = wrap_index(base[3 * i + 2] - c, K2);
      for (int a = 0; a < p; ++a) {
        const int g0 = wrap_index(base[3 * i] - a, K0);
        if (g0 < plane_begin || g0 >= plane_end) continue;
        for (int b = 0; b < p; ++b) {
          const int g1 = wrap_index(base[3 * i + 1] - b, K1);
          const double w01 = q[i] * t0[a] * t1[b];
          double* row = &R[(static_cast<long long>(g0) * K1 + g1) * K2];
          for (int c = 0; c < p; ++c) row[z_index[c]] += w01 * t2[c];
        }
      }
    }
  }

  // Multiply by C(m) and C(m) T^ab(m). With per-atom virials, pack two real-valued outputs per
  // complex grid: G[0] = Phi + i Phi^xx, G[1] = Phi^yy + i Phi^zz, G[2] = Phi^xy + i Phi^xz,
  // G[3] = Phi^yz (5 full complex FFTs in all). Otherwise only Phi is needed: a real-to-complex
  // transform there and back over the half spectrum m2 = 0 ... K2/2 (the other half is its
  // conjugate, so every m2 strictly inside counts twice in the k-space virial sum), and the total
  // virial W^ab = sum_m C T^ab |FFT(Q)|^2 summed here in k-space (zero when unwanted).
  const bool per_atom = out.per_atom_virials && out.compute_virial;
  const std::vector<double> b0 = euler_factors(K0, p), b1 = euler_factors(K1, p), b2 = euler_factors(K2, p);
  const double a2inv4 = 1.0 / (4 * e.alpha * e.alpha);
  const int KZ = per_atom ? K2 : K2 / 2 + 1;  // stored points along m2
  const long long nk = static_cast<long long>(K0) * K1 * KZ;
  std::vector<cplx> Q;
  if (per_atom) {
    Q.assign(R.begin(), R.end());
    fft3d(Q, K0, K1, K2, -1);
  } else {
    rfft3d_forward(R, Q, K0, K1, K2);
  }
  std::vector<std::vector<cplx>> G(per_atom ? 4 : 1, std::vector<cplx>(nk));
  const cplx I(0.0, 1.0);
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  std::vector<double> thread_w(6 * threads, 0.0);  // per-thread total virial (xx yy zz xy xz yz)
#pragma omp parallel
  {
    int t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    double* wt = &thread_w[6 * t];
#pragma omp for schedule(static)  // fixed partition: the per-thread sums add up deterministically
    for (long long idx = 0; idx < nk; ++idx) {
      const int m0 = static_cast<int>(idx / (static_cast<long long>(K1) * KZ)), m1 = static_cast<int>((idx / KZ) % K1),
                m2 = static_cast<int>(idx % KZ);
      if (idx == 0) {
        for (auto& g : G) g[0] = 0.0;
        continue;
      }
      const int n0 = m0 <= K0 / 2 ? m0 : m0 - K0, n1 = m1 <= K1 / 2 ? m1 : m1 - K1, n2 = m2 <= K2 / 2 ? m2 : m2 - K2;
      double k[3], k2 = 0.0;
      for (int c = 0; c < 3; ++c) {
        k[c] = 2 * kPi * (n0 * inv[c][0] + n1 * inv[c][1] + n2 * inv[c][2]);
        k2 += k[c] * k[c];
      }
      const double C = 2 * kPi * ke / volume * std::exp(-k2 * a2inv4) / k2 * b0[m0] * b1[m1] * b2[m2];
      const double bb = 2.0 * (1.0 / k2 + a2inv4);
      const cplx z = 2.0 * C * Q[idx];
      if (per_atom) {
        // Each packed pair must be Hermitian-symmetric real parts: X + iY with X, Y Hermitian.
        G[0][idx] = z + I * z * (1.0 - bb * k[0] * k[0]);
        G[1][idx] = z * (1.0 - bb * k[1] * k[1]) + I * z * (1.0 - bb * k[2] * k[2]);
        G[2][idx] = z * (-bb * k[0] * k[1]) + I * z * (-bb * k[0] * k[2]);
        G[3][idx] = z * (-bb * k[1] * k[2]);
      } else {
        G[0][idx] = z;
        if (out.compute_virial) {
          const double twice = (m2 == 0 || 2 * m2 == K2) ? 1.0 : 2.0;  // the conjugate half
          const double energy = twice * C * std::norm(Q[idx]);
          wt[0] += energy * (1.0 - bb * k[0] * k[0]), wt[1] += energy * (1.0 - bb * k[1] * k[1]);
          wt[2] += energy * (1.0 - bb * k[2] * k[2]), wt[3] -= energy * bb * k[0] * k[1];
          wt[4] -= energy * bb * k[0] * k[2], wt[5] -= energy * bb * k[1] * k[2];
        }
      }
    }
  }
  // Back to real space: the potential Phi on the grid (and, per atom, the packed virial grids).
  std::vector<double> potential;
  if (per_atom) {
    for (auto& g : G) fft3d(g, K0, K1, K2, +1);
    potential.resize(ng);
    for (long long gi = 0; gi < ng; ++gi) potential[gi] = G[0][gi].real();
  } else {
    rfft3d_backward(G[0], potential, K0, K1, K2);
  }
  double w_total[6] = {0, 0, 0, 0, 0, 0};  // shared out evenly over the atoms (only the sum counts)
  for (int t = 0; t < threads; ++t)
    for (int k = 0; k < 6; ++k) w_total[k] += thread_w[6 * t + k] / double(std::max<long long>(n, 1));

  // Gather per atom: energy, force, virial (+ self and neutralising-background terms).
  const double self = -ke * e.alpha / std::sqrt(kPi);
  double qsum = 0.0;
  for (long long i = 0; i < n; ++i) qsum += q[i];
  const double background = n > 0 ? -kPi * ke * qsum * qsum / (2.0 * volume * e.alpha * e.alpha) / double(n) : 0.0;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < n; ++i) {
    const double* t0 = &th[(3 * i) * p];
    const double* t1 = &th[(3 * i + 1) * p];
    const double* t2 = &th[(3 * i + 2) * p];
    const double* d0 = &dth[(3 * i) * p];
    const double* d1 = &dth[(3 * i + 1) * p];
    const double* d2 = &dth[(3 * i + 2) * p];
    double phi = 0.0, du[3] = {0, 0, 0}, w[6] = {0, 0, 0, 0, 0, 0};  // w: xx yy zz xy xz yz
    int zi[16];  // wrapped z grid indices of this atom (order <= 10)
    for (int c = 0; c < p; ++c) zi[c] = wrap_index(base[3 * i + 2] - c, K2);
    for (int a = 0; a < p; ++a) {
      const int g0 = wrap_index(base[3 * i] - a, K0);
      for (int b = 0; b < p; ++b) {
        const int g1 = wrap_index(base[3 * i + 1] - b, K1);
        const long long row = (static_cast<long long>(g0) * K1 + g1) * K2;
        for (int c = 0; c < p; ++c) {
          const long long gi = row + zi[c];
          const double wt = t0[a] * t1[b] * t2[c];
          const double P = potential[gi];
          phi += wt * P;
          du[0] += d0[a] * t1[b] * t2[c] * P;
          du[1] += t0[a] * d1[b] * t2[c] * P;
          du[2] += t0[a] * t1[b] * d2[c] * P;
          if (!per_atom) continue;
          w[0] += wt * G[0][gi].imag();
          w[1] += wt * G[1][gi].real();
          w[2] += wt * G[1][gi].imag();
          w[3] += wt * G[2][gi].real();
          w[4] += wt * G[2][gi].imag();
          w[5] += wt * G[3][gi].real();
        }
      }
    }
    const double qi = q[i];
    out.energies[i] += 0.5 * qi * phi + self * qi * qi + background;
    // du/dr_a = K_d inv[a][d]
    for (int c = 0; c < 3; ++c)
      out.forces[3 * i + c] -= qi * (du[0] * K0 * inv[c][0] + du[1] * K1 * inv[c][1] + du[2] * K2 * inv[c][2]);
    double* v = &out.virials[9 * i];
    if (!per_atom) {
      const double b = out.compute_virial ? background : 0.0;
      v[0] += w_total[0] + b, v[4] += w_total[1] + b, v[8] += w_total[2] + b;
      v[1] += w_total[3], v[3] += w_total[3], v[2] += w_total[4], v[6] += w_total[4];
      v[5] += w_total[5], v[7] += w_total[5];
      continue;
    }
    const double h = 0.5 * qi;
    v[0] += h * w[0] + background, v[4] += h * w[1] + background, v[8] += h * w[2] + background;
    v[1] += h * w[3], v[3] += h * w[3];
    v[2] += h * w[4], v[6] += h * w[4];
    v[5] += h * w[5], v[7] += h * w[5];
  }
}

}  // namespace nepcg::detail
