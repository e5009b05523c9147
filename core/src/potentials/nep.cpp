// CPU NEP evaluator. Three passes over atoms, each parallel without atomics:
//   1. descriptors, network: site energies U_i and per-atom gradients (Fp, dU/dS);
//   2. one partial force f_ij = dU_i/dr_ij per neighbour-list entry (+ ZBL);
//   3. gather: F_i = sum_j (f_ij - f_ji), W_i = sum_j r_ij (x) f_ji, using the list's reverse
//      entries to find f_ji.
#include "nepcg/nep.hpp"

#include <algorithm>
#include <cmath>

#include "nepcg/error.hpp"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/kernels/zbl.hpp"

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

namespace {

void check_list(const NEP& nep, const System& s, const NeighborList& list) {
  if (list.num_atoms() != s.size())
    throw InputError("NEP: the neighbour list was built for " + std::to_string(list.num_atoms()) +
                     " atoms, the system has " + std::to_string(s.size()));
  if (list.cutoff() < nep.cutoff() * (1 - 1e-12))
    throw InputError("NEP: the neighbour list cutoff (" + std::to_string(list.cutoff()) +
                     " Å) is shorter than the model's radial cutoff (" + std::to_string(nep.cutoff()) + " Å)");
}

inline void entry_vector(const NeighborList& list, size_t i, int64_t p, const System& s, double r[3], double& d) {
  const Vec3 v = list.pair_vector(i, p, s.positions, s.box);
  r[0] = v[0], r[1] = v[1], r[2] = v[2];
  d = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
}

// Pass 1 for one atom: descriptor q (D values), site energy incl. ZBL, and gradients.
double site(const NepView& p, const NeighborList& list, const System& s, const std::vector<int>& type, size_t i,
            double* q, double* Fp, double* dUdS) {
  double S[kernels::kMaxN * kernels::kMaxLm];
  const int nG = kernels::angular_gradient_size(p);
  std::fill(q, q + p.dim, 0.0);
  std::fill(S, S + nG, 0.0);
  const int a = type[s.types[i]];
  double e_zbl = 0.0;
  const auto& off = list.offsets();
  for (int64_t e = off[i]; e < off[i + 1]; ++e) {
    double r[3], d;
    entry_vector(list, i, e, s, r, d);
    const int b = type[s.types[list.neighbors()[e]]];
    kernels::accumulate_pair(p, a, b, r, d, q, S);
    if (p.zbl && d < kernels::pair_cutoff(p.cutoff_angular, a, b)) {
      double phi, dphi;
      kernels::zbl_pair(p, a, b, d, phi, dphi);
      e_zbl += 0.5 * phi;
    }
  }
  return kernels::site_energy(p, a, q, S, Fp, dUdS) + e_zbl;
}

}  // namespace

void NEP::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  check_list(*this, s, list);
  const std::vector<int> type = type_map(s);
  const NepView p = view();
  const long long n = static_cast<long long>(s.size());
  const int DR = p.dim_radial, nG = kernels::angular_gradient_size(p);
  std::vector<double> Fp(n * DR), dUdS(n * nG);

#pragma omp parallel
  {
    std::vector<double> q(p.dim);
#pragma omp for schedule(dynamic, 64)
    for (long long i = 0; i < n; ++i)
      out.energies[i] += site(p, list, s, type, i, q.data(), &Fp[i * DR], &dUdS[i * nG]);
  }

  const auto& off = list.offsets();
  const auto& nbr = list.neighbors();
  std::vector<double> f(3 * list.num_pairs());
#pragma omp parallel for schedule(dynamic, 64)
  for (long long i = 0; i < n; ++i) {
    const int a = type[s.types[i]];
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      double r[3], d;
      entry_vector(list, i, e, s, r, d);
      const int b = type[s.types[nbr[e]]];
      double* fe = &f[3 * e];
      fe[0] = fe[1] = fe[2] = 0.0;
      kernels::partial_force(p, a, b, r, d, &Fp[i * DR], &dUdS[i * nG], fe);
      if (p.zbl && d < kernels::pair_cutoff(p.cutoff_angular, a, b)) {
        double phi, dphi;
        kernels::zbl_pair(p, a, b, d, phi, dphi);
        for (int c = 0; c < 3; ++c) fe[c] += 0.5 * dphi * r[c] / d;
      }
    }
  }

  const auto& rev = list.reverse();
#pragma omp parallel for schedule(dynamic, 64)
  for (long long i = 0; i < n; ++i) {
    double F[3] = {0, 0, 0}, W[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      const double* fij = &f[3 * e];
      const double* fji = &f[3 * rev[e]];
      double r[3], d;
      entry_vector(list, i, e, s, r, d);
      for (int c = 0; c < 3; ++c) F[c] += fij[c] - fji[c];
      for (int x = 0; x < 3; ++x)
        for (int y = 0; y < 3; ++y) W[3 * x + y] += r[x] * fji[y];
    }
    for (int c = 0; c < 3; ++c) out.forces[3 * i + c] += F[c];
    for (int k = 0; k < 9; ++k) out.virials[9 * i + k] += W[k];
  }
}

std::vector<double> NEP::descriptors(const System& s, const NeighborList& list, bool scaled) const {
  check_list(*this, s, list);
  const std::vector<int> type = type_map(s);
  const NepView p = view();
  const long long n = static_cast<long long>(s.size());
  std::vector<double> out(n * p.dim);
#pragma omp parallel
  {
    std::vector<double> Fp(p.dim_radial), dUdS(kernels::angular_gradient_size(p));
#pragma omp for schedule(dynamic, 64)
    for (long long i = 0; i < n; ++i) {
      double* q = &out[i * p.dim];
      site(p, list, s, type, i, q, Fp.data(), dUdS.data());
      if (scaled)
        for (int d = 0; d < p.dim; ++d) q[d] *= p.q_scaler[d];
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
