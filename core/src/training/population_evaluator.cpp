// CPU population evaluator: each (individual, structure) pair is one serial task, so the
// OpenMP loop over tasks needs no atomics and its results do not depend on the thread count.
// Neighbour lists and pair vectors are built once (training positions never move), and so is
// everything that does not depend on the parameters (cached when it fits in memory):
//   radial:  f_k(r_ij), f'_k(r_ij) per pair and F_k^b(i) = sum_{j of type b} f_k(r_ij) per atom, so
//            q_n(i) = sum_{b,k} c_nk^{ab} F_k^b(i) and dU_i/dr_ij|radial = sum_k h_k^b f'_k(r_ij)
//            with h_k^b = sum_n dU_i/dq_n c_nk^{ab}: per-pair work independent of n_max;
//   angular: f_k, f'_k, Y_lm and grad Y_lm per pair within the angular cutoff;
//   ZBL:     its energies, forces and virial (no trainable parameters).
// With the cache, the population is evaluated kTrainingLanes individuals at a time (lanes.hpp;
// kTrainingLanesSingle in single precision; the last few in a half pack): the same templates run
// with R = Lanes, reading the cache once for all of them, in 64-byte SIMD pieces where the CPU
// has AVX-512 and 32-byte ones elsewhere. The cache is read as float by float lanes (a float
// copy), and the loops over it are blocked so that partial sums stay in registers.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "nepcg/error.hpp"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/kernels/zbl.hpp"
#include "nepcg/nep.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/training/trainer.hpp"
#include "../common/multiversion.hpp"
#include "lanes.hpp"

