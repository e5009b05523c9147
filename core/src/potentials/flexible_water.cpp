// Flexible three-site water: bonded terms, O-O Lennard-Jones, real-space Coulomb (Ewald or DSF)
// with intramolecular exclusions; the reciprocal Ewald sum is in ewald.cpp. See water.hpp.
#include <algorithm>
#include <cmath>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "coulomb_table.hpp"
#include "ewald.hpp"
#include "../common/multiversion.hpp"
#include "nepcg/error.hpp"
#include "nepcg/water.hpp"

namespace nepcg {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;

Vec3 sub(const double* a, const double* b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }

// erfc(x) by Abramowitz & Stegun 7.1.26, given exp(-x^2).
double erfc_as(double x, double expmx2) {
  const double t = 1.0 / (1.0 + 0.3275911 * x);
  return t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * expmx2;
}

constexpr int kErfcxPerUnit = 512;
constexpr double kErfcxMax = 8.0;

// A pair term V(r) between atoms i and j, d = r_j - r_i: half the energy and virial to each.
void add_pair(int i, int j, const Vec3& d, double r, double V, double dV, ForceResult& out) {
  const double g = dV / r;
  out.energies[i] += 0.5 * V, out.energies[j] += 0.5 * V;
  for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += g * d[c], out.forces[3 * j + c] -= g * d[c];
  for (int x = 0; x < 3; ++x)
    for (int y = 0; y < 3; ++y) {
      const double w = -0.5 * g * d[x] * d[y];
      out.virials[9 * i + 3 * x + y] += w, out.virials[9 * j + 3 * x + y] += w;
    }
}
// erfc(x) = exp(-x^2) erfcx(x) with erfcx from the cubic Hermite table (see water.hpp).
inline double erfc_table(const double* table, double x, double exp_mx2) {
  if (!(x < kErfcxMax)) return std::erfc(x);
  const double u = x * kErfcxPerUnit;
  const int k = static_cast<int>(u);
  const double t = u - k;
  const double* c = table + 2 * k;  // f0, h f0', f1, h f1'
  const double t2 = t * t, t3 = t2 * t;
  const double v = (2 * t3 - 3 * t2 + 1) * c[0] + (t3 - 2 * t2 + t) * c[1] + (3 * t2 - 2 * t3) * c[2] + (t3 - t2) * c[3];
  return v * exp_mx2;
}

// Per-atom sums of the intermolecular pair loop: U, F (3), W (xx yy zz xy xz yz) = 10 values,
// stored per thread in two arrays: forces (3 per atom, dense: the scatter to atom j touches as
// few cache lines as possible) and U + W (7 per atom, written only on energy / virial steps).
constexpr int kStride = 10;
struct PairSums {
  double* f;   // 3 per atom
  double* uw;  // 7 per atom: U, W xx yy zz xy xz yz
  void add(long long i, const double* v) const {  // v: the 10 values U, F, W
    for (int c = 0; c < 3; ++c) f[3 * i + c] += v[1 + c];
    uw[7 * i] += v[0];
    for (int k = 0; k < 6; ++k) uw[7 * i + 1 + k] += v[4 + k];
  }
};

// Arguments of the intermolecular pair loop (see FlexibleWater::accumulate).
struct WaterPairArgs {
  NeighborList::PairVectors pv;
  const int64_t* half_offsets;
  const int* tag;          // per atom: 2 * molecule + (1 if oxygen): one load per neighbour
  double q_oxygen, q_hydrogen;
  const double* erfcx_table;
  const detail::CoulombTable* table;  // null: direct erfc (LAMMPS's approximation or the erfcx table)
  double cut2, lj2, coul2, excl2, alpha, ke, c12, c6, lj_shift, e_shift, f_shift;
  bool ewald, lammps_erfc, virial, split, energy;
};

// Adds the real-space Coulomb term of one pair (qq = k_e q_i q_j, r2 = r^2) to V and to
// g = (dV/dr) / r, from erfc directly (LAMMPS's approximation or the erfcx table).
inline void coulomb_direct(const WaterPairArgs& A, double qq, double r2, double& V, double& g) {
  const double a = A.alpha, r = std::sqrt(r2), ir = 1.0 / r, ir2 = 1.0 / r2;
  const double ex = std::exp(-a * a * r2);
  const double ec = A.lammps_erfc ? erfc_as(a * r, ex) : erfc_table(A.erfcx_table, a * r, ex);
  const double gauss = kTwoOverSqrtPi * a * ex;
  if (A.ewald) {
    V += qq * ec * ir;
    g += qq * (-ec * ir2 - gauss * ir) * ir;
  } else {
    V += qq * (ec * ir - A.e_shift - r * A.f_shift);
    g += qq * (-ec * ir2 - gauss * ir - A.f_shift) * ir;
  }
}

// One pair's energy V, force g d (g = (dV/dr) / r, d = r_j - r_i) and virial -g d d^T into the
// sums of atom i (ai: U, F, W, in registers) and atom j (in acc): half of V to each; the virial
// all to i unless split (per-atom virials: half each).
inline void add_pair_sums(double* ai, const PairSums& acc, int j, const double* d, double g, double V, bool energy,
                          bool virial, bool split) {
  double* fj = acc.f + 3 * j;
  double* uwj = acc.uw + 7 * j;
  if (energy) ai[0] += 0.5 * V, uwj[0] += 0.5 * V;
  for (int c = 0; c < 3; ++c) ai[1 + c] += g * d[c], fj[c] -= g * d[c];
  if (virial) {
    const double hg = split ? 0.5 * g : g;
    const double w[6] = {hg * d[0] * d[0], hg * d[1] * d[1], hg * d[2] * d[2],
                         hg * d[0] * d[1], hg * d[0] * d[2], hg * d[1] * d[2]};
    for (int k = 0; k < 6; ++k) ai[4 + k] -= w[k];
    if (split)
      for (int k = 0; k < 6; ++k) uwj[1 + k] -= w[k];
  }
}

// Pairs owned by atoms begin ... end-1, accumulated into acc.
// The general version (any shift storage, direct erfc); water_pairs_blocked is the fast one.
// Compiled for x86-64-v3 (AVX2/FMA) too where the compiler supports it, chosen at run time.
NEPCG_MULTIVERSION
void water_pairs(const WaterPairArgs& A, long long begin, long long end, const PairSums& acc) {
  const auto& pv = A.pv;
  const double cut2 = A.cut2, lj2 = A.lj2, coul2 = A.coul2, excl_2 = A.excl2, k_e = A.ke;
  const double c12 = A.c12, c6 = A.c6, lj_shift = A.lj_shift;
  const bool virial = A.virial, split = A.split, energy = A.energy;
  const detail::CoulombTable* table = A.table;
  const int* tag = A.tag;
  const double q_o = A.q_oxygen, q_h = A.q_hydrogen;
  const int64_t* ho = A.half_offsets;
  for (long long i = begin; i < end; ++i) {
      const int ti = tag[i];
      const bool oi = ti & 1;
      const double qi = oi ? q_o : q_h;
      double ai[kStride] = {};  // atom i's sums stay in registers; added to acc at the end
      for (int64_t h = ho[i]; h < ho[i + 1]; ++h) {
        const int j = pv.neighbors[h];
        const Vec3 d = pv(i, h);
        const double r2 = dot(d, d);
        const int tj = tag[j];
        if (r2 >= cut2 || ((ti >> 1) == (tj >> 1) && j != i && r2 < excl_2)) continue;
        // One division per pair; the Coulomb kernel comes from the r^2 table (no sqrt, exp or erfc).
        const double ir2 = 1.0 / r2;
        double V = 0.0, g = 0.0;  // g = (dV/dr) / r
        {  // O-O Lennard-Jones, branch-free: an unpredictable 1-in-9 branch costs more than the terms
          const bool lj = oi & ((tj & 1) != 0) & (r2 < lj2);
          const double b12 = lj ? c12 : 0.0, b6 = lj ? c6 : 0.0, shift = lj ? lj_shift : 0.0;
          const double ir6 = ir2 * ir2 * ir2;
          V += b12 * ir6 * ir6 - b6 * ir6 - shift;
          g += (-12.0 * b12 * ir6 * ir6 + 6.0 * b6 * ir6) * ir2;
        }
        if (r2 < coul2) {
          const double qq = k_e * qi * ((tj & 1) ? q_o : q_h);
          double E = 0.0, dEds;
          if (table && table->lookup(r2, dEds, energy ? &E : nullptr)) {
            V += qq * E;
            g += 2.0 * qq * dEds;
          } else {
            coulomb_direct(A, qq, r2, V, g);
          }
        }
        add_pair_sums(ai, acc, j, d.data(), g, V, energy, virial, split);
      }
      acc.add(i, ai);
    }
}

// Pairs owned by atoms begin ... end-1 as water_pairs, for the common case of a Coulomb table
// and shift codes, written so that the arithmetic vectorises: each atom's neighbour entries go
// in blocks through (1) pair vectors and r^2 (SIMD with gathers), (2) a branch-free compaction to
// the pairs inside the cut-off that are not excluded, (3) Lennard-Jones + tabulated Coulomb
// (SIMD; the rare pairs below the table, r < 1 Å, are redone by the direct formula) and (4) the
// scalar accumulation into atoms i and j in entry order (the same sums as water_pairs).
NEPCG_MULTIVERSION_SIMD
void water_pairs_blocked(const WaterPairArgs& A, long long begin, long long end, const PairSums& acc) {
  constexpr int kBlock = 64;
  using Table = detail::CoulombTable;
  const Table::View tv = A.table->view();
  const auto& pv = A.pv;
  const double* x = pv.x;
  const double* shift = pv.table.data();
  const uint32_t* codes = pv.codes;
  const int* nbr = pv.neighbors;
  const int* tag = A.tag;
  const int64_t* ho = A.half_offsets;
  const double cut2 = A.cut2, lj2 = A.lj2, coul2 = A.coul2, excl2 = A.excl2, k_e = A.ke;
  const double c12 = A.c12, c6 = A.c6, lj_shift = A.lj_shift;
  const bool energy = A.energy, virial = A.virial, split = A.split;
  alignas(64) double dx[kBlock], dy[kBlock], dz[kBlock], r2[kBlock];
  alignas(64) double cx[kBlock], cy[kBlock], cz[kBlock], cr2[kBlock], cV[kBlock], cg[kBlock];
  alignas(64) int cj[kBlock], co[kBlock], below[kBlock];
  for (long long i = begin; i < end; ++i) {
    const int ti = tag[i];
    const int oi = ti & 1;
    const double qi = oi ? A.q_oxygen : A.q_hydrogen;
    const double kq_o = k_e * qi * A.q_oxygen, kq_h = k_e * qi * A.q_hydrogen;
    const double xi = x[3 * i], yi = x[3 * i + 1], zi = x[3 * i + 2];
    double ai[kStride] = {};
    for (int64_t h0 = ho[i]; h0 < ho[i + 1]; h0 += kBlock) {
      const int nb = static_cast<int>(std::min<int64_t>(kBlock, ho[i + 1] - h0));
      // (1) pair vectors d = r_j - r_i + shift
#pragma omp simd
      for (int b = 0; b < nb; ++b) {
        const int j = nbr[h0 + b], c = static_cast<int>(codes[h0 + b]);  // (signed: gathers)
        dx[b] = x[3 * j] - xi + shift[3 * c];
        dy[b] = x[3 * j + 1] - yi + shift[3 * c + 1];
        dz[b] = x[3 * j + 2] - zi + shift[3 * c + 2];
        r2[b] = dx[b] * dx[b] + dy[b] * dy[b] + dz[b] * dz[b];
      }
      // (2) keep pairs inside the cut-off, not excluded (same molecule within half the box)
      int m = 0;
      for (int b = 0; b < nb; ++b) {
        const int j = nbr[h0 + b], tj = tag[j];
        cx[m] = dx[b], cy[m] = dy[b], cz[m] = dz[b], cr2[m] = r2[b], cj[m] = j, co[m] = tj & 1;
        m += (r2[b] < cut2) & !(((ti >> 1) == (tj >> 1)) & (j != i) & (r2[b] < excl2));
      }
      // (3) g = (dV/dr) / r, and V when asked for (a second loop: each vectorises)
#pragma omp simd
      for (int k = 0; k < m; ++k) {
        const double s = cr2[k], ir2 = 1.0 / s, ir6 = ir2 * ir2 * ir2;
        const bool lj = oi & co[k] & (s < lj2);
        const double b12 = lj ? c12 : 0.0, b6 = lj ? c6 : 0.0;
        int64_t row;
        double t;
        const bool in = tv.bin(s, row, t) & (s < coul2);  // (no tabulated term beyond the cut-off)
        below[k] = !in & (s < coul2) & (s < 1.0);
        const double* f = tv.force;  // (indexed loads f[row + c]: gathers)
        const double qq = in ? (co[k] ? kq_o : kq_h) : 0.0;
        cg[k] = (-12.0 * b12 * ir6 * ir6 + 6.0 * b6 * ir6) * ir2 +
                2.0 * qq * (f[row] + t * (f[row + 1] + t * (f[row + 2] + t * (f[row + 3] + t * f[row + 4]))));
      }
      if (energy) {
#pragma omp simd
        for (int k = 0; k < m; ++k) {
          const double s = cr2[k], ir2 = 1.0 / s, ir6 = ir2 * ir2 * ir2;
          const bool lj = oi & co[k] & (s < lj2);
          const double b12 = lj ? c12 : 0.0, b6 = lj ? c6 : 0.0, b0 = lj ? lj_shift : 0.0;
          int64_t row;
          double t;
          const bool in = tv.bin(s, row, t) & (s < coul2);
          const double* e = tv.energy;
          const double qq = in ? (co[k] ? kq_o : kq_h) : 0.0;
          cV[k] = b12 * ir6 * ir6 - b6 * ir6 - b0 +
                  qq * (e[row] + t * (e[row + 1] + t * (e[row + 2] + t * (e[row + 3] + t * (e[row + 4] + t * e[row + 5])))));
        }
      } else {
        for (int k = 0; k < m; ++k) cV[k] = 0.0;
      }
      // (4) accumulate (pairs below the table first get their Coulomb term directly)
      for (int k = 0; k < m; ++k) {
        if (below[k]) coulomb_direct(A, co[k] ? kq_o : kq_h, cr2[k], cV[k], cg[k]);
        const double d[3] = {cx[k], cy[k], cz[k]};
        add_pair_sums(ai, acc, cj[k], d, cg[k], cV[k], energy, virial, split);
      }
    }
    acc.add(i, ai);
  }
}

}  // namespace

