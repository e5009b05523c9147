// Reciprocal-space Ewald sum with per-atom energies, forces and virials.
//
// With k = 2 pi (n1 b1 + n2 b2 + n3 b3) (b_d: reciprocal vectors, a_i . b_j = delta_ij),
// S(k) = sum_j q_j exp(i k.r_j) and A(k) = (4 pi ke / V) exp(-k^2 / 4 alpha^2) / k^2, summing over
// half of k space (k and -k give the same term):
//   E    = sum_k A |S|^2,            E_i = sum_k A q_i Re(S* z_i),  z_i = exp(i k.r_i)
//   F_i  = 2 sum_k A q_i Im(S* z_i) k
//   W_i  = sum_k A q_i Re(S* z_i) [1 - 2 (1/k^2 + 1/(4 alpha^2)) k (x) k]   (= -dE/d strain)
// plus the self term -ke alpha/sqrt(pi) q_i^2 and, for a net charge Q, the background term
// -pi ke Q^2 / (2 V alpha^2) (spread evenly over the atoms, virial = energy on the diagonal).
#include "ewald.hpp"

#include <algorithm>
#include <cmath>
#include <complex>

#include "nepcg/error.hpp"

namespace nepcg::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;

// Kolafa-Perram RMS force error of the reciprocal sum truncated at n vectors along a direction of
// spacing 2 pi / h (h: box thickness).
double reciprocal_error(int n, double h, double alpha, double sum_q2, size_t natoms) {
  return 2.0 * sum_q2 * alpha / h * std::sqrt(1.0 / (kPi * n * double(natoms))) *
         std::exp(-kPi * kPi * double(n) * n / (alpha * alpha * h * h));
}
}  // namespace

EwaldSetup ewald_setup(const Box& box, size_t n, double sum_q2, double rc, double accuracy, double alpha) {
  if (!(box.periodic(0) && box.periodic(1) && box.periodic(2)))
    throw InputError("FlexibleWater: Ewald summation needs a box periodic in all three directions");
  if (!(accuracy > 0)) throw InputError("FlexibleWater: the Ewald accuracy must be positive");
  EwaldSetup e;
  const double volume = box.volume();
  if (alpha > 0) {
    e.alpha = alpha;
  } else {
    // Real-space estimate 2 sum_q2 exp(-alpha^2 rc^2) / sqrt(N rc V) = accuracy.
    const double g = accuracy * std::sqrt(double(n) * rc * volume) / (2.0 * sum_q2);
    e.alpha = g >= 1.0 ? (1.35 - 0.15 * std::log(accuracy)) / rc : std::sqrt(-std::log(g)) / rc;
  }
  const Vec3 h = box.thickness();
  double kcut2 = 0.0;
  for (int d = 0; d < 3; ++d) {
    int m = 1;
    while (reciprocal_error(m, h[d], e.alpha, sum_q2, n) > accuracy && m < 10000) ++m;
    kcut2 = std::max(kcut2, std::pow(2.0 * kPi * m / h[d], 2));
  }
  e.kcut = std::sqrt(kcut2);
  const Mat3& cell = box.cell();
  for (int d = 0; d < 3; ++d) {
    const double len = std::sqrt(cell[d][0] * cell[d][0] + cell[d][1] * cell[d][1] + cell[d][2] * cell[d][2]);
    e.nmax[d] = static_cast<int>(std::floor(e.kcut * len / (2.0 * kPi))) + 1;
  }
  // Count the k vectors in the half space.
  const Mat3& inv = box.effective_inverse();
  for (int n1 = 0; n1 <= e.nmax[0]; ++n1)
    for (int n2 = -e.nmax[1]; n2 <= e.nmax[1]; ++n2)
      for (int n3 = -e.nmax[2]; n3 <= e.nmax[2]; ++n3) {
        if (n1 == 0 && (n2 < 0 || (n2 == 0 && n3 <= 0))) continue;
        double k2 = 0.0;
        for (int c = 0; c < 3; ++c) {
          const double k = 2.0 * kPi * (n1 * inv[c][0] + n2 * inv[c][1] + n3 * inv[c][2]);
          k2 += k * k;
        }
        if (k2 <= kcut2) ++e.num_kvectors;
      }
  return e;
}