namespace nepcg {
namespace {

using kernels::NepView;

struct PreparedStructure {
  size_t n = 0;
  std::vector<int> type;            // model type per atom
  std::vector<int64_t> offsets;     // CSR over atoms
  std::vector<int> neighbors;
  std::vector<double> pair;         // per entry: x, y, z, |r| (Å)
  bool has_forces = false;
  std::vector<double> ref_forces;   // 3N
  std::vector<double> force_factor; // per atom: tau_t^2 rho_i
  // Parameter-independent cache (empty when the evaluator runs uncached).
  std::vector<double> basis_r;      // per entry: f_k, f'_k (k = 0 ... K_R), zero beyond the pair cutoff
  std::vector<double> sum_r;        // per atom, per neighbour type b: F_k^b
  std::vector<uint8_t> in_radial;   // per entry: 1 within the pair's radial cutoff
  std::vector<int64_t> ang_slot;    // per entry: slot in basis_a, -1 beyond the angular cutoff
  std::vector<double> basis_a;      // per slot: f_k, f'_k (K_A), Y, dY/du x, y, z (num_lm each)
  // The same in float for single-precision lanes (filled only for precision "single").
  std::vector<float> basis_r_single, sum_r_single, basis_a_single;
  double zbl_energy = 0.0;          // ZBL totals
  std::vector<double> zbl_energies, zbl_forces;
  double zbl_virial[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
};

// f = dU_i/dr_ij of list entry (i, j) with r = r_ij: F_i += f, F_j -= f, W -= r (x) f.
template <class R>
inline void add_pair_force(const R* f, const double* r, R* Fi, R* Fj, R* W) {
  for (int c = 0; c < 3; ++c) {
    Fi[c] += f[c];
    Fj[c] -= f[c];
  }
  for (int x = 0; x < 3; ++x)
    for (int y = 0; y < 3; ++y) W[3 * x + y] -= r[x] * f[y];
}

// Per-thread work space for one structure (R = double, or Lanes of several individuals).
template <class R>
struct ScratchT {
  std::vector<R> terms, forces, q, S, Fp, dUdS, h;
  std::vector<int> mask;
  std::vector<int64_t> angular;  // basis_a slots of the centre's angular neighbours, in list order
};
using Scratch = ScratchT<double>;

// The cached basis in the type G the lanes read it in: double for double lanes and the scalar
// path, float for single-precision lanes (a float copy, so that the hot loops load and broadcast
// it directly: mixed arithmetic rounds a double to the lanes' type first, so the values, and the
// results, are the same).
template <class G>
struct BasisView {
  const G* basis_r;
  const G* sum_r;
  const G* basis_a;
};

template <class G>
BasisView<G> basis_view(const PreparedStructure& ps);
template <>
inline BasisView<double> basis_view<double>(const PreparedStructure& ps) {
  return {ps.basis_r.data(), ps.sum_r.data(), ps.basis_a.data()};
}
template <>
inline BasisView<float> basis_view<float>(const PreparedStructure& ps) {
  return {ps.basis_r_single.data(), ps.sum_r_single.data(), ps.basis_a_single.data()};
}

// Accumulators kept in registers by the blocked loops below: four scalars, or two Lanes (two or
// four SIMD registers each).
template <class R>
constexpr int kBlock = std::is_same<R, double>::value ? 4 : 2;

// body(std::integral_constant<int, NB>, first) for first = 0, B, 2B, ... in blocks of NB = B
// values, then the rest one at a time: a compile-time block size lets the compiler keep a
// block's partial sums in registers.
template <int B, class Body>
inline void for_blocks(int count, Body&& body) {
  int first = 0;
  for (; first + B <= count; first += B) body(std::integral_constant<int, B>{}, first);
  for (; first < count; ++first) body(std::integral_constant<int, 1>{}, first);
}

// Radial descriptor and angular sums of atom i from the cache (angular g_n, g'_n of the s-th
// angular neighbour left in w.terms: two (n_max_A + 1) blocks per angular neighbour).
// Loop order: every sum runs over the same terms in the same order as the plain loops
// (q_n over b, k; g_n over k; S_nm over the neighbours), blocked so that the partial sums stay in
// registers.
template <class R, class G>
void cached_site(const kernels::NepViewT<R>& v, const PreparedStructure& ps, const BasisView<G>& basis, size_t i,
                 ScratchT<R>& w) {
  const int KR = v.basis_radial + 1, KA = v.basis_angular + 1, T = v.num_types, nA = v.n_max_angular + 1;
  const int lm = v.num_lm;
  const size_t ang_stride = 2 * KA + 4 * lm;
  constexpr int B = kBlock<R>;
  const int a = ps.type[i];
  w.q.assign(v.dim, R(0));
  w.S.resize(kernels::angular_gradient_size(v));
  for (int n = 0; n <= v.n_max_radial; ++n)
    w.q[n] = kernels::radial_descriptor_from_sums(n, v.basis_radial, T, a, v.c_radial, &basis.sum_r[i * T * KR]);
  const int count = static_cast<int>(ps.offsets[i + 1] - ps.offsets[i]);
  if (w.terms.size() < size_t(count) * 2 * nA) w.terms.resize(size_t(count) * 2 * nA);
  w.angular.clear();
  for (int64_t e = ps.offsets[i]; e < ps.offsets[i + 1]; ++e) {
    if (ps.ang_slot[e] < 0) continue;
    const int b = ps.type[ps.neighbors[e]];
    const G* t = &basis.basis_a[ang_stride * ps.ang_slot[e]];
    R* g = &w.terms[w.angular.size() * 2 * nA];
    w.angular.push_back(ps.ang_slot[e]);
    // g_n = sum_k c_nk f_k, g'_n = sum_k c_nk f'_k
    for_blocks<B>(nA, [&](auto block, int n0) {
      constexpr int nb = decltype(block)::value;
      R gn[nb], gpn[nb];
      for (int j = 0; j < nb; ++j) gn[j] = gpn[j] = R(0);
      for (int k = 0; k < KA; ++k)
        for (int j = 0; j < nb; ++j) {
          const R c = v.c_angular[((size_t(n0 + j) * KA + k) * T + a) * T + b];
          gn[j] += c * t[k];
          gpn[j] += c * t[KA + k];
        }
      for (int j = 0; j < nb; ++j) g[n0 + j] = gn[j], g[nA + n0 + j] = gpn[j];
    });
  }
  // S_nm = sum over angular neighbours of g_n Y_m
  for (int n = 0; n < nA; ++n)
    for_blocks<B>(lm, [&](auto block, int m0) {
      constexpr int mb = decltype(block)::value;
      R s[mb];
      for (int j = 0; j < mb; ++j) s[j] = R(0);
      const R* g = &w.terms[n];
      for (const int64_t slot : w.angular) {
        const R gn = *g;
        g += 2 * nA;
        const G* Y = &basis.basis_a[ang_stride * slot] + 2 * KA + m0;
        for (int j = 0; j < mb; ++j) s[j] += gn * Y[j];
      }
      for (int j = 0; j < mb; ++j) w.S[n * lm + m0 + j] = s[j];
    });
}

// kernels::angular_force_terms in two passes: G_k = sum_n dUdS[n][k] g_n and H_k (likewise with
// g'_n) blocked over k, so that a block's partial sums stay in registers, then their contraction
// with Y and grad Y (each sum in the same order as the kernel's: the same results).
template <class R, class G>
inline void angular_force_terms_blocked(const kernels::NepViewT<R>& p, const R* gA, const R* gpA, const G* Y,
                                        const G* dYx, const G* dYy, const G* dYz, const R* dUdS, R& radial,
                                        R* grad) {
  const int lm = p.num_lm, nA = p.n_max_angular + 1;
  R Gk[kernels::kMaxLm], Hk[kernels::kMaxLm];
  for_blocks<kBlock<R>>(lm, [&](auto block, int k0) {
    constexpr int kb = decltype(block)::value;
    R g_sum[kb], h_sum[kb];
    for (int j = 0; j < kb; ++j) g_sum[j] = h_sum[j] = R(0);
    for (int n = 0; n < nA; ++n) {
      const R g = gA[n], gp = gpA[n];
      const R* d = dUdS + n * lm + k0;
      for (int j = 0; j < kb; ++j) {
        g_sum[j] += d[j] * g;
        h_sum[j] += d[j] * gp;
      }
    }
    for (int j = 0; j < kb; ++j) Gk[k0 + j] = g_sum[j], Hk[k0 + j] = h_sum[j];
  });
  R rad = radial, gx = grad[0], gy = grad[1], gz = grad[2];
  for (int k = 0; k < lm; ++k) {
    rad += Hk[k] * Y[k];
    gx += Gk[k] * dYx[k];
    gy += Gk[k] * dYy[k];
    gz += Gk[k] * dYz[k];
  }
  radial = rad, grad[0] = gx, grad[1] = gy, grad[2] = gz;
}

// Energy U, forces (w.forces) and virial W (3x3, eV) of one structure from the cache; energies
// per atom too when `energies` is not null.
template <class R, class G = double>
void run_cached(const kernels::NepViewT<R>& v, const PreparedStructure& ps, ScratchT<R>& w, R* energies, R& U,
                R* W) {
  const BasisView<G> basis = basis_view<G>(ps);
  const int KR = v.basis_radial + 1, KA = v.basis_angular + 1, T = v.num_types, nA = v.n_max_angular + 1;
  const size_t ang_stride = 2 * KA + 4 * v.num_lm;
  const int lm = v.num_lm;
  w.forces.resize(3 * ps.n);
  for (size_t x = 0; x < 3 * ps.n; ++x) w.forces[x] = R(ps.zbl_forces[x]);
  w.Fp.resize(v.dim_radial);
  w.dUdS.resize(kernels::angular_gradient_size(v));
  std::vector<R>& h = w.h;
  h.resize(size_t(T) * KR);
  U = R(ps.zbl_energy);
  for (int c = 0; c < 9; ++c) W[c] = R(ps.zbl_virial[c]);
  for (size_t i = 0; i < ps.n; ++i) {
    const int a = ps.type[i];
    cached_site(v, ps, basis, i, w);
    const R Ui = kernels::site_energy(v, a, w.q.data(), w.S.data(), w.Fp.data(), w.dUdS.data());
    U += Ui;
    if (energies) energies[i] = Ui + ps.zbl_energies[i];
    // h_k^b = sum_n dU/dq_n c_nk^{ab}
    for (int b = 0; b < T; ++b)
      for (int k = 0; k < KR; ++k)
        h[b * KR + k] = kernels::contracted_radial_weight(v.n_max_radial, v.basis_radial, T, a, b, v.c_radial,
                                                          w.Fp.data(), k);
    R* Fi = &w.forces[3 * i];
    const R* g = w.terms.data();  // g_n, g'_n of the next angular neighbour
    for (int64_t e = ps.offsets[i]; e < ps.offsets[i + 1]; ++e) {
      const double* r = &ps.pair[4 * e];
      const int j = ps.neighbors[e];
      const G* fp = &basis.basis_r[2 * KR * e + KR];
      const R* hb = &h[ps.type[j] * KR];
      R radial = R(0);
      for (int k = 0; k < KR; ++k) radial += hb[k] * fp[k];
      R grad[3] = {R(0), R(0), R(0)};
      if (ps.ang_slot[e] >= 0) {
        const G* t = &basis.basis_a[ang_stride * ps.ang_slot[e]] + 2 * KA;
        angular_force_terms_blocked(v, g, g + nA, t, t + lm, t + 2 * lm, t + 3 * lm, w.dUdS.data(), radial, grad);
        g += 2 * nA;
      } else if (!ps.in_radial[e]) {
        continue;  // beyond both cutoffs
      }
      R f[3] = {R(0), R(0), R(0)};
      kernels::add_partial_force(r, r[3], radial, grad, f);
      add_pair_force(f, r, Fi, &w.forces[3 * j], W);
    }
  }
}

// run_cached for a pack of individuals (8 in double, 16 in single precision) with its whole call
// tree inlined: for AVX-512 with one 64-byte piece per pack, for AVX2 and baseline x86-64 (chosen
// at load time) with 32-byte pieces (lanes.hpp).
#define NEPCG_RUN_CACHED_LANES(LanesType, attributes)                                                     \
  attributes NEPCG_FLATTEN void run_cached_lanes(const kernels::NepViewT<LanesType>& v,                 \
                                                 const PreparedStructure& ps, ScratchT<LanesType>& w,     \
                                                 LanesType& U, LanesType* W) {                            \
    run_cached<LanesType, typename LanesType::value_type>(v, ps, w, nullptr, U, W);                     \
  }
NEPCG_RUN_CACHED_LANES(TrainingLanes, NEPCG_MULTIVERSION)
NEPCG_RUN_CACHED_LANES(TrainingLanesSingle, NEPCG_MULTIVERSION)
// (half packs are one 32-byte piece on every CPU: with an AVX-512 version too)
NEPCG_RUN_CACHED_LANES(TrainingLanesHalf, NEPCG_MULTIVERSION_SIMD)
NEPCG_RUN_CACHED_LANES(TrainingLanesSingleHalf, NEPCG_MULTIVERSION_SIMD)
#if NEPCG_HAVE_AVX512_PATH
NEPCG_RUN_CACHED_LANES(TrainingLanesWide, NEPCG_TARGET_AVX512)
NEPCG_RUN_CACHED_LANES(TrainingLanesSingleWide, NEPCG_TARGET_AVX512)
#endif
#undef NEPCG_RUN_CACHED_LANES

// xx yy zz xy yz zx of a row-major 3x3 virial.
constexpr int kVirialComponents[6] = {0, 4, 8, 1, 5, 6};

// The model's constant tables broadcast to lanes L; view() adds one pack of parameter vectors
// (ann, c_radial, c_angular per lane). ZBL is cached, so the lane view carries none.
template <class L>
class LaneConstants {
 public:
  LaneConstants(const NepView& v, const NepTables& tables, const NepModel& model)
      : v_(v),
        weights_(broadcast(tables.weights())),
        norms_(broadcast(tables.norms())),
        q_scaler_(broadcast(model.q_scaler)),
        cutoff_radial_(broadcast(model.cutoff_radial)),
        cutoff_angular_(broadcast(model.cutoff_angular)),
        ann_size_(model.ann_size()),
        c_radial_size_(model.c_radial_size()) {
    for (const kernels::ThreeJEntry& x : tables.three_j()) three_j_.push_back({x.k1, x.k2, x.k3, L(x.coef)});
  }