FlexibleWater::FlexibleWater(const WaterParameters& p) : p_(p) {
  auto positive = [](double x) { return x > 0 && std::isfinite(x); };
  if (p.oxygen.empty() || p.hydrogen.empty() || p.oxygen == p.hydrogen)
    throw InputError("FlexibleWater: oxygen and hydrogen need two different species names");
  if (!(p.epsilon >= 0) || !positive(p.sigma) || !positive(p.lj_cutoff))
    throw InputError("FlexibleWater: needs epsilon >= 0, sigma > 0 and lj_cutoff > 0 (eV, Å, Å)");
  if (!(p.bond_k >= 0) || !positive(p.bond_r0) || !(p.angle_k >= 0) || !(p.angle_theta0 > 0 && p.angle_theta0 <= 180))
    throw InputError("FlexibleWater: needs bond_k >= 0, bond_r0 > 0, angle_k >= 0 and 0 < angle_theta0 <= 180 degrees");
  if (std::abs(p.charge_oxygen + 2 * p.charge_hydrogen) > 1e-12)
    throw InputError("FlexibleWater: a molecule must be neutral; got q_O + 2 q_H = " +
                     std::to_string(p.charge_oxygen + 2 * p.charge_hydrogen) + " e");
  if (p.coulomb != "ewald" && p.coulomb != "pme" && p.coulomb != "dsf" && p.coulomb != "none")
    throw InputError("FlexibleWater: coulomb must be 'ewald', 'pme', 'dsf' or 'none'; got '" + p.coulomb + "'");
  if (p.pme_order < 3 || p.pme_order > 10)
    throw InputError("FlexibleWater: pme_order must be in 3 ... 10; got " + std::to_string(p.pme_order));
  if (p.coulomb != "none" && !positive(p.coulomb_cutoff))
    throw InputError("FlexibleWater: coulomb_cutoff must be positive (Å)");
  if (p.coulomb == "dsf" && !positive(p.dsf_alpha)) throw InputError("FlexibleWater: dsf_alpha must be positive (1/Å)");
  if ((p.coulomb == "ewald" || p.coulomb == "pme") && !(positive(p.accuracy) && p.accuracy < 1))
    throw InputError("FlexibleWater: accuracy must be in (0, 1) (relative RMS force error)");
  if (!(p.ewald_alpha >= 0)) throw InputError("FlexibleWater: ewald_alpha must be >= 0 (0: from accuracy)");
  if (!positive(p.coulomb_constant)) throw InputError("FlexibleWater: coulomb_constant must be positive");
  const double s6 = std::pow(p.sigma, 6);
  lj_c12_ = 4 * p.epsilon * s6 * s6;
  lj_c6_ = 4 * p.epsilon * s6;
  const double ir6 = 1.0 / std::pow(p.lj_cutoff, 6);
  lj_shift_energy_ = p.lj_shift ? lj_c12_ * ir6 * ir6 - lj_c6_ * ir6 : 0.0;
  const int knots = static_cast<int>(kErfcxMax * kErfcxPerUnit) + 2;
  erfcx_table_.resize(2 * knots);
  for (int k = 0; k < knots; ++k) {
    const double x = double(k) / kErfcxPerUnit, f = std::erfc(x) * std::exp(x * x);
    erfcx_table_[2 * k] = f;
    erfcx_table_[2 * k + 1] = (2 * x * f - kTwoOverSqrtPi) / kErfcxPerUnit;  // h f'(x)
  }
  if (p.coulomb == "dsf") {
    const double rc = p.coulomb_cutoff, a = p.dsf_alpha;
    f_shift_ = -(std::erfc(a * rc) / (rc * rc) + kTwoOverSqrtPi * a * std::exp(-a * a * rc * rc) / rc);
    e_shift_ = std::erfc(a * rc) / rc - f_shift_ * rc;
    dsf_table_ = std::make_shared<detail::CoulombTable>(true, a, rc * rc, e_shift_, f_shift_);
  }
}

