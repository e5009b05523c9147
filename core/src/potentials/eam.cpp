// EAM evaluation (two passes: densities and embedding derivatives, then pair forces) and the
// LAMMPS-compatible cubic interpolation of tabulated functions.
#include "nepcg/eam.hpp"

#include <algorithm>
#include <cmath>

#include "nepcg/error.hpp"
#include "pair_loop.hpp"

namespace nepcg {

void EamTables::validate() const {
  const size_t ne = elements.size();
  auto fail = [](const std::string& m) { throw InputError("EAM: " + m); };
  if (ne == 0) fail("no elements");
  if (nrho < 5 || nr < 5) fail("tables need at least 5 points");
  if (!(drho > 0) || !(dr > 0) || !(cutoff > 0)) fail("drho, dr and the cutoff must be positive");
  if (embedding.size() != ne || density.size() != ne) fail("one embedding and one density table per element");
  if (r_phi.size() != ne * (ne + 1) / 2) fail("one pair table per element pair");
  for (const auto& t : embedding)
    if (t.size() != size_t(nrho)) fail("embedding tables need nrho values");
  for (const auto* group : {&density, &r_phi})
    for (const auto& t : *group)
      if (t.size() != size_t(nr)) fail("density and pair tables need nr values");
}

// Hermite cubic through the tabulated points with slopes from 5-point central differences
// (2-/3-point at the ends), stored as 7 coefficients per point:
// [0..2] derivative (c0 p^2 + c1 p + c2 in units of 1/delta), [3..6] value (c3 p^3 + c4 p^2 + c5 p + c6).
std::vector<double> EAM::spline(const std::vector<double>& f, double delta) {
  const int n = static_cast<int>(f.size());
  std::vector<double> c(7 * n, 0.0);
  auto at = [&](int m, int k) -> double& { return c[7 * m + k]; };
  for (int m = 0; m < n; ++m) at(m, 6) = f[m];
  at(0, 5) = f[1] - f[0];
  at(1, 5) = 0.5 * (f[2] - f[0]);
  at(n - 2, 5) = 0.5 * (f[n - 1] - f[n - 3]);
  at(n - 1, 5) = f[n - 1] - f[n - 2];
  for (int m = 2; m < n - 2; ++m) at(m, 5) = ((f[m - 2] - f[m + 2]) + 8.0 * (f[m + 1] - f[m - 1])) / 12.0;
  for (int m = 0; m < n - 1; ++m) {
    at(m, 4) = 3.0 * (f[m + 1] - f[m]) - 2.0 * at(m, 5) - at(m + 1, 5);
    at(m, 3) = at(m, 5) + at(m + 1, 5) - 2.0 * (f[m + 1] - f[m]);
  }
  at(n - 1, 4) = 0.0;
  at(n - 1, 3) = 0.0;
  for (int m = 0; m < n; ++m) {
    at(m, 2) = at(m, 5) / delta;
    at(m, 1) = 2.0 * at(m, 4) / delta;
    at(m, 0) = 3.0 * at(m, 3) / delta;
  }
  return c;
}

namespace {

// Locates x on a table (LAMMPS's arithmetic: p = x / delta + 1, 1-based index clamped).
inline const double* locate(const std::vector<double>& spline, int n, double x_over_delta, double& p) {
  p = x_over_delta + 1.0;
  int m = static_cast<int>(p);
  m = std::max(1, std::min(m, n - 1));
  p -= m;
  p = std::min(p, 1.0);
  return &spline[7 * (m - 1)];
}
inline double value(const double* c, double p) { return ((c[3] * p + c[4]) * p + c[5]) * p + c[6]; }
inline double slope(const double* c, double p) { return (c[0] * p + c[1]) * p + c[2]; }

int pair_index(int a, int b) { return a >= b ? a * (a + 1) / 2 + b : b * (b + 1) / 2 + a; }

}  // namespace

EAM::EAM(EamTables tables) : tables_(std::move(tables)) {
  tables_.validate();
  for (const auto& t : tables_.embedding) f_spline_.push_back(spline(t, tables_.drho));
  for (const auto& t : tables_.density) rho_spline_.push_back(spline(t, tables_.dr));
  for (const auto& t : tables_.r_phi) z2r_spline_.push_back(spline(t, tables_.dr));
}

// The owner of an unordered pair: the entry with i < j (for an atom's own periodic images, the one
// with the lexicographically positive shift). Pair quantities are computed once, by the owner, and
// written to both the entry and its reverse; each entry is written by one thread only.
static inline bool owns_pair(long long i, int j, const int16_t* n) {
  if (i != j) return i < j;
  return n[0] > 0 || (n[0] == 0 && (n[1] > 0 || (n[1] == 0 && n[2] > 0)));
}

void EAM::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  const std::vector<int> type = detail::map_species(s, tables_.elements, "EAM");
  const long long n = static_cast<long long>(s.size());
  const auto& off = list.offsets();
  const auto& nbr = list.neighbors();
  const auto& rev = list.reverse();
  const auto& shifts = list.shifts();
  const double rdr = 1.0 / tables_.dr, rdrho = 1.0 / tables_.drho;
  const double cut2 = tables_.cutoff * tables_.cutoff;
  const double rhomax = (tables_.nrho - 1) * tables_.drho;
  const int nr = tables_.nr, nrho = tables_.nrho;
  const size_t m = list.num_pairs();