  kernels::NepViewT<L> view(const L* z) const {
    kernels::NepViewT<L> p;
    p.version = v_.version;
    p.num_types = v_.num_types;
    p.n_max_radial = v_.n_max_radial, p.n_max_angular = v_.n_max_angular;
    p.basis_radial = v_.basis_radial, p.basis_angular = v_.basis_angular, p.l_max = v_.l_max;
    p.dim_radial = v_.dim_radial, p.dim = v_.dim, p.num_lm = v_.num_lm;
    p.neurons1 = v_.neurons1, p.neurons2 = v_.neurons2, p.ann_block = v_.ann_block;
    p.ann = z;
    p.c_radial = z + ann_size_;
    p.c_angular = p.c_radial + c_radial_size_;
    p.q_scaler = q_scaler_.data();
    p.cutoff_radial = cutoff_radial_.data(), p.cutoff_angular = cutoff_angular_.data();
    p.weights = weights_.data(), p.norms = norms_.data();
    p.block_1111 = v_.block_1111;
    p.num_many_body = v_.num_many_body;
    p.many_body = v_.many_body;
    p.three_j = three_j_.data();
    p.zbl = 0;
    p.zbl_inner = p.zbl_outer = p.zbl_factor = L(0.0);
    p.zbl_flexible = nullptr, p.atomic_numbers = nullptr, p.zbl_radii = nullptr;
    return p;
  }

