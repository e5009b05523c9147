// CPU NEP evaluator. Two passes over atoms, each parallel without atomics:
//   1. per atom: radial basis sums and angular pair terms of every neighbour (cached),
//      descriptor, network -> U_i and the gradients (Fp, dU/dS), then one partial force
//      f_ij = dU_i/dr_ij per list entry (+ ZBL);
//   2. gather: F_i = sum_j (f_ij - f_ji), W_i = sum_j r_ij (x) f_ji, using the list's reverse
//      entries to find f_ji.
#include "nepcg/nep.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "nepcg/error.hpp"
#include "nepcg/kernels/nep_basis_lanes.hpp"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/kernels/zbl.hpp"
#include "../common/multiversion.hpp"
#include "partial_forces.hpp"

namespace nepcg {

using kernels::NepView;

NEP::NEP(const std::string& path) : NEP(read_nep_model(path)) {}

NEP::NEP(NepModel model) : model_(std::move(model)), tables_(model_) {}

std::vector<int> NEP::type_map(const System& s) const {
  std::vector<int> map(s.species.size(), -1);
  for (size_t t = 0; t < s.species.size(); ++t) {
    const auto it = std::find(model_.elements.begin(), model_.elements.end(), s.species[t]);
    if (it == model_.elements.end()) {
      std::string have;
      for (const auto& e : model_.elements) have += (have.empty() ? "" : " ") + e;
      throw InputError("NEP: species '" + s.species[t] + "' of the structure is not in the model (model species: " +
                       have + ")");
    }
    map[t] = static_cast<int>(it - model_.elements.begin());
  }
  return map;
}

void NEP::check_list(const System& s, const NeighborList& list) const {
  if (list.num_atoms() != s.size())
    throw InputError("NEP: the neighbour list was built for " + std::to_string(list.num_atoms()) +
                     " atoms, the system has " + std::to_string(s.size()));
  if (list.cutoff() < cutoff() * (1 - 1e-12))
    throw InputError("NEP: the neighbour list cutoff (" + std::to_string(list.cutoff()) +
                     " Å) is shorter than the model's radial cutoff (" + std::to_string(cutoff()) + " Å)");
}

namespace {

// n vectors of four doubles in `store`, aligned to 32 bytes. (A std::vector<Double4> may be only
// 16-byte aligned: GCC caps a vector type's alignment at the baseline ISA's, while the AVX2 clone
// of the evaluator moves them with aligned instructions.)
inline kernels::Double4* aligned_double4(std::vector<double>& store, size_t n) {
  if (store.size() < 4 * n + 4) store.resize(4 * n + 4);
  const auto address = reinterpret_cast<uintptr_t>(store.data());
  return reinterpret_cast<kernels::Double4*>((address + 31) & ~uintptr_t(31));
}

// Per-thread scratch for one atom: its neighbours' pair vectors, radial basis derivatives and
// angular pair terms, the basis sums and the angular sums.
struct AtomScratch {
  std::vector<double> rd;      // per neighbour: r_ij (Å, 3) and |r_ij|, computed once per step
  std::vector<int> type;       // per neighbour: its model type
  std::vector<int> mask;       // per neighbour: 1 within the radial cutoff, 2 within the angular
  std::vector<int> near;       // the neighbours within the radial cutoff (num_near of them)
  std::vector<int> ang;        // the neighbours within the angular cutoff
  int num_near = 0;
  kernels::Double4* radial_fp4 = nullptr;  // per block of 4 near neighbours: f'_k (k = 0 ... K_R), lane = neighbour
  kernels::Double4* F4 = nullptr;          // per neighbour type b: F_k^b summed per lane
  std::vector<double> fp4_store, F4_store;  // their storage (32-byte aligned views into these)
  std::vector<int> block_type;  // per block of near neighbours: their type, -1 if mixed
  std::vector<double> radial;   // per neighbour: sum_k h_k^b f'_k(r_ij)
  std::vector<double> terms;    // per neighbour: angular pair terms (pair_terms_layout)
  std::vector<double> F, h;     // per neighbour type b: F_k^b = sum_j f_k(r_ij), h_k^b
  std::vector<double> S, q;
  void fit(const NepView& p, int num_neighbors) {
    const int KR = p.basis_radial + 1;
    const size_t need = size_t(num_neighbors) * kernels::pair_terms_size(p);
    if (terms.size() < need) terms.resize(need);
    const size_t blocks = (size_t(num_neighbors) + 3) / 4;
    radial_fp4 = aligned_double4(fp4_store, blocks * KR);
    if (block_type.size() < blocks) block_type.resize(blocks);
    if (near.size() < size_t(num_neighbors))
      near.resize(num_neighbors), ang.resize(num_neighbors), radial.resize(num_neighbors);
    F4 = aligned_double4(F4_store, size_t(p.num_types) * KR);
    for (size_t c = 0; c < size_t(p.num_types) * KR; ++c) F4[c] = kernels::Double4{};
    if (mask.size() < size_t(num_neighbors)) mask.resize(num_neighbors), type.resize(num_neighbors);
    if (rd.size() < 4 * size_t(num_neighbors)) rd.resize(4 * size_t(num_neighbors));
    F.resize(size_t(p.num_types) * KR);
    h.resize(size_t(p.num_types) * KR);
    S.assign(kernels::angular_gradient_size(p), 0.0);
    q.assign(p.dim, 0.0);
  }
};

// real_harmonics_with_gradient with l_max known at compile time (its loops unrolled, the
// Legendre table in registers): the same formulas; the compiler may fuse other multiply-adds
// (round-off, ~1e-16).
template <int Lmax>
inline void harmonics_fixed(double x, double y, double z, double* Y, double* dx, double* dy, double* dz) {
  kernels::real_harmonics_with_gradient<Lmax>(Lmax, x, y, z, Y, dx, dy, dz);
}
inline void harmonics_with_gradient(int l_max, double x, double y, double z, double* Y, double* dx, double* dy,
                                    double* dz) {
  switch (l_max) {
    case 1: return harmonics_fixed<1>(x, y, z, Y, dx, dy, dz);
    case 2: return harmonics_fixed<2>(x, y, z, Y, dx, dy, dz);
    case 3: return harmonics_fixed<3>(x, y, z, Y, dx, dy, dz);
    case 4: return harmonics_fixed<4>(x, y, z, Y, dx, dy, dz);
    case 5: return harmonics_fixed<5>(x, y, z, Y, dx, dy, dz);
    case 6: return harmonics_fixed<6>(x, y, z, Y, dx, dy, dz);
    default: return kernels::real_harmonics_with_gradient(l_max, x, y, z, Y, dx, dy, dz);
  }
}

// Descriptor, site energy (with ZBL) and gradients of atom i; leaves the pair terms cached in w.
// The radial descriptor is factorised as in the trainer: q_n = sum_{b,k} c_nk^{ab} F_k^b with the
// basis sums F_k^b = sum_{j of type b} f_k(r_ij), so a pair costs its K_R basis values instead of
// (n_max + 1) (K_R) multiply-adds (the same sum, in another order: round-off).
double site(const NepView& p, const NeighborList& list, const NeighborList::PairVectors& pair_vector,
            const System& s, const std::vector<int>& type, size_t i, AtomScratch& w, double* Fp, double* dUdS) {
  const auto& off = list.offsets();
  const int count = static_cast<int>(off[i + 1] - off[i]);
  const int stride = kernels::pair_terms_size(p);
  const kernels::PairTermsLayout L = kernels::pair_terms_layout(p);
  const int KR = p.basis_radial + 1, T = p.num_types;
  w.fit(p, count);
  const int a = type[s.types[i]];
  double e_zbl = 0.0;
  // Pair vectors, distances and neighbour types, cached for the force loop; the entries within
  // the radial cutoff (the list also holds the skin's) are listed in w.near.
  int num_near = 0;
  for (int k = 0; k < count; ++k) {
    const int64_t e = off[i] + k;
    double* r = &w.rd[4 * size_t(k)];
    const Vec3 v = pair_vector(static_cast<long long>(i), e);
    r[0] = v[0], r[1] = v[1], r[2] = v[2];
    r[3] = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    const int b = type[s.types[list.neighbors()[e]]];
    w.type[k] = b;
    const bool near = r[3] < kernels::pair_cutoff(p.cutoff_radial, a, b);
    w.mask[k] = near ? 1 : 0;
    w.radial[k] = 0.0;
    if (near) w.near[num_near++] = k;
  }
  // Radial basis sums over blocks of four near neighbours, one vector register per basis
  // function: lane l of F4 sums near neighbours l, l + 4, l + 8, ... (list order); F_k^b adds the
  // lanes at the end.
  w.num_near = num_near;
  const int blocks = (num_near + 3) / 4;
  for (int blk = 0; blk < blocks; ++blk) {
    const int n0 = 4 * blk, used = std::min(4, num_near - n0);
    kernels::Double4 d, rc;
    int block_type = w.type[w.near[n0]];
    for (int l = 0; l < 4; ++l) {
      const int k = l < used ? w.near[n0 + l] : -1;
      d[l] = k >= 0 ? w.rd[4 * size_t(k) + 3] : 2.0;  // unused lanes: outside a cutoff of 1
      rc[l] = k >= 0 ? kernels::pair_cutoff(p.cutoff_radial, a, w.type[k]) : 1.0;
      if (k >= 0 && w.type[k] != block_type) block_type = -1;
    }
    kernels::Double4 f4[kernels::kMaxK];
    kernels::chebyshev_basis4(p.basis_radial, d, rc, f4, &w.radial_fp4[size_t(blk) * KR]);
    w.block_type[blk] = block_type;
    if (block_type >= 0) {  // one neighbour type (unused lanes add zeros)
      kernels::Double4* F = &w.F4[size_t(block_type) * KR];
      for (int c = 0; c < KR; ++c) F[c] += f4[c];
    } else {
      for (int l = 0; l < used; ++l)
        for (int c = 0; c < KR; ++c) w.F4[size_t(w.type[w.near[n0 + l]]) * KR + c][l] += f4[c][l];
    }
  }
  for (size_t c = 0; c < w.F.size(); ++c) w.F[c] = (w.F4[c][0] + w.F4[c][1]) + (w.F4[c][2] + w.F4[c][3]);
  // Angular pair terms of the neighbours within the angular cutoff, in list order; their radial
  // basis four at a time, as above.
  int num_ang = 0;
  for (int k = 0; k < count; ++k)
    if (w.rd[4 * size_t(k) + 3] < kernels::pair_cutoff(p.cutoff_angular, a, w.type[k])) w.ang[num_ang++] = k;
  for (int n0 = 0; n0 < num_ang; n0 += 4) {
    const int used = std::min(4, num_ang - n0);
    kernels::Double4 d, rc, f4[kernels::kMaxK], fp4[kernels::kMaxK];
    for (int l = 0; l < 4; ++l) {
      const int k = l < used ? w.ang[n0 + l] : -1;
      d[l] = k >= 0 ? w.rd[4 * size_t(k) + 3] : 2.0;  // unused lanes: outside a cutoff of 1
      rc[l] = k >= 0 ? kernels::pair_cutoff(p.cutoff_angular, a, w.type[k]) : 1.0;
    }
    kernels::chebyshev_basis4(p.basis_angular, d, rc, f4, fp4);
    for (int l = 0; l < used; ++l) {
      const int k = w.ang[n0 + l], b = w.type[k];
      const double* r = &w.rd[4 * size_t(k)];
      double f[kernels::kMaxK], fp[kernels::kMaxK];
      for (int c = 0; c <= p.basis_angular; ++c) f[c] = f4[c][l], fp[c] = fp4[c][l];
      double* t = &w.terms[size_t(k) * stride];
      kernels::radial_functions(p.n_max_angular, p.basis_angular, T, a, b, p.c_angular, f, fp, t + L.gA, t + L.gpA);
      const double inv = 1.0 / r[3];
      harmonics_with_gradient(p.l_max, r[0] * inv, r[1] * inv, r[2] * inv, t + L.Y, t + L.dYx, t + L.dYy, t + L.dYz);
      kernels::accumulate_pair_terms(p, 2, t, w.q.data(), w.S.data());
      w.mask[k] |= 2;
      if (p.zbl) {
        double phi, dphi;
        kernels::zbl_pair(p, a, b, r[3], phi, dphi);
        e_zbl += 0.5 * phi;
      }
    }
  }
  for (int n = 0; n <= p.n_max_radial; ++n)
    w.q[n] = kernels::radial_descriptor_from_sums(n, p.basis_radial, T, a, p.c_radial, w.F.data());
  const double U = kernels::site_energy(p, a, w.q.data(), w.S.data(), Fp, dUdS) + e_zbl;
  // h_k^b = sum_n dU/dq_n c_nk^{ab}: the radial part of dU_i/dr_ij is sum_k h_k^b f'_k(r_ij)
  for (int b = 0; b < T; ++b)
    for (int k = 0; k < KR; ++k)
      w.h[size_t(b) * KR + k] =
          kernels::contracted_radial_weight(p.n_max_radial, p.basis_radial, T, a, b, p.c_radial, Fp, k);
  return U;
}

// Site energy of atom i and one partial force f_ij = dU_i/dr_ij per list entry of i (f: 3 per
// entry, indexed by the entry). Compiled for AVX2/FMA and baseline x86-64 with the kernels
// inlined into each version; results differ between the two at round-off (fused multiply-adds).
NEPCG_MULTIVERSION NEPCG_FLATTEN
double atom_energy_and_partial_forces(const NepView& p, const NeighborList& list,
                                      const NeighborList::PairVectors& pair_vector, const System& s,
                                      const std::vector<int>& type, size_t i, AtomScratch& w, double* Fp,
                                      double* dUdS, double* f) {
  const double U = site(p, list, pair_vector, s, type, i, w, Fp, dUdS);
  const int stride = kernels::pair_terms_size(p);
  const kernels::PairTermsLayout L = kernels::pair_terms_layout(p);
  const int KR = p.basis_radial + 1;
  const auto& off = list.offsets();
  const int a = type[s.types[i]];
  // Radial part of dU_i/dr_ij, sum_k h_k^b f'_k(r_ij), for the blocks of four near neighbours.
  for (int blk = 0; blk < (w.num_near + 3) / 4; ++blk) {
    const kernels::Double4* fp4 = &w.radial_fp4[size_t(blk) * KR];
    const int n0 = 4 * blk, used = std::min(4, w.num_near - n0);
    if (w.block_type[blk] >= 0) {
      const double* h = &w.h[size_t(w.block_type[blk]) * KR];
      kernels::Double4 x{};
      for (int c = 0; c < KR; ++c) x += h[c] * fp4[c];
      for (int l = 0; l < used; ++l) w.radial[w.near[n0 + l]] = x[l];
    } else {
      for (int l = 0; l < used; ++l) {
        const int k = w.near[n0 + l];
        const double* h = &w.h[size_t(w.type[k]) * KR];
        double x = 0.0;
        for (int c = 0; c < KR; ++c) x += h[c] * fp4[c][l];
        w.radial[k] = x;
      }
    }
  }
  for (int64_t e = off[i]; e < off[i + 1]; ++e) {
    const int k = static_cast<int>(e - off[i]);
    double* fe = &f[3 * e];
    fe[0] = fe[1] = fe[2] = 0.0;
    const int mask = w.mask[k];
    if (!mask) continue;
    const double* r = &w.rd[4 * size_t(k)];
    const double d = r[3];
    const int b = w.type[k];
    double radial = w.radial[k];
    double grad[3] = {0.0, 0.0, 0.0};
    if (mask & 2) {
      const double* t = &w.terms[size_t(k) * stride];
      kernels::angular_force_terms(p, t + L.gA, t + L.gpA, t + L.Y, t + L.dYx, t + L.dYy, t + L.dYz, dUdS, radial,
                                   grad);
    }
    kernels::add_partial_force(r, d, radial, grad, fe);
    if (p.zbl && (mask & 2)) kernels::add_zbl_partial_force(p, a, b, r, d, fe);
  }
  return U;
}

}  // namespace

void NEP::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  check_list(s, list);
  const std::vector<int> type = type_map(s);
  const NepView p = view();
  const long long n = static_cast<long long>(s.size());
  if (out.scratch.size() < 3 * list.num_pairs()) out.scratch.resize(3 * list.num_pairs());
  double* f = out.scratch.data();
  const NeighborList::PairVectors pair_vector = list.pair_vectors(s.positions, s.box);