void ewald_reciprocal(const System& s, const std::vector<double>& q, const EwaldSetup& e, double ke,
                      ForceResult& out) {
  using cplx = std::complex<double>;
  const long long n = static_cast<long long>(s.size());
  const double volume = s.box.volume();
  const Mat3& inv = s.box.effective_inverse();  // columns: reciprocal vectors b_d
  const double kcut2 = e.kcut * e.kcut, a2inv4 = 1.0 / (4.0 * e.alpha * e.alpha);
  const int N1 = e.nmax[0], N2 = e.nmax[1], N3 = e.nmax[2];
  const int w2 = 2 * N2 + 1, w3 = 2 * N3 + 1;

  // Phase tables exp(i 2 pi m s_d) for m = -N_d ... N_d, stored [d][m][atom].
  std::vector<cplx> t1(size_t(N1 + 1) * n), t2(size_t(w2) * n), t3(size_t(w3) * n);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < n; ++i) {
    double f[3];
    for (int d = 0; d < 3; ++d)
      f[d] = s.positions[3 * i] * inv[0][d] + s.positions[3 * i + 1] * inv[1][d] + s.positions[3 * i + 2] * inv[2][d];
    const cplx u1 = std::polar(1.0, 2 * kPi * f[0]), u2 = std::polar(1.0, 2 * kPi * f[1]),
               u3 = std::polar(1.0, 2 * kPi * f[2]);
    cplx z = 1.0;
    for (int m = 0; m <= N1; ++m, z *= u1) t1[size_t(m) * n + i] = z;
    z = 1.0;
    for (int m = 0; m <= N2; ++m, z *= u2) t2[size_t(N2 + m) * n + i] = z, t2[size_t(N2 - m) * n + i] = std::conj(z);
    z = 1.0;
    for (int m = 0; m <= N3; ++m, z *= u3) t3[size_t(N3 + m) * n + i] = z, t3[size_t(N3 - m) * n + i] = std::conj(z);
  }

  // k vectors grouped by (n1, n2): each group is a run of n3 values.
  struct Group {
    int n1, n2;
    size_t first, count;
  };
  std::vector<Group> groups;
  std::vector<int> n3s;
  std::vector<double> kvec, coef;  // k (3 per vector), A(k)
  std::vector<double> tens;        // 6 per vector: xx yy zz xy xz yz of [1 - 2(1/k^2 + 1/4a^2) k k]
  for (int n1 = 0; n1 <= N1; ++n1)
    for (int n2 = -N2; n2 <= N2; ++n2) {
      Group g{n1, n2, n3s.size(), 0};
      for (int n3 = -N3; n3 <= N3; ++n3) {
        if (n1 == 0 && (n2 < 0 || (n2 == 0 && n3 <= 0))) continue;
        double k[3], k2 = 0.0;
        for (int c = 0; c < 3; ++c) {
          k[c] = 2.0 * kPi * (n1 * inv[c][0] + n2 * inv[c][1] + n3 * inv[c][2]);
          k2 += k[c] * k[c];
        }
        if (k2 > kcut2) continue;
        n3s.push_back(n3);
        kvec.insert(kvec.end(), {k[0], k[1], k[2]});
        const double A = 4.0 * kPi * ke / volume * std::exp(-k2 * a2inv4) / k2;
        coef.push_back(A);
        const double b = 2.0 * (1.0 / k2 + a2inv4);
        tens.insert(tens.end(), {1.0 - b * k[0] * k[0], 1.0 - b * k[1] * k[1], 1.0 - b * k[2] * k[2],
                                 -b * k[0] * k[1], -b * k[0] * k[2], -b * k[1] * k[2]});
        ++g.count;
      }
      if (g.count) groups.push_back(g);
    }
  const size_t nk = n3s.size();

  // Structure factors, one (n1, n2) group per task (deterministic sums).
  std::vector<cplx> S(nk, 0.0);
#pragma omp parallel for schedule(dynamic, 1)
  for (long long gi = 0; gi < static_cast<long long>(groups.size()); ++gi) {
    const Group& g = groups[gi];
    const cplx* a = &t1[size_t(g.n1) * n];
    const cplx* b = &t2[size_t(N2 + g.n2) * n];
    for (size_t kk = 0; kk < g.count; ++kk) {
      const cplx* c = &t3[size_t(N3 + n3s[g.first + kk]) * n];
      double re = 0.0, im = 0.0;
      for (long long i = 0; i < n; ++i) {
        const cplx z = a[i] * b[i] * c[i];
        re += q[i] * z.real();
        im += q[i] * z.imag();
      }
      S[g.first + kk] = cplx(re, im);
    }
  }

  // Per-atom energies, forces and virials.
  const double self = -ke * e.alpha / std::sqrt(kPi);
  double qsum = 0.0;
  for (long long i = 0; i < n; ++i) qsum += q[i];
  const double background = n > 0 ? -kPi * ke * qsum * qsum / (2.0 * volume * e.alpha * e.alpha) / double(n) : 0.0;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < n; ++i) {
    double U = 0.0, F[3] = {0, 0, 0}, W[6] = {0, 0, 0, 0, 0, 0};
    for (const Group& g : groups) {
      const cplx ab = t1[size_t(g.n1) * n + i] * t2[size_t(N2 + g.n2) * n + i];
      for (size_t kk = 0; kk < g.count; ++kk) {
        const size_t k = g.first + kk;
        const cplx z = ab * t3[size_t(N3 + n3s[k]) * n + i];
        const cplx w = std::conj(S[k]) * z;
        const double Ei = coef[k] * w.real(), Fi = 2.0 * coef[k] * w.imag();
        U += Ei;
        for (int c = 0; c < 3; ++c) F[c] += Fi * kvec[3 * k + c];
        for (int c = 0; c < 6; ++c) W[c] += Ei * tens[6 * k + c];
      }
    }
    const double qi = q[i];
    out.energies[i] += qi * U + self * qi * qi + background;
    for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += qi * F[c];
    double* v = &out.virials[9 * i];
    v[0] += qi * W[0] + background, v[4] += qi * W[1] + background, v[8] += qi * W[2] + background;
    v[1] += qi * W[3], v[3] += qi * W[3];
    v[2] += qi * W[4], v[6] += qi * W[4];
    v[5] += qi * W[5], v[7] += qi * W[5];
  }
}

}  // namespace nepcg::detail