 private:
  static std::vector<L> broadcast(const std::vector<double>& x) {
    return std::vector<L>(x.begin(), x.end());
  }
  NepView v_;
  std::vector<L> weights_, norms_, q_scaler_, cutoff_radial_, cutoff_angular_;
  std::vector<kernels::ThreeJEntryT<L>> three_j_;
  size_t ann_size_, c_radial_size_;
};

class CpuPopulationEvaluator final : public PopulationEvaluator {
 public:
  CpuPopulationEvaluator(const NepModel& skeleton, const std::vector<TrainingStructure>& data,
                         const std::vector<double>& type_weight, double force_delta, size_t cache_limit,
                         bool single)
      : model_(skeleton), tables_(model_), single_(single) {
    const NepView v0 = tables_.view(model_);
    const int KR = v0.basis_radial + 1, KA = v0.basis_angular + 1, T = v0.num_types;
    const size_t ang_stride = 2 * KA + 4 * v0.num_lm;
    const double rc = model_.max_cutoff_radial(), ra = model_.max_cutoff_angular();
    structures_.resize(data.size());
    for (size_t k = 0; k < data.size(); ++k) {
      const TrainingStructure& d = data[k];
      PreparedStructure& p = structures_[k];
      const System& s = d.system;
      p.n = s.size();
      std::vector<int> map(s.species.size(), -1);
      for (size_t t = 0; t < s.species.size(); ++t) {
        const auto it = std::find(model_.elements.begin(), model_.elements.end(), s.species[t]);
        if (it != model_.elements.end()) map[t] = static_cast<int>(it - model_.elements.begin());
      }
      p.type.resize(p.n);
      for (size_t i = 0; i < p.n; ++i) {
        p.type[i] = map[s.types[i]];
        if (p.type[i] < 0)
          throw InputError(d.where() + ": species '" + s.species[s.types[i]] + "' is not in the model");
      }
      // GPUMD's nep treats every training structure as periodic in all three directions.
      const Box box(s.box.cell(), {true, true, true});
      NeighborList list(rc, 0.0, ra);
      list.build(box, s.positions);
      p.offsets = list.offsets();
      p.neighbors = list.neighbors();
      p.pair.resize(4 * p.neighbors.size());
      size_t angular_pairs = 0;
      for (size_t i = 0; i < p.n; ++i)
        for (int64_t e = p.offsets[i]; e < p.offsets[i + 1]; ++e) {
          const Vec3 r = list.pair_vector(i, e, s.positions, box);
          double* x = &p.pair[4 * e];
          x[0] = r[0], x[1] = r[1], x[2] = r[2];
          x[3] = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
          angular_pairs += x[3] < kernels::pair_cutoff(v0.cutoff_angular, p.type[i], p.type[p.neighbors[e]]);
        }
      p.has_forces = d.has_forces;
      if (d.has_forces) {
        p.ref_forces = d.forces;
        p.force_factor.resize(p.n);
        for (size_t i = 0; i < p.n; ++i) {
          const double tau = type_weight.empty() ? 1.0 : type_weight[p.type[i]];
          double rho = 1.0;
          if (force_delta > 0) {
            const double* f = &d.forces[3 * i];
            rho = force_delta / (force_delta + std::sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]));
          }
          p.force_factor[i] = tau * tau * rho;
        }
      }
      // basis values (double, plus a float copy in single precision) and the per-entry flags
      const size_t values = 2 * KR * p.neighbors.size() + KR * T * p.n + ang_stride * angular_pairs;
      cache_bytes_ += (single_ ? 12 : 8) * values + 9 * p.neighbors.size();
    }
    cached_ = cache_bytes_ <= cache_limit;
    if (!cached_) return;
    for (PreparedStructure& p : structures_) {
      const size_t ne = p.neighbors.size();
      p.basis_r.assign(2 * KR * ne, 0.0);
      p.sum_r.assign(KR * T * p.n, 0.0);
      p.in_radial.assign(ne, 0);
      p.ang_slot.assign(ne, -1);
      p.zbl_energies.assign(p.n, 0.0);
      p.zbl_forces.assign(3 * p.n, 0.0);
      int64_t slots = 0;
      for (size_t i = 0; i < p.n; ++i) {
        const int a = p.type[i];
        for (int64_t e = p.offsets[i]; e < p.offsets[i + 1]; ++e) {
          const double* r = &p.pair[4 * e];
          const int b = p.type[p.neighbors[e]];
          const double rc = kernels::pair_cutoff(v0.cutoff_radial, a, b);
          if (r[3] < rc) {
            p.in_radial[e] = 1;
            double* f = &p.basis_r[2 * KR * e];
            kernels::chebyshev_basis(v0.basis_radial, r[3], rc, f, f + KR);
            for (int k = 0; k < KR; ++k) p.sum_r[(i * T + b) * KR + k] += f[k];
          }
          if (r[3] < kernels::pair_cutoff(v0.cutoff_angular, a, b)) p.ang_slot[e] = slots++;
        }
      }
      p.basis_a.assign(ang_stride * slots, 0.0);
      for (size_t i = 0; i < p.n; ++i) {
        const int a = p.type[i];
        for (int64_t e = p.offsets[i]; e < p.offsets[i + 1]; ++e) {
          if (p.ang_slot[e] < 0) continue;
          const double* r = &p.pair[4 * e];
          const int j = p.neighbors[e], b = p.type[j];
          double* t = &p.basis_a[ang_stride * p.ang_slot[e]];
          kernels::chebyshev_basis(v0.basis_angular, r[3], kernels::pair_cutoff(v0.cutoff_angular, a, b), t, t + KA);
          const double inv = 1.0 / r[3];
          double* Y = t + 2 * KA;
          kernels::real_harmonics_with_gradient(v0.l_max, r[0] * inv, r[1] * inv, r[2] * inv, Y, Y + v0.num_lm,
                                                Y + 2 * v0.num_lm, Y + 3 * v0.num_lm);
          if (v0.zbl) {
            double phi, dphi;
            kernels::zbl_pair(v0, a, b, r[3], phi, dphi);
            p.zbl_energies[i] += 0.5 * phi;
            p.zbl_energy += 0.5 * phi;
            double f[3];
            for (int c = 0; c < 3; ++c) f[c] = 0.5 * dphi * r[c] / r[3];
            add_pair_force(f, r, &p.zbl_forces[3 * i], &p.zbl_forces[3 * j], p.zbl_virial);
          }
        }
      }
      if (single_) {
        p.basis_r_single.assign(p.basis_r.begin(), p.basis_r.end());
        p.sum_r_single.assign(p.sum_r.begin(), p.sum_r.end());
        p.basis_a_single.assign(p.basis_a.begin(), p.basis_a.end());
      }
    }
  }