  // Pass 1: per atom, site energy and one partial force f_ij = dU_i/dr_ij per list entry.
#pragma omp parallel
  {
    AtomScratch w;
    std::vector<double> Fp(p.dim_radial), dUdS(kernels::angular_gradient_size(p));
#pragma omp for schedule(dynamic, 32)
    for (long long i = 0; i < n; ++i)
      out.energies[i] += atom_energy_and_partial_forces(p, list, pair_vector, s, type, i, w, Fp.data(), dUdS.data(), f);
  }

  // Pass 2: gather F_i = sum_j (f_ij - f_ji) and W_i = sum_j r_ij (x) f_ji.
  detail::gather_partial_forces(s, list, f, out, cutoff());  // the largest radial cutoff
}

std::vector<double> NEP::descriptors(const System& s, const NeighborList& list, bool scaled) const {
  check_list(s, list);
  const std::vector<int> type = type_map(s);
  const NepView p = view();
  const long long n = static_cast<long long>(s.size());
  std::vector<double> out(n * p.dim);
  const NeighborList::PairVectors pair_vector = list.pair_vectors(s.positions, s.box);
#pragma omp parallel
  {
    AtomScratch w;
    std::vector<double> Fp(p.dim_radial), dUdS(kernels::angular_gradient_size(p));
#pragma omp for schedule(dynamic, 32)
    for (long long i = 0; i < n; ++i) {
      site(p, list, pair_vector, s, type, i, w, Fp.data(), dUdS.data());
      for (int d = 0; d < p.dim; ++d) out[i * p.dim + d] = scaled ? w.q[d] * p.q_scaler[d] : w.q[d];
    }
  }
  return out;
}

std::vector<double> NEP::descriptors(const System& s, bool scaled) const {
  s.validate();
  NeighborList list(cutoff(), 0.0, secondary_cutoff());
  list.build(s.box, s.positions);
  return descriptors(s, list, scaled);
}

}  // namespace nepcg
