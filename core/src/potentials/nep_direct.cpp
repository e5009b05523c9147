// NepDirect (see nep_direct.hpp): the GPU warp kernel's per-atom algorithm on the CPU, in double or
// float, with the shared NEPCG_HD kernels instantiated for the chosen real type.
#include "nepcg/nep_direct.hpp"

#include <cmath>

#include "nepcg/error.hpp"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/kernels/zbl.hpp"
#include "nepcg/nep_arrays.hpp"
#include "partial_forces.hpp"

namespace nepcg {

NepPrecision parse_nep_precision(const std::string& name) {
  if (name == "double") return NepPrecision::Double;
  if (name == "single") return NepPrecision::Single;
  throw InputError("NEP: precision must be 'double' or 'single', not '" + name + "'");
}

std::string to_string(NepPrecision p) { return p == NepPrecision::Single ? "single" : "double"; }

void require_direct_kernel_model(const NepModel& m, const std::string& who) {
  if (m.neurons2 != 0 || m.l_max < 1 || m.l_max > 4)
    throw InputError(who + ": single precision takes NEP models with one hidden layer and 1 <= l_max <= 4 (this one: " +
                     std::to_string(m.neurons2 ? 2 : 1) + " hidden layers, l_max " + std::to_string(m.l_max) +
                     "); use precision='double'");
}

struct NepDirect::Arrays {  // the model rounded to float (double runs use the NEP's own view)
  explicit Arrays(const NEP& nep) : f32(nep.model(), nep.tables()) {}
  NepArrays<float> f32;
};

namespace {

// Site energy of atom i and its partial forces f[3 e] (e: its list entries), in real type R.
template <int L, class R>
double direct_site(const kernels::NepViewT<R>& p, const NeighborList& list, const System& s,
                   const std::vector<int>& type, size_t i, std::vector<R>& scratch, double* f) {
  const int nR = p.n_max_radial + 1, nA = p.n_max_angular + 1, lm = p.num_lm, D = p.dim;
  const int K1 = p.basis_radial + 1, T = p.num_types;
  constexpr int LM = (L + 1) * (L + 1) - 1;
  const size_t size_a = size_t(nA) * lm;
  scratch.assign(2 * size_t(D) + 2 * size_a + size_t(T + 1) * K1 + nA + LM, R(0));
  R* q = scratch.data();
  R* S = q + D;
  R* dUdS = S + size_a;
  R* Fp = dUdS + size_a;
  R* F = Fp + D;  // radial basis sums F[b K1 + k] = sum_{j of type b} f_k(r_ij)
  R* fR = F + T * K1;
  R* gA = fR + K1;
  R* Y = gA + nA;
  const auto& off = list.offsets();
  const auto& nbr = list.neighbors();
  const int a = type[s.types[i]];
  R e_zbl = R(0);
  auto pair = [&](int64_t e, R r[3], R& d) {
    const Vec3 v = list.pair_vector(i, e, s.positions, s.box);  // double, then rounded
    r[0] = R(v[0]), r[1] = R(v[1]), r[2] = R(v[2]);
    d = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  };
  for (int64_t e = off[i]; e < off[i + 1]; ++e) {
    const int b = type[s.types[nbr[e]]];
    R r[3], d;
    pair(e, r, d);
    const int mask = kernels::pair_values<L>(p, a, b, r, d, fR, gA, Y);
    for (int k = 0; k < K1; ++k) F[b * K1 + k] += fR[k];
    for (int n = 0; n < nA; ++n)
      for (int k = 0; k < lm; ++k) S[n * lm + k] += gA[n] * Y[k];
    if (p.zbl && (mask & 2)) {
      R phi, dphi;
      kernels::zbl_pair(p, a, b, d, phi, dphi);
      e_zbl += R(0.5) * phi;
    }
  }
  for (int n = 0; n < nR; ++n) q[n] = kernels::radial_descriptor_from_sums(n, p.basis_radial, T, a, p.c_radial, F);
  const R U = kernels::site_energy(p, a, q, S, Fp, dUdS) + e_zbl;
  for (int64_t e = off[i]; e < off[i + 1]; ++e) {
    const int b = type[s.types[nbr[e]]];
    R r[3], d, fe[3] = {R(0), R(0), R(0)};
    pair(e, r, d);
    kernels::partial_force_direct<L>(p, a, b, r, d, Fp, dUdS, fe);
    if (p.zbl && d < kernels::pair_cutoff(p.cutoff_angular, a, b)) kernels::add_zbl_partial_force(p, a, b, r, d, fe);
    for (int c = 0; c < 3; ++c) f[3 * e + c] = double(fe[c]);
  }
  return double(U);
}

template <int L, class R>
void direct_accumulate(const kernels::NepViewT<R>& p, const System& s, const NeighborList& list,
                       const std::vector<int>& type, ForceResult& out) {
  const long long n = static_cast<long long>(s.size());
  if (out.scratch.size() < 3 * list.num_pairs()) out.scratch.resize(3 * list.num_pairs());
  double* f = out.scratch.data();
#pragma omp parallel
  {
    std::vector<R> scratch;
#pragma omp for schedule(dynamic, 32)
    for (long long i = 0; i < n; ++i) out.energies[i] += direct_site<L>(p, list, s, type, i, scratch, f);
  }
  detail::gather_partial_forces(s, list, f, out);
}

template <class R>
void direct_dispatch(const kernels::NepViewT<R>& p, const System& s, const NeighborList& list,
                     const std::vector<int>& type, ForceResult& out) {
  switch (p.l_max) {
    case 1: return direct_accumulate<1>(p, s, list, type, out);
    case 2: return direct_accumulate<2>(p, s, list, type, out);
    case 3: return direct_accumulate<3>(p, s, list, type, out);
    default: return direct_accumulate<4>(p, s, list, type, out);
  }
}

}  // namespace

NepDirect::NepDirect(NepModel model, NepPrecision precision) : nep_(std::move(model)), precision_(precision) {
  require_direct_kernel_model(nep_.model(), "NEP");
  if (precision_ == NepPrecision::Single) arrays_ = std::make_unique<Arrays>(nep_);
}

NepDirect::~NepDirect() = default;

void NepDirect::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  nep_.check_list(s, list);
  const std::vector<int> type = nep_.type_map(s);
  if (precision_ == NepPrecision::Single)
    direct_dispatch(arrays_->f32.view(), s, list, type, out);
  else
    direct_dispatch(nep_.view(), s, list, type, out);
}

}  // namespace nepcg