  void set_q_scaler(const std::vector<double>& q) override { model_.q_scaler = q; }

  void evaluate(const double* population, int count, const std::vector<int>& ids,
                StructureErrors* out) const override {
    if (cached_) {
#if NEPCG_HAVE_AVX512_PATH
      if (wide_) {
        if (single_) {
          evaluate_lanes<TrainingLanesSingleWide, TrainingLanesSingleHalf>(population, count, ids, out);
        } else {
          evaluate_lanes<TrainingLanesWide, TrainingLanesHalf>(population, count, ids, out);
        }
        return;
      }
#endif
      if (single_) {
        evaluate_lanes<TrainingLanesSingle, TrainingLanesSingleHalf>(population, count, ids, out);
      } else {
        evaluate_lanes<TrainingLanes, TrainingLanesHalf>(population, count, ids, out);
      }
      return;
    }
    const long long tasks = static_cast<long long>(count) * static_cast<long long>(ids.size());
    const size_t np = model_.num_parameters();
#pragma omp parallel
    {
      Scratch w;
#pragma omp for schedule(dynamic, 1)
      for (long long task = 0; task < tasks; ++task) {
        const long long p = task / static_cast<long long>(ids.size());
        const int k = ids[task % ids.size()];
        double U = 0.0, W[9];
        run_structure(view_of(population + p * np), structures_[k], w, nullptr, U, W);
        const PreparedStructure& ps = structures_[k];
        StructureErrors& e = out[task];
        e = StructureErrors{};
        e.energy_per_atom = U / ps.n;
        if (ps.has_forces)
          for (size_t i = 0; i < ps.n; ++i) {
            double d2 = 0.0;
            for (int c = 0; c < 3; ++c) {
              const double d = w.forces[3 * i + c] - ps.ref_forces[3 * i + c];
              d2 += d * d;
            }
            e.force_sse += d2;
            e.force_sse_weighted += ps.force_factor[i] * d2;
          }
        for (int c = 0; c < 6; ++c) e.virial_per_atom[c] = W[kVirialComponents[c]] / ps.n;
      }
    }
  }

