// CPU NEP evaluator. Two passes over atoms, each parallel without atomics:
//   1. per atom: radial basis sums and angular pair terms of every neighbour (cached),
//      descriptor, network -> U_i and the gradients (Fp, dU/dS), then one partial force
//      f_ij = dU_i/dr_ij per list entry (+ ZBL);
//   2. gather: F_i = sum_j (f_ij - f_ji), W_i = sum_j r_ij (x) f_ji, using the list's reverse
//      entries to find f_ji.
#include "nepcg/nep.hpp"

#include <algorithm>
#include <cmath>

#include "nepcg/error.hpp"
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

inline void entry_vector(const NeighborList& list, size_t i, int64_t p, const System& s, double r[3], double& d) {
  const Vec3 v = list.pair_vector(i, p, s.positions, s.box);
  r[0] = v[0], r[1] = v[1], r[2] = v[2];
  d = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
}

// Per-thread scratch for one atom: its neighbours' radial basis derivatives and angular pair
// terms, the basis sums and the angular sums.
struct AtomScratch {
  std::vector<double> radial_fp;  // per neighbour: f'_k (k = 0 ... K_R) within the radial cutoff
  std::vector<double> terms;      // per neighbour: angular pair terms (pair_terms_layout)
  std::vector<int> mask;          // per neighbour: 1 within the radial cutoff, 2 within the angular
  std::vector<double> F, h;       // per neighbour type b: F_k^b = sum_j f_k(r_ij), h_k^b
  std::vector<double> S, q;
  void fit(const NepView& p, int num_neighbors) {
    const int KR = p.basis_radial + 1;
    const size_t need = size_t(num_neighbors) * kernels::pair_terms_size(p);
    if (terms.size() < need) terms.resize(need);
    if (radial_fp.size() < size_t(num_neighbors) * KR) radial_fp.resize(size_t(num_neighbors) * KR);
    if (mask.size() < size_t(num_neighbors)) mask.resize(num_neighbors);
    F.assign(size_t(p.num_types) * KR, 0.0);
    h.resize(size_t(p.num_types) * KR);
    S.assign(kernels::angular_gradient_size(p), 0.0);
    q.assign(p.dim, 0.0);
  }
};

// Descriptor, site energy (with ZBL) and gradients of atom i; leaves the pair terms cached in w.
// The radial descriptor is factorised as in the trainer: q_n = sum_{b,k} c_nk^{ab} F_k^b with the
// basis sums F_k^b = sum_{j of type b} f_k(r_ij), so a pair costs its K_R basis values instead of
// (n_max + 1) (K_R) multiply-adds (the same sum, in another order: round-off).
double site(const NepView& p, const NeighborList& list, const System& s, const std::vector<int>& type, size_t i,
            AtomScratch& w, double* Fp, double* dUdS) {
  const auto& off = list.offsets();
  const int count = static_cast<int>(off[i + 1] - off[i]);
  const int stride = kernels::pair_terms_size(p);
  const kernels::PairTermsLayout L = kernels::pair_terms_layout(p);
  const int KR = p.basis_radial + 1, T = p.num_types;
  w.fit(p, count);
  const int a = type[s.types[i]];
  double e_zbl = 0.0;
  double f[kernels::kMaxK], fp[kernels::kMaxK];
  for (int k = 0; k < count; ++k) {
    const int64_t e = off[i] + k;
    double r[3], d;
    entry_vector(list, i, e, s, r, d);
    const int b = type[s.types[list.neighbors()[e]]];
    int mask = 0;
    const double rc_r = kernels::pair_cutoff(p.cutoff_radial, a, b);
    if (d < rc_r) {
      kernels::chebyshev_basis(p.basis_radial, d, rc_r, f, &w.radial_fp[size_t(k) * KR]);
      double* F = &w.F[size_t(b) * KR];
      for (int c = 0; c < KR; ++c) F[c] += f[c];
      mask |= 1;
    }
    const double rc_a = kernels::pair_cutoff(p.cutoff_angular, a, b);
    if (d < rc_a) {
      double* t = &w.terms[size_t(k) * stride];
      kernels::chebyshev_basis(p.basis_angular, d, rc_a, f, fp);
      kernels::radial_functions(p.n_max_angular, p.basis_angular, T, a, b, p.c_angular, f, fp, t + L.gA, t + L.gpA);
      const double inv = 1.0 / d;
      kernels::real_harmonics_with_gradient(p.l_max, r[0] * inv, r[1] * inv, r[2] * inv, t + L.Y, t + L.dYx,
                                            t + L.dYy, t + L.dYz);
      kernels::accumulate_pair_terms(p, 2, t, w.q.data(), w.S.data());
      mask |= 2;
      if (p.zbl) {
        double phi, dphi;
        kernels::zbl_pair(p, a, b, d, phi, dphi);
        e_zbl += 0.5 * phi;
      }
    }
    w.mask[k] = mask;
  }
  for (int n = 0; n <= p.n_max_radial; ++n) {
    double q = 0.0;
    for (int b = 0; b < T; ++b)
      for (int k = 0; k < KR; ++k) q += p.c_radial[((size_t(n) * KR + k) * T + a) * T + b] * w.F[size_t(b) * KR + k];
    w.q[n] = q;
  }
  const double U = kernels::site_energy(p, a, w.q.data(), w.S.data(), Fp, dUdS) + e_zbl;
  // h_k^b = sum_n dU/dq_n c_nk^{ab}: the radial part of dU_i/dr_ij is sum_k h_k^b f'_k(r_ij)
  for (int b = 0; b < T; ++b)
    for (int k = 0; k < KR; ++k) {
      double x = 0.0;
      for (int n = 0; n <= p.n_max_radial; ++n) x += Fp[n] * p.c_radial[((size_t(n) * KR + k) * T + a) * T + b];
      w.h[size_t(b) * KR + k] = x;
    }
  return U;
}