double FlexibleWater::cutoff() const {
  return p_.coulomb == "none" ? p_.lj_cutoff : std::max(p_.lj_cutoff, p_.coulomb_cutoff);
}

EwaldSetup FlexibleWater::ewald_setup(const System& s) const {
  const WaterTopology t = water_topology(s, p_.oxygen, p_.hydrogen);
  const double m = static_cast<double>(t.waters.size());
  const double sum_q2 = p_.coulomb_constant * m *
                        (p_.charge_oxygen * p_.charge_oxygen + 2 * p_.charge_hydrogen * p_.charge_hydrogen);
  EwaldSetup e = detail::ewald_setup(s.box, s.size(), sum_q2, p_.coulomb_cutoff,
                                     p_.accuracy * p_.coulomb_constant, p_.ewald_alpha);
  if (p_.coulomb == "pme")
    detail::pme_grid_setup(s.box, s.size(), sum_q2, 0.5 * p_.accuracy * p_.coulomb_constant, p_.pme_order, e);
  return e;
}

void FlexibleWater::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  const WaterTopology topo = water_topology(s, p_.oxygen, p_.hydrogen);
  const long long n = static_cast<long long>(s.size());
  std::vector<char> is_o(s.species.size());
  for (size_t t = 0; t < s.species.size(); ++t) is_o[t] = s.species[t] == p_.oxygen;
  std::vector<double> q(n);
  for (long long i = 0; i < n; ++i) q[i] = is_o[s.types[i]] ? p_.charge_oxygen : p_.charge_hydrogen;

  const bool pme = p_.coulomb == "pme";
  const bool ewald = p_.coulomb == "ewald" || pme, dsf = p_.coulomb == "dsf", coulomb = ewald || dsf;
  const double ke = p_.coulomb_constant;
  const double rlj2 = p_.lj_cutoff * p_.lj_cutoff, rc2 = coulomb ? p_.coulomb_cutoff * p_.coulomb_cutoff : 0.0;
  const double rmax2 = std::max(rlj2, rc2);
  EwaldSetup ew;
  std::shared_ptr<const detail::CoulombTable> ewald_table;  // held for this call (the cache may move on)
  if (ewald) {
    // (the set-up depends on the cell, the atom count and the charges, i.e. the molecule count)
    std::lock_guard<std::mutex> lock(setup_cache_.mutex);
    if (!setup_cache_.valid || setup_cache_.cell != s.box.cell() || setup_cache_.atoms != s.size() ||
        setup_cache_.molecules != topo.waters.size()) {
      setup_cache_.setup = ewald_setup(s);
      setup_cache_.cell = s.box.cell(), setup_cache_.atoms = s.size(), setup_cache_.molecules = topo.waters.size();
      setup_cache_.valid = true;
      if (!setup_cache_.table || setup_cache_.table->alpha() != setup_cache_.setup.alpha)
        setup_cache_.table = std::make_shared<detail::CoulombTable>(false, setup_cache_.setup.alpha, rc2, 0.0, 0.0);
    }
    ew = setup_cache_.setup;
    ewald_table = setup_cache_.table;
  }
  const double alpha = ewald ? ew.alpha : p_.dsf_alpha;
  // Same-molecule entries closer than half the box thickness are the excluded (minimum-image)
  // intramolecular pairs; farther images of a molecule's own atoms interact normally.
  double excl2 = 1e300;
  const Vec3 h = s.box.thickness();
  for (int d = 0; d < 3; ++d)
    if (s.box.periodic(d)) excl2 = std::min(excl2, 0.25 * h[d] * h[d]);

  // Intermolecular pairs: each unordered pair once (owner entries of the half list), adding to
  // both atoms (Newton's third law) in per-thread buffers that are summed in thread order (fixed
  // atom->thread partition: deterministic sums, as in EAM). 10 values per atom and thread:
  // U, F (3), W (xx yy zz xy xz yz; pair virials are symmetric). Without per-atom virials the
  // owner keeps each pair's whole virial; without the virial it is skipped.
  const bool with_virial = out.compute_virial, split_virial = with_virial && out.per_atom_virials;
  std::vector<int> tag(n);
  for (long long i = 0; i < n; ++i) tag[i] = 2 * topo.molecule[i] + (is_o[s.types[i]] ? 1 : 0);
  const auto pair_vector = list.half_pair_vectors(s.positions, s.box);
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  const size_t per_thread = kStride * size_t(n);
  out.scratch.assign(per_thread * threads, 0.0);
  const WaterPairArgs args{pair_vector, list.half_offsets().data(), tag.data(), p_.charge_oxygen, p_.charge_hydrogen,
                           erfcx_table_.data(),
                           p_.lammps_erfc ? nullptr : (ewald ? ewald_table.get() : dsf ? dsf_table_.get() : nullptr),
                           rmax2, rlj2, rc2, excl2, alpha, ke, lj_c12_, lj_c6_,
                           lj_shift_energy_, e_shift_, f_shift_, ewald, p_.lammps_erfc, with_virial,
                           split_virial, out.compute_energy};