  StructurePrediction predict(const double* parameters, int k) const override {
    Scratch w;
    StructurePrediction out;
    const PreparedStructure& ps = structures_[k];
    out.energies.resize(ps.n);
    double W[9];
    run_structure(view_of(parameters), ps, w, out.energies.data(), out.energy, W);
    out.forces.assign(w.forces.begin(), w.forces.begin() + 3 * ps.n);
    for (int c = 0; c < 6; ++c) out.virial[c] = W[kVirialComponents[c]];
    return out;
  }

  std::vector<double> descriptors(const double* parameters, int k) const override {
    const NepView v = view_of(parameters);
    const PreparedStructure& ps = structures_[k];
    Scratch w;
    std::vector<double> out(ps.n * v.dim);
    for (size_t i = 0; i < ps.n; ++i) {
      if (cached_) {
        cached_site(v, ps, basis_view<double>(ps), i, w);
      } else {
        accumulate_site(v, ps, i, w);
      }
      kernels::angular_descriptor(v, w.S.data(), w.q.data());
      std::copy(w.q.begin(), w.q.begin() + v.dim, out.begin() + i * v.dim);
    }
    return out;
  }

  // The cached evaluation, one pack of individuals per task: packs of Full::size individuals,
  // and, when the last few fit in Half::size lanes, a half pack for them (a pack is padded with
  // copies of the last individual, whose results are dropped). Each lane's numbers are those of
  // the scalar path in the lanes' precision, so results do not depend on the packing or the
  // thread count.
  template <class Full, class Half>
  void evaluate_lanes(const double* population, int count, const std::vector<int>& ids,
                      StructureErrors* out) const {
    constexpr int L = Full::size;
    static_assert(Half::size * 2 == L, "a half pack holds half the lanes");
    const size_t np = model_.num_parameters();
    const int rest = count % L;
    const int full_packs = count / L + (rest > Half::size ? 1 : 0);
    const bool half_pack = rest > 0 && rest <= Half::size;
    const int packs = full_packs + (half_pack ? 1 : 0);
    const LaneConstants<Full> full_constants(tables_.view(model_), tables_, model_);
    const LaneConstants<Half> half_constants(tables_.view(model_), tables_, model_);
    const std::vector<Full> z_full = pack_parameters<Full>(population, count, 0, full_packs);
    const std::vector<Half> z_half = pack_parameters<Half>(population, count, full_packs * L, half_pack ? 1 : 0);
    const long long tasks = static_cast<long long>(packs) * static_cast<long long>(ids.size());
#pragma omp parallel
    {
      ScratchT<Full> w_full;
      ScratchT<Half> w_half;
#pragma omp for schedule(dynamic, 1)
      for (long long task = 0; task < tasks; ++task) {
        const int pk = static_cast<int>(task / static_cast<long long>(ids.size()));
        const size_t slot = task % ids.size();
        if (pk < full_packs) {
          evaluate_pack(full_constants.view(&z_full[pk * np]), pk * L, count, ids, slot, w_full, out);
        } else {
          evaluate_pack(half_constants.view(z_half.data()), full_packs * L, count, ids, slot, w_half, out);
        }
      }
    }
  }