// Site energy of atom i and one partial force f_ij = dU_i/dr_ij per list entry of i (f: 3 per
// entry, indexed by the entry). Compiled for AVX2/FMA and baseline x86-64 with the kernels
// inlined into each version; results differ between the two at round-off (fused multiply-adds).
NEPCG_MULTIVERSION NEPCG_FLATTEN
double atom_energy_and_partial_forces(const NepView& p, const NeighborList& list, const System& s,
                                      const std::vector<int>& type, size_t i, AtomScratch& w, double* Fp,
                                      double* dUdS, double* f) {
  const double U = site(p, list, s, type, i, w, Fp, dUdS);
  const int stride = kernels::pair_terms_size(p);
  const kernels::PairTermsLayout L = kernels::pair_terms_layout(p);
  const int KR = p.basis_radial + 1;
  const auto& off = list.offsets();
  const auto& nbr = list.neighbors();
  const int a = type[s.types[i]];
  for (int64_t e = off[i]; e < off[i + 1]; ++e) {
    const int k = static_cast<int>(e - off[i]);
    double* fe = &f[3 * e];
    fe[0] = fe[1] = fe[2] = 0.0;
    const int mask = w.mask[k];
    if (!mask) continue;
    double r[3], d;
    entry_vector(list, i, e, s, r, d);
    const int b = type[s.types[nbr[e]]];
    double radial = 0.0;
    if (mask & 1) {
      const double* h = &w.h[size_t(b) * KR];
      const double* fp = &w.radial_fp[size_t(k) * KR];
      for (int c = 0; c < KR; ++c) radial += h[c] * fp[c];
    }
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

  // Pass 1: per atom, site energy and one partial force f_ij = dU_i/dr_ij per list entry.
#pragma omp parallel
  {
    AtomScratch w;
    std::vector<double> Fp(p.dim_radial), dUdS(kernels::angular_gradient_size(p));
#pragma omp for schedule(dynamic, 32)
    for (long long i = 0; i < n; ++i)
      out.energies[i] += atom_energy_and_partial_forces(p, list, s, type, i, w, Fp.data(), dUdS.data(), f);
  }

  // Pass 2: gather F_i = sum_j (f_ij - f_ji) and W_i = sum_j r_ij (x) f_ji.
  detail::gather_partial_forces(s, list, f, out);
}

std::vector<double> NEP::descriptors(const System& s, const NeighborList& list, bool scaled) const {
  check_list(s, list);
  const std::vector<int> type = type_map(s);
  const NepView p = view();
  const long long n = static_cast<long long>(s.size());
  std::vector<double> out(n * p.dim);
#pragma omp parallel
  {
    AtomScratch w;
    std::vector<double> Fp(p.dim_radial), dUdS(kernels::angular_gradient_size(p));
#pragma omp for schedule(dynamic, 32)
    for (long long i = 0; i < n; ++i) {
      site(p, list, s, type, i, w, Fp.data(), dUdS.data());
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