  // Pass 1 (per pair, by its owner): distance, density contributions f_b(r) to i and f_a(r) to j,
  // and the pair terms phi, phi' and f'_a, f'_b for pass 3. Entries beyond the cutoff get d = 0.
  // Per-entry work space; every entry is written by its pair's owner before it is read.
  if (out.scratch.size() < 6 * m) out.scratch.resize(6 * m);
  double* dist = out.scratch.data();
  double* rho_in = dist + m;
  double* pair = rho_in + m;
#pragma omp parallel for schedule(dynamic, 64)
  for (long long i = 0; i < n; ++i) {
    const int a = type[s.types[i]];
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      const int j = nbr[e];
      if (!owns_pair(i, j, &shifts[3 * e])) continue;
      const int64_t q = rev[e];
      const Vec3 r = list.pair_vector(i, e, s.positions, s.box);
      const double d2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
      if (d2 >= cut2) {
        dist[e] = dist[q] = 0.0;
        continue;
      }
      const int b = type[s.types[j]];
      const double d = std::sqrt(d2), inv_d = 1.0 / d;
      double p;
      const double* cb = locate(rho_spline_[b], nr, d * rdr, p);
      const ptrdiff_t offset = cb - rho_spline_[b].data();
      const double* ca = a == b ? cb : &rho_spline_[a][offset];
      const double* cz = &z2r_spline_[pair_index(a, b)][offset];
      const double z2 = value(cz, p), z2p = slope(cz, p);
      const double phi = z2 * inv_d, phip = (z2p - phi) * inv_d;
      const double fb = value(cb, p), fa = a == b ? fb : value(ca, p);
      const double dfb = slope(cb, p), dfa = a == b ? dfb : slope(ca, p);
      dist[e] = dist[q] = d;
      rho_in[e] = fb;  // density at i from j
      rho_in[q] = fa;  // density at j from i
      double* pe = &pair[4 * e];
      double* pq = &pair[4 * q];
      pe[0] = pq[0] = phi, pe[1] = pq[1] = phip;
      pe[2] = dfb, pe[3] = dfa;  // seen from i: f'_j, f'_i
      pq[2] = dfa, pq[3] = dfb;
    }
  }

  // Pass 2: densities, embedding energies and F'(rho).
  std::vector<double> fp(n);
#pragma omp parallel for schedule(dynamic, 64)
  for (long long i = 0; i < n; ++i) {
    double rho = 0.0, U = 0.0;
    for (int64_t e = off[i]; e < off[i + 1]; ++e)
      if (dist[e] > 0.0) rho += rho_in[e], U += 0.5 * pair[4 * e];
    double p;
    const double* c = locate(f_spline_[type[s.types[i]]], nrho, rho * rdrho, p);
    fp[i] = slope(c, p);
    double F = value(c, p);
    if (rho > rhomax) F += fp[i] * (rho - rhomax);
    out.energies[i] += F + U;
  }

  // Pass 3: f_ij = dU_i/dr_ij = [F'(rho_i) f'_j(r) + phi'(r)/2] u_ij; F_i = sum (f_ij - f_ji),
  // W_i = sum r_ij (x) f_ji.
#pragma omp parallel for schedule(dynamic, 64)
  for (long long i = 0; i < n; ++i) {
    double F[3] = {0, 0, 0}, W[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      const double d = dist[e];
      if (d == 0.0) continue;
      const double* pe = &pair[4 * e];
      const double fij = fp[i] * pe[2] + 0.5 * pe[1];
      const double fji = fp[nbr[e]] * pe[3] + 0.5 * pe[1];
      const double inv_d = 1.0 / d, g = (fij + fji) * inv_d, h = fji * inv_d;
      const Vec3 r = list.pair_vector(i, e, s.positions, s.box);
      for (int c = 0; c < 3; ++c) F[c] += g * r[c];
      for (int x = 0; x < 3; ++x)
        for (int y = 0; y < 3; ++y) W[3 * x + y] -= h * r[x] * r[y];
    }
    for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += F[c];
    for (int k = 0; k < 9; ++k) out.virials[9 * i + k] += W[k];
  }
}

}  // namespace nepcg
