// EAM evaluation (two passes: densities and embedding derivatives, then pair forces) and the
// LAMMPS-compatible cubic interpolation of tabulated functions.
#include "nepcg/eam.hpp"

#include <algorithm>
#include <cmath>

#ifdef _OPENMP
#include <omp.h>
#endif

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

void EAM::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  const std::vector<int> type = detail::map_species(s, tables_.elements, "EAM");
  const long long n = static_cast<long long>(s.size());
  const auto& hoff = list.half_offsets();
  const double rdr = 1.0 / tables_.dr, rdrho = 1.0 / tables_.drho;
  const double cut2 = tables_.cutoff * tables_.cutoff;
  const double rhomax = (tables_.nrho - 1) * tables_.drho;
  const int nr = tables_.nr, nrho = tables_.nrho;
  const bool with_virial = out.compute_virial, split_virial = with_virial && out.per_atom_virials;
  const bool with_energy = out.compute_energy;
  const bool one_element = tables_.elements.size() == 1;  // skips the per-neighbour type lookups
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  // Each unordered pair is handled once, by its owner entry, and adds to both atoms (Newton's
  // third law, as LAMMPS does with half lists). Per-thread buffers, summed in thread order, avoid
  // atomics: per atom density, energy, force (3) and the 6 independent components of the
  // (symmetric) pair virial. Without per-atom virials the owner keeps the whole pair virial in
  // registers, which saves the scattered writes to the partner.
  constexpr int kStride = 11;
  const size_t per_thread = kStride * size_t(n);
  out.scratch.assign(per_thread * threads, 0.0);
  std::vector<double> fp(n);
  const auto pair_vector = list.half_pair_vectors(s.positions, s.box);
  const int* partner = pair_vector.neighbors;  // partner[h]: the neighbour of half entry h
  static constexpr int kSym[9] = {0, 1, 2, 1, 3, 4, 2, 4, 5};  // xx xy xz / yx yy yz / zx zy zz -> 6

#pragma omp parallel
  {
    int t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    double* acc = out.scratch.data() + per_thread * t;  // [rho, U, F(3), W(6)] per atom
    // Pass 1: densities.
#pragma omp for schedule(static)  // fixed atom->thread partition: deterministic sums
    for (long long i = 0; i < n; ++i) {
      const int a = one_element ? 0 : type[s.types[i]];
      double rho_i = 0.0;
      for (int64_t h = hoff[i]; h < hoff[i + 1]; ++h) {
        const Vec3 r = pair_vector(i, h);
        const double d2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        if (d2 >= cut2) continue;
        const int j = partner[h];
        const int b = one_element ? 0 : type[s.types[j]];
        const double d = std::sqrt(d2);
        double p;
        const double* cb = locate(rho_spline_[b], nr, d * rdr, p);
        const ptrdiff_t offset = cb - rho_spline_[b].data();
        const double fb = value(cb, p), fa = a == b ? fb : value(&rho_spline_[a][offset], p);
        rho_i += fb;
        acc[kStride * j] += fa;
      }
      acc[kStride * i] += rho_i;
    }
    // Densities summed over threads (fixed order), then embedding energies and F'(rho).
#pragma omp for schedule(static)
    for (long long i = 0; i < n; ++i) {
      double r = 0.0;
      for (int q = 0; q < threads; ++q) r += out.scratch[per_thread * q + kStride * i];
      double p;
      const double* c = locate(f_spline_[type[s.types[i]]], nrho, r * rdrho, p);
      fp[i] = slope(c, p);
      double F = value(c, p);
      if (r > rhomax) F += fp[i] * (r - rhomax);
      out.energies[i] += F;
    }
    // Pass 2: pair energies phi/2 to both atoms; f_ij = [F'(rho_i) f'_j(r) + phi'/2] u_ij;
    // F_i += (f_ij + f_ji) u_ij, F_j -= the same; W_i += r_ij (x) f_ji, W_j += r_ji (x) f_ij (both
    // symmetric: central forces).
#pragma omp for schedule(static)  // fixed atom->thread partition: deterministic sums
    for (long long i = 0; i < n; ++i) {
      const int a = one_element ? 0 : type[s.types[i]];
      const double fp_i = fp[i];
      double u_i = 0.0, F[3] = {0.0, 0.0, 0.0}, W[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
      for (int64_t h = hoff[i]; h < hoff[i + 1]; ++h) {
        const Vec3 r = pair_vector(i, h);
        const double d2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        if (d2 >= cut2) continue;
        const int j = partner[h];
        const int b = one_element ? 0 : type[s.types[j]];
        const double d = std::sqrt(d2), inv_d = 1.0 / d;
        double p;
        const double* cb = locate(rho_spline_[b], nr, d * rdr, p);
        const ptrdiff_t offset = cb - rho_spline_[b].data();
        const double dfb = slope(cb, p), dfa = a == b ? dfb : slope(&rho_spline_[a][offset], p);
        const double* cz = &z2r_spline_[pair_index(a, b)][offset];
        const double phi = value(cz, p) * inv_d, phip = (slope(cz, p) - phi) * inv_d;
        const double fij = fp_i * dfb + 0.5 * phip, fji = fp[j] * dfa + 0.5 * phip;
        const double g = (fij + fji) * inv_d;
        if (with_energy) u_i += 0.5 * phi, acc[kStride * j + 1] += 0.5 * phi;
        double* aj = acc + kStride * j + 2;
        for (int c = 0; c < 3; ++c) F[c] += g * r[c], aj[c] -= g * r[c];
        if (with_virial) {
          const double rr[6] = {r[0] * r[0], r[0] * r[1], r[0] * r[2], r[1] * r[1], r[1] * r[2], r[2] * r[2]};
          if (split_virial) {
            const double hi = fji * inv_d, hj = fij * inv_d;
            for (int k = 0; k < 6; ++k) W[k] -= hi * rr[k], aj[3 + k] -= hj * rr[k];
          } else {
            for (int k = 0; k < 6; ++k) W[k] -= g * rr[k];
          }
        }
      }
      acc[kStride * i + 1] += u_i;
      double* ai = acc + kStride * i + 2;
      for (int c = 0; c < 3; ++c) ai[c] += F[c];
      for (int k = 0; k < 6; ++k) ai[3 + k] += W[k];
    }
    // Sum the thread buffers in thread order.
#pragma omp for schedule(static)
    for (long long i = 0; i < n; ++i)
      for (int q = 0; q < threads; ++q) {
        const double* v = out.scratch.data() + per_thread * q + kStride * i;
        out.energies[i] += v[1];
        for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += v[2 + c];
        for (int k = 0; k < 9; ++k) out.virials[9 * i + k] += v[5 + kSym[k]];
      }
  }
}

}  // namespace nepcg