  // Parameters of `packs` packs of individuals first, first + Lanes::size, ... (lane l of
  // z[pack * np + v]: parameter v of individual first + pack * size + l, padded with the last).
  template <class Lanes>
  std::vector<Lanes> pack_parameters(const double* population, int count, int first, int packs) const {
    constexpr int L = Lanes::size;
    const size_t np = model_.num_parameters();
    std::vector<Lanes> z(size_t(packs) * np);
    for (int pk = 0; pk < packs; ++pk)
      for (int l = 0; l < L; ++l) {
        const double* x = population + size_t(std::min(first + pk * L + l, count - 1)) * np;
        for (size_t v = 0; v < np; ++v) z[pk * np + v].set(l, x[v]);
      }
    return z;
  }

  // One pack (individuals first ... first + Lanes::size - 1) on structure ids[slot].
  template <class Lanes>
  void evaluate_pack(const kernels::NepViewT<Lanes>& v, int first, int count, const std::vector<int>& ids,
                     size_t slot, ScratchT<Lanes>& w, StructureErrors* out) const {
    constexpr int L = Lanes::size;
    const PreparedStructure& ps = structures_[ids[slot]];
    Lanes U, W[9];
    run_cached_lanes(v, ps, w, U, W);
    Lanes sse(0.0), sse_weighted(0.0);
    if (ps.has_forces)
      for (size_t i = 0; i < ps.n; ++i) {
        Lanes d2(0.0);
        for (int c = 0; c < 3; ++c) {
          const Lanes d = w.forces[3 * i + c] - ps.ref_forces[3 * i + c];
          d2 += d * d;
        }
        sse += d2;
        sse_weighted += ps.force_factor[i] * d2;
      }
    for (int l = 0; l < L && first + l < count; ++l) {
      StructureErrors& e = out[size_t(first + l) * ids.size() + slot];
      e = StructureErrors{};
      e.energy_per_atom = double(U[l]) / ps.n;
      e.force_sse = sse[l];
      e.force_sse_weighted = sse_weighted[l];
      for (int c = 0; c < 6; ++c) e.virial_per_atom[c] = double(W[kVirialComponents[c]][l]) / ps.n;
    }
  }

 private:
  NepView view_of(const double* z) const {
    NepView v = tables_.view(model_);
    v.ann = z;
    v.c_radial = z + model_.ann_size();
    v.c_angular = v.c_radial + model_.c_radial_size();
    return v;
  }