#pragma omp parallel
  {
    int t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    double* buffer = out.scratch.data() + per_thread * t;
    const PairSums acc{buffer, buffer + 3 * n};
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_num_threads();
#endif
    // Contiguous atom ranges per thread (fixed partition: deterministic sums).
    if (args.table && args.pv.codes)
      water_pairs_blocked(args, n * t / nt, n * (t + 1) / nt, acc);
    else
      water_pairs(args, n * t / nt, n * (t + 1) / nt, acc);
#pragma omp barrier
    // Sum the thread buffers in thread order (+ the DSF self energy).
#pragma omp for schedule(static)
    for (long long i = 0; i < n; ++i) {
      double v[kStride] = {};
      for (int u = 0; u < threads; ++u) {
        const double* f = out.scratch.data() + per_thread * u + 3 * i;
        const double* uw = out.scratch.data() + per_thread * u + 3 * n + 7 * i;
        v[0] += uw[0];
        for (int c = 0; c < 3; ++c) v[1 + c] += f[c];
        for (int k = 0; k < 6; ++k) v[4 + k] += uw[1 + k];
      }
      if (dsf) v[0] -= (0.5 * e_shift_ + alpha / std::sqrt(kPi)) * ke * q[i] * q[i];
      out.energies[i] += v[0];
      for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += v[1 + c];
      double* w = &out.virials[9 * i];
      w[0] += v[4], w[4] += v[5], w[8] += v[6];
      w[1] += v[7], w[3] += v[7], w[2] += v[8], w[6] += v[8], w[5] += v[9], w[7] += v[9];
    }
  }

  // Bonds, angle and the Coulomb terms of the excluded pairs, one molecule per task (each writes
  // only its own atoms).
  const double theta0 = p_.angle_theta0 * kPi / 180.0;
  const long long m = static_cast<long long>(topo.waters.size());