  // Pair terms of every neighbour of atom i (cached in w.terms) and its descriptor sums.
  double accumulate_site(const NepView& v, const PreparedStructure& ps, size_t i, Scratch& w) const {
    const int stride = kernels::pair_terms_size(v);
    const int count = static_cast<int>(ps.offsets[i + 1] - ps.offsets[i]);
    if (w.terms.size() < size_t(count) * stride) w.terms.resize(size_t(count) * stride);
    if (w.mask.size() < size_t(count)) w.mask.resize(count);
    w.q.assign(v.dim, 0.0);
    w.S.assign(kernels::angular_gradient_size(v), 0.0);
    const int a = ps.type[i];
    double e_zbl = 0.0;
    for (int k = 0; k < count; ++k) {
      const int64_t e = ps.offsets[i] + k;
      const double* r = &ps.pair[4 * e];
      const int b = ps.type[ps.neighbors[e]];
      double* t = &w.terms[size_t(k) * stride];
      w.mask[k] = kernels::pair_terms(v, a, b, r, r[3], t);
      kernels::accumulate_pair_terms(v, w.mask[k], t, w.q.data(), w.S.data());
      if (v.zbl && (w.mask[k] & 2)) {
        double phi, dphi;
        kernels::zbl_pair(v, a, b, r[3], phi, dphi);
        e_zbl += 0.5 * phi;
      }
    }
    return e_zbl;
  }

  // Energy (total and optionally per atom), forces (in w.forces) and total virial W (3x3, eV,
  // W = -sum over entries r_ij (x) dU_i/dr_ij) of one structure.
  void run_structure(const NepView& v, const PreparedStructure& ps, Scratch& w, double* energies, double& U,
                     double* W) const {
    if (cached_) {
      run_cached(v, ps, w, energies, U, W);
    } else {
      run_uncached(v, ps, w, energies, U, W);
    }
  }

  void run_uncached(const NepView& v, const PreparedStructure& ps, Scratch& w, double* energies, double& U,
                    double* W) const {
    const int stride = kernels::pair_terms_size(v);
    w.forces.assign(3 * ps.n, 0.0);
    w.Fp.resize(v.dim_radial);
    w.dUdS.resize(kernels::angular_gradient_size(v));
    U = 0.0;
    for (int c = 0; c < 9; ++c) W[c] = 0.0;
    for (size_t i = 0; i < ps.n; ++i) {
      const int a = ps.type[i];
      const double e_zbl = accumulate_site(v, ps, i, w);
      const double Ui = kernels::site_energy(v, a, w.q.data(), w.S.data(), w.Fp.data(), w.dUdS.data()) + e_zbl;
      U += Ui;
      if (energies) energies[i] = Ui;
      double* Fi = &w.forces[3 * i];
      for (int64_t e = ps.offsets[i]; e < ps.offsets[i + 1]; ++e) {
        const int k = static_cast<int>(e - ps.offsets[i]);
        if (!w.mask[k]) continue;
        const double* r = &ps.pair[4 * e];
        double f[3] = {0.0, 0.0, 0.0};
        kernels::partial_force_from_terms(v, w.mask[k], &w.terms[size_t(k) * stride], r, r[3], w.Fp.data(),
                                          w.dUdS.data(), f);
        const int j = ps.neighbors[e];
        if (v.zbl && (w.mask[k] & 2)) kernels::add_zbl_partial_force(v, a, ps.type[j], r, r[3], f);
        add_pair_force(f, r, Fi, &w.forces[3 * j], W);
      }
    }
  }

  NepModel model_;
  NepTables tables_;
  std::vector<PreparedStructure> structures_;
  bool single_ = false;  // evaluate() in float lanes (cached path only)
#if NEPCG_HAVE_AVX512_PATH
  bool wide_ = nepcg_cpu_has_avx512();  // lanes in 64-byte pieces (AVX-512 code)
#endif
  size_t cache_bytes_ = 0;
  bool cached_ = false;
};

}  // namespace

namespace detail {

template <class L>
NEPCG_FLATTEN std::vector<double> apply_lanes_tanh(const std::vector<double>& x) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); i += L::size) {
    L v(0.0);
    for (int l = 0; l < L::size && i + l < x.size(); ++l) v.set(l, x[i + l]);
    const L t = tanh(v);
    for (int l = 0; l < L::size && i + l < x.size(); ++l) out[i + l] = t[l];
  }
  return out;
}

NEPCG_MULTIVERSION_SIMD NEPCG_FLATTEN
std::vector<double> training_lanes_tanh(const std::vector<double>& x, bool single) {
  return single ? apply_lanes_tanh<TrainingLanesSingle>(x) : apply_lanes_tanh<TrainingLanes>(x);
}

}  // namespace detail

std::unique_ptr<PopulationEvaluator> make_cpu_population_evaluator(const NepModel& skeleton,
                                                                   const std::vector<TrainingStructure>& data,
                                                                   const std::vector<double>& type_weight,
                                                                   double force_delta, size_t cache_limit,
                                                                   NepPrecision precision) {
  return std::make_unique<CpuPopulationEvaluator>(skeleton, data, type_weight, force_delta, cache_limit,
                                                  precision == NepPrecision::Single);
}

}  // namespace nepcg