#pragma omp parallel for schedule(static)
  for (long long w = 0; w < m; ++w) {
    const auto [o, h1, h2] = topo.waters[w];
    const double* x = s.positions.data();
    const Vec3 d1 = s.box.minimum_image(sub(x + 3 * h1, x + 3 * o));
    const Vec3 d2 = s.box.minimum_image(sub(x + 3 * h2, x + 3 * o));
    const double r1 = std::sqrt(dot(d1, d1)), r2 = std::sqrt(dot(d2, d2));
    add_pair(o, h1, d1, r1, 0.5 * p_.bond_k * (r1 - p_.bond_r0) * (r1 - p_.bond_r0), p_.bond_k * (r1 - p_.bond_r0), out);
    add_pair(o, h2, d2, r2, 0.5 * p_.bond_k * (r2 - p_.bond_r0) * (r2 - p_.bond_r0), p_.bond_k * (r2 - p_.bond_r0), out);
    // Angle H1-O-H2.
    double c = dot(d1, d2) / (r1 * r2);
    c = std::min(1.0, std::max(-1.0, c));
    double sn = std::sqrt(1.0 - c * c);
    sn = std::max(sn, 1e-3);
    const double dth = std::acos(c) - theta0;
    const double Va = 0.5 * p_.angle_k * dth * dth;
    const double pre = p_.angle_k * dth / sn;  // dV/dtheta / sin(theta)
    Vec3 fa, fb;
    for (int k = 0; k < 3; ++k) {
      fa[k] = pre * (d2[k] / (r1 * r2) - c * d1[k] / (r1 * r1));
      fb[k] = pre * (d1[k] / (r1 * r2) - c * d2[k] / (r2 * r2));
    }
    for (int k = 0; k < 3; ++k) {
      out.forces[3 * h1 + k] += fa[k];
      out.forces[3 * h2 + k] += fb[k];
      out.forces[3 * o + k] -= fa[k] + fb[k];
    }
    for (int a : {o, h1, h2}) {
      out.energies[a] += Va / 3.0;
      for (int xx = 0; xx < 3; ++xx)
        for (int yy = 0; yy < 3; ++yy)
          out.virials[9 * a + 3 * xx + yy] += (d1[xx] * fa[yy] + d2[xx] * fb[yy]) / 3.0;
    }
    if (!coulomb) continue;
    // Excluded pairs: Ewald removes the reciprocal-space share -ke q q erf(alpha r)/r; DSF (as
    // LAMMPS coul/dsf with special_bonds coul 0) the damped-shifted form minus the bare Coulomb.
    const Vec3 d12 = s.box.minimum_image(sub(x + 3 * h2, x + 3 * h1));
    const std::array<std::array<int, 2>, 3> pairs{{{o, h1}, {o, h2}, {h1, h2}}};
    const std::array<Vec3, 3> ds{d1, d2, d12};
    for (int k = 0; k < 3; ++k) {
      const Vec3& d = ds[k];
      const double rr2 = dot(d, d), r = std::sqrt(rr2);
      const double qq = ke * q[pairs[k][0]] * q[pairs[k][1]];
      const double ex = std::exp(-alpha * alpha * rr2);
      const double ef = p_.lammps_erfc ? 1.0 - erfc_as(alpha * r, ex) : std::erf(alpha * r);  // (r ~ 1 Å: 3 per molecule)
      const double gauss = kTwoOverSqrtPi * alpha * ex;
      double V, dV;
      if (ewald) {
        V = -qq * ef / r;
        dV = qq * (ef / rr2 - gauss / r);
      } else {
        if (rr2 >= rc2) continue;
        V = qq * ((1.0 - ef) / r - e_shift_ - r * f_shift_ - 1.0 / r);
        dV = qq * (-(1.0 - ef) / rr2 - gauss / r - f_shift_ + 1.0 / rr2);
      }
      add_pair(pairs[k][0], pairs[k][1], d, r, V, dV, out);
    }
  }

  if (pme)
    detail::pme_reciprocal(s, q, ew, p_.pme_order, ke, out);
  else if (ewald)
    detail::ewald_reciprocal(s, q, ew, ke, out);
}

}  // namespace nepcg
