// NEP site kernel with one warp per atom (internal to gpu_nep.cu). Neighbours are taken 32 at a
// time, one per lane: each lane evaluates its pair's radial functions and harmonics (the shared
// NEPCG_HD building blocks, kernels::pair_values) into shared memory, then the lanes split the
// descriptor components and sum over the 32 pairs. Descriptor rows and their gradients run one
// radial channel per lane, the network one neuron per lane, the partial forces one neighbour per
// lane (kernels::partial_force_direct: the CPU's terms, computed in registers). The kernel is a
// template on the real type R of its maths: double (the default) or float (GpuNEP's single-precision
// path: staging, descriptor, network and partial forces in float; pair vectors from the double
// positions; energies and partial forces written as double; NepDirect is its CPU twin). Every sum has
// a fixed order, so results are reproducible bit for bit. Small systems get 32 times the threads
// of an atom-per-thread kernel, and per-thread arrays are sized for the models this kernel takes
// (l_max as a template argument) instead of the largest model.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "../common/cuda_support.cuh"
#include "../neighbors/device_neighbor_list.cuh"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/error.hpp"
#include "nepcg/kernels/zbl.hpp"

namespace nepcg::gpu {

/// The models the warp kernel takes (l_max 1 ... 4, one hidden layer); others use the
/// atom-per-thread kernel. The kernel is compiled for each l_max (template argument L), so that
/// harmonics and their contractions live in registers.
template <class R>
inline bool warp_kernel_fits(const kernels::NepViewT<R>& p) { return p.l_max >= 1 && p.l_max <= 4 && p.neurons2 == 0; }

/// Reals per lane of the staging area: g_n (radial, angular) and Y_lm of one pair, rounded up to an
/// odd number so that the 32 lanes' rows start in different shared-memory banks.
template <class R>
NEPCG_HD int warp_kernel_stage_stride(const kernels::NepViewT<R>& p) {
  return (p.n_max_radial + 1 + p.n_max_angular + 1 + p.num_lm) | 1;
}

/// Benchmark variants of the site kernel (NEPCG_SITE_KERNEL; the default is all off). Each is
/// compiled for the single-precision MD kernel (float, ListPairs) only:
///   w0_transposed: the first layer reads W0 transposed ([block][d][mu]; view.w0_transposed),
///     so lanes that take one neuron each read consecutive addresses;
///   staged_radial_weights: the radial basis weights W_k = sum_n dU/dq_n c_nk of every neighbour
///     type are computed once per atom into shared memory instead of once per pair;
///   reused_pair_vectors: the descriptor pass keeps each pair vector (double) in the entry's
///     partial-force slot, which the force pass reads back (coalesced) and then overwrites with
///     the partial force, instead of gathering the neighbour's position again (MD only);
///   min_blocks: a register cap (__launch_bounds__(128, min_blocks)); 0 = none.
struct SiteVariant {
  bool w0_transposed = false;
  bool staged_radial_weights = false;
  bool reused_pair_vectors = false;
  int min_blocks = 0;
  int flags() const {
    return (w0_transposed ? 1 : 0) | (staged_radial_weights ? 2 : 0) | (reused_pair_vectors ? 4 : 0);
  }
};
constexpr int kVariantW0T = 1, kVariantStagedWeights = 2, kVariantReusedVectors = 4;

/// Reals (R) of shared memory per warp: per-lane staging of g_n (radial, angular) and Y_lm, then
/// the atom's descriptor q, angular sums S, gradient dU/dq, dU/dS and the hidden-layer factors
/// (and, staged_radial_weights, T (basis_radial + 1) radial weights).
template <class R>
inline int warp_kernel_shared_reals(const kernels::NepViewT<R>& p, const SiteVariant& v = {}) {
  const int nA = p.n_max_angular + 1;
  const int weights = v.staged_radial_weights ? p.num_types * (p.basis_radial + 1) : 0;
  return 32 * warp_kernel_stage_stride(p) + 2 * p.dim + 2 * nA * p.num_lm + p.neurons1 + weights;
}

template <class R>
__device__ inline R warp_sum(R v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;  // the same value, summed in the same order, in every lane
}

/// Neighbours of an MD system: the device Verlet list (atom-major rows of `capacity` entries,
/// image codes) and the current positions.
struct ListPairs {
  const double *x, *y, *z;
  cuda::DeviceCell cell;
  const int *nbr, *img, *cnt;
  int n, capacity;
  __device__ int count(int i) const { return cnt[i]; }
  __device__ int entry(int i, int k) const { return i * capacity + k; }
  __device__ int neighbor(int e) const { return nbr[e]; }
  __device__ void vector(int i, int e, double* r) const {
    double s[3];
    cuda::image_shift(cell, img[e], s);
    const int j = nbr[e];
    r[0] = (x[j] - x[i]) + s[0];
    r[1] = (y[j] - y[i]) + s[1];
    r[2] = (z[j] - z[i]) + s[2];
  }
};

/// Neighbours of fixed training structures: a CSR list with the pair vectors stored (x, y, z, |r|).
struct FixedPairs {
  const int *offsets, *nbr;
  const double* pair;
  __device__ int count(int i) const { return offsets[i + 1] - offsets[i]; }
  __device__ int entry(int i, int k) const { return offsets[i] + k; }
  __device__ int neighbor(int e) const { return nbr[e]; }
  __device__ void vector(int, int e, double* r) const {
    r[0] = pair[4 * e];
    r[1] = pair[4 * e + 1];
    r[2] = pair[4 * e + 2];
  }
};

/// A pair vector (double) rounded to R, and its length.
template <class R>
__device__ inline R rounded_vector(const double* v, R* r) {
  r[0] = R(v[0]), r[1] = R(v[1]), r[2] = R(v[2]);
  return sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
}

/// r_ij of list entry e rounded to R (computed in double from the double positions) and |r_ij|.
template <class R, class Pairs>
__device__ inline R pair_vector(const Pairs& pairs, int i, int e, R* r) {
  double v[3];
  pairs.vector(i, e, v);
  return rounded_vector(v, r);
}

/// Where a launch writes: site energies at energy[individual * atom_stride + i], partial forces at
/// pf*[individual * entry_stride + e]. For the trainer, blockIdx.y is the individual and its
/// parameters (nep.txt order) start at population + individual * num_parameters (population32:
/// the same, rounded to float, for the single-precision kernel).
struct SiteOutput {
  double *energy, *pfx, *pfy, *pfz;
  size_t atom_stride = 0, entry_stride = 0;
  const double* population = nullptr;
  const float* population32 = nullptr;
  size_t num_parameters = 0, ann_size = 0, c_radial_size = 0;
};

/// The site computation of warp w (the kernels below differ only in their launch bounds).
template <int L, class R, class Pairs, int Flags>
__device__ __forceinline__ void warp_site(kernels::NepViewT<R> p, Pairs pairs, const int* atoms,
                                          int num_atoms, const int* type, int shared_per_warp,
                                          SiteOutput out) {
  extern __shared__ double smem_storage[];  // double-aligned; holds R values
  R* smem = reinterpret_cast<R*>(smem_storage);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int w = blockIdx.x * (blockDim.x >> 5) + warp;
  if (w >= num_atoms) return;  // warp-uniform
  const int i = atoms ? atoms[w] : w;
  const R* population = nullptr;  // the trainer's parameter sets, in this kernel's real type
  if constexpr (std::is_same<R, double>::value)
    population = out.population;
  else
    population = out.population32;
  if (population) {  // this block's individual
    p.ann = population + blockIdx.y * out.num_parameters;
    p.c_radial = p.ann + out.ann_size;
    p.c_angular = p.c_radial + out.c_radial_size;
  }
  double* energy = out.energy + blockIdx.y * out.atom_stride;
  double* pfx = out.pfx + blockIdx.y * out.entry_stride;
  double* pfy = out.pfy + blockIdx.y * out.entry_stride;
  double* pfz = out.pfz + blockIdx.y * out.entry_stride;
  const int nR = p.n_max_radial + 1, nA = p.n_max_angular + 1, lm = p.num_lm, D = p.dim;
  const int stride = warp_kernel_stage_stride(p), size_a = nA * lm, T = p.num_types;
  R* stage = smem + warp * shared_per_warp;
  R* q = stage + 32 * stride;
  R* S = q + D;
  R* dU = S + size_a;
  R* dUdS = dU + D;
  R* hidden = dUdS + size_a;
  R* weights = hidden + p.neurons1;  // (staged radial weights variant)
  for (int c = lane; c < D; c += 32) q[c] = R(0);
  for (int c = lane; c < size_a; c += 32) S[c] = R(0);
  const int a = type[i];
  const int count = pairs.count(i);
  R e_zbl = R(0);
  __syncwarp();

  // 1. Descriptor sums, 32 neighbours at a time.
  for (int first = 0; first < count; first += 32) {
    const int k = first + lane;
    R* st = stage + lane * stride;
    int mask = 0;
    if (k >= count)
      for (int c = 0; c < stride; ++c) st[c] = R(0);
    if (k < count) {
      const int e = pairs.entry(i, k), b = type[pairs.neighbor(e)];
      R r[3];
      double v[3];
      pairs.vector(i, e, v);
      const R d = rounded_vector(v, r);
      if constexpr ((Flags & kVariantReusedVectors) != 0) {  // (this lane reads them back in pass 3)
        pfx[e] = v[0];
        pfy[e] = v[1];
        pfz[e] = v[2];
      }
      mask = kernels::pair_values<L>(p, a, b, r, d, st, st + nR, st + nR + nA);
      if (p.zbl && (mask & 2)) {
        R phi, dphi;
        kernels::zbl_pair(p, a, b, d, phi, dphi);
        e_zbl += R(0.5) * phi;
      }
    }
    // Angular sums only for batches with a pair inside the angular cutoff (the device list puts
    // those pairs first; the others contribute exact zeros).
    const int components = __any_sync(0xffffffffu, mask & 2) ? nR + size_a : nR;
    __syncwarp();
    for (int c = lane; c < components; c += 32) {
      R s = R(0);
      if (c < nR) {
        for (int l = 0; l < 32; ++l) s += stage[l * stride + c];
        q[c] += s;
      } else {
        const int nn = (c - nR) / lm, m = (c - nR) % lm;
        for (int l = 0; l < 32; ++l) s += stage[l * stride + nR + nn] * stage[l * stride + nR + nA + m];
        S[c - nR] += s;
      }
    }
    __syncwarp();
  }

  // 2. Angular descriptor (one radial channel per lane), then the network (one neuron per lane).
  for (int nn = lane; nn < nA; nn += 32) kernels::angular_descriptor_row(p, S, q, nn);
  __syncwarp();
  for (int c = lane; c < D; c += 32) dU[c] = q[c] * p.q_scaler[c];  // scaled input, for now
  __syncwarp();
  const int N1 = p.neurons1;
  const int n_blocks = p.version == 3 ? 1 : T;
  const R* block = p.ann + (p.version == 3 ? 0 : a) * p.ann_block;
  const R* W0 = block;
  const R* b0 = block + N1 * D;
  const R* w1 = b0 + N1;
  // First layer, one neuron per lane: W0 row mu (lanes 32 rows apart), or in the w0t variant (MD
  // only: the trainer's individuals bring their own W0) column d of the transposed copy
  // (consecutive lanes). Same products, same order: the same bits.
  R u = R(0);
  for (int mu = lane; mu < N1; mu += 32) {
    R zz = -b0[mu];
    if constexpr ((Flags & kVariantW0T) != 0) {
      const R* W0T = p.w0_transposed + (p.version == 3 ? 0 : a) * N1 * D;
      for (int d = 0; d < D; ++d) zz += W0T[d * N1 + mu] * dU[d];
    } else {
      const R* row = W0 + mu * D;
      for (int d = 0; d < D; ++d) zz += row[d] * dU[d];
    }
    const R h = tanh(zz);
    u += w1[mu] * h;
    hidden[mu] = w1[mu] * (R(1) - h * h);
  }
  __syncwarp();
  for (int c = lane; c < D; c += 32) {
    R s = R(0);
    for (int mu = 0; mu < N1; ++mu) s += hidden[mu] * W0[mu * D + c];
    dU[c] = s * p.q_scaler[c];  // gradient with respect to the unscaled descriptor
  }
  u = warp_sum(u) - p.ann[n_blocks * p.ann_block];
  if (p.version == 5) u -= w1[N1];
  e_zbl = warp_sum(e_zbl);
  __syncwarp();
  if (lane == 0) energy[i] = double(u + e_zbl);
  for (int nn = lane; nn < nA; nn += 32) kernels::angular_gradient_row(p, S, dU, dUdS, nn);
  if constexpr ((Flags & kVariantStagedWeights) != 0) {  // W_k of every neighbour type, once per atom
    const int K1 = p.basis_radial + 1;
    for (int c = lane; c < T * K1; c += 32)
      weights[c] = kernels::contracted_radial_weight(p.n_max_radial, p.basis_radial, T, a, c / K1, p.c_radial, dU,
                                                     c % K1);
  }
  __syncwarp();

  // 3. Partial forces f_ij = dU_i/dr_ij, one neighbour per lane.
  for (int k = lane; k < count; k += 32) {
    const int e = pairs.entry(i, k), b = type[pairs.neighbor(e)];
    R r[3];
    R d;
    if constexpr ((Flags & kVariantReusedVectors) != 0) {
      const double v[3] = {pfx[e], pfy[e], pfz[e]};  // the lane's own entry of pass 1
      d = rounded_vector(v, r);
    } else {
      d = pair_vector<R>(pairs, i, e, r);
    }
    R f[3] = {R(0), R(0), R(0)};
    if constexpr ((Flags & kVariantStagedWeights) != 0) {
      const R* w = weights + b * (p.basis_radial + 1);
      kernels::partial_force_direct_weighted<L>(p, a, b, r, d, [&](int kk) { return w[kk]; }, dUdS, f);
    } else {
      kernels::partial_force_direct<L>(p, a, b, r, d, dU, dUdS, f);
    }
    if (p.zbl && d < kernels::pair_cutoff(p.cutoff_angular, a, b)) kernels::add_zbl_partial_force(p, a, b, r, d, f);
    pfx[e] = double(f[0]);
    pfy[e] = double(f[1]);
    pfz[e] = double(f[2]);
  }
}

template <int L, class R, class Pairs, int Flags = 0>
__global__ void nep_warp_sites(kernels::NepViewT<R> p, Pairs pairs, const int* atoms, int num_atoms, const int* type,
                               int shared_per_warp, SiteOutput out) {
  warp_site<L, R, Pairs, Flags>(p, pairs, atoms, num_atoms, type, shared_per_warp, out);
}

/// The same with a register cap: at least MinBlocks blocks of 128 threads per multiprocessor
/// (higher occupancy, possibly spills).
template <int L, class R, class Pairs, int Flags, int MinBlocks>
__global__ void __launch_bounds__(128, MinBlocks)
    nep_warp_sites_capped(kernels::NepViewT<R> p, Pairs pairs, const int* atoms, int num_atoms, const int* type,
                          int shared_per_warp, SiteOutput out) {
  warp_site<L, R, Pairs, Flags>(p, pairs, atoms, num_atoms, type, shared_per_warp, out);
}

template <class R, class Pairs>
using WarpKernel = void (*)(kernels::NepViewT<R>, Pairs, const int*, int, const int*, int, SiteOutput);

template <class R, class Pairs, int Flags, int MinBlocks>
WarpKernel<R, Pairs> warp_kernel_for_l(int l_max) {
  if constexpr (MinBlocks == 0)
    return l_max == 1 ? nep_warp_sites<1, R, Pairs, Flags> : l_max == 2 ? nep_warp_sites<2, R, Pairs, Flags>
           : l_max == 3 ? nep_warp_sites<3, R, Pairs, Flags> : nep_warp_sites<4, R, Pairs, Flags>;
  else
    return l_max == 1   ? nep_warp_sites_capped<1, R, Pairs, Flags, MinBlocks>
           : l_max == 2 ? nep_warp_sites_capped<2, R, Pairs, Flags, MinBlocks>
           : l_max == 3 ? nep_warp_sites_capped<3, R, Pairs, Flags, MinBlocks>
                        : nep_warp_sites_capped<4, R, Pairs, Flags, MinBlocks>;
}

/// The variants compiled: for the single-precision MD kernel (float, ListPairs) w0t, rw, rv,
/// w0t,rw,rv, cap5, cap6, cap8, w0t,rw,rv,cap6; for the single-precision training kernel (float,
/// FixedPairs) rw, cap5, cap6, cap8, rw,cap6 (w0t and rv are dropped there: each individual
/// brings its own W0, and the training pair vectors are stored already).
inline const char* const kSiteVariantNames[] = {"w0t", "rw", "rv", "w0t,rw,rv", "cap5", "cap6", "cap8",
                                                "w0t,rw,rv,cap6"};
/// The compiled instance of a variant (l_max, then features), or null when that variant is not
/// compiled for this real type and pair source. The one list of what exists.
template <class R, class Pairs>
WarpKernel<R, Pairs> compiled_variant(int l_max, const SiteVariant& v) {
  constexpr int kAll = kVariantW0T | kVariantStagedWeights | kVariantReusedVectors;
  if constexpr (std::is_same<R, float>::value && std::is_same<Pairs, ListPairs>::value) {
    switch (v.flags() * 10 + v.min_blocks) {
      case 10: return warp_kernel_for_l<R, Pairs, kVariantW0T, 0>(l_max);
      case 20: return warp_kernel_for_l<R, Pairs, kVariantStagedWeights, 0>(l_max);
      case 40: return warp_kernel_for_l<R, Pairs, kVariantReusedVectors, 0>(l_max);
      case 70: return warp_kernel_for_l<R, Pairs, kAll, 0>(l_max);
      case 5: return warp_kernel_for_l<R, Pairs, 0, 5>(l_max);
      case 6: return warp_kernel_for_l<R, Pairs, 0, 6>(l_max);
      case 8: return warp_kernel_for_l<R, Pairs, 0, 8>(l_max);
      case 76: return warp_kernel_for_l<R, Pairs, kAll, 6>(l_max);
      default: break;
    }
  }
  if constexpr (std::is_same<R, float>::value && std::is_same<Pairs, FixedPairs>::value) {
    switch (v.flags() * 10 + v.min_blocks) {  // (w0t and rv are not for training)
      case 20: return warp_kernel_for_l<R, Pairs, kVariantStagedWeights, 0>(l_max);
      case 5: return warp_kernel_for_l<R, Pairs, 0, 5>(l_max);
      case 6: return warp_kernel_for_l<R, Pairs, 0, 6>(l_max);
      case 8: return warp_kernel_for_l<R, Pairs, 0, 8>(l_max);
      case 26: return warp_kernel_for_l<R, Pairs, kVariantStagedWeights, 6>(l_max);
      default: break;
    }
  }
  return nullptr;
}

inline bool site_variant_compiled(const SiteVariant& v, bool training = false) {
  if (v.flags() == 0 && v.min_blocks == 0) return true;
  return training ? compiled_variant<float, FixedPairs>(4, v) != nullptr
                  : compiled_variant<float, ListPairs>(4, v) != nullptr;
}

/// The kernel instance for l_max and a variant (the default when the variant is not compiled).
template <class R, class Pairs>
WarpKernel<R, Pairs> warp_kernel_for(int l_max, const SiteVariant& v) {
  const WarpKernel<R, Pairs> k = compiled_variant<R, Pairs>(l_max, v);
  return k ? k : warp_kernel_for_l<R, Pairs, 0, 0>(l_max);
}

/// NEPCG_SITE_KERNEL, the benchmark variant as comma-separated features: "w0t" (first layer from
/// a transposed W0; MD only, the trainer leaves it out), "rw" (radial basis weights staged per
/// atom), "rv" (pair vectors of pass 1 reused in pass 3; MD only), "cap5" | "cap6" | "cap8"
/// (register cap for that many blocks of 128 threads per
/// multiprocessor). Throws InputError for unknown features or combinations not compiled. The
/// variants exist in single precision only: double precision (single = false) ignores the
/// variable. Default (unset, empty or "default"): no variant.
inline SiteVariant site_variant_from_environment(bool single, bool training) {
  SiteVariant v;
  const char* env = std::getenv("NEPCG_SITE_KERNEL");
  if (!single || !env || !*env || std::string(env) == "default") return v;
  const std::string text = env;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    start = end + 1;
    if (item == "w0t") v.w0_transposed = true;
    else if (item == "rw") v.staged_radial_weights = true;
    else if (item == "rv") v.reused_pair_vectors = true;
    else if (item == "cap5" || item == "cap6" || item == "cap8") v.min_blocks = item[3] - '0';
    else throw InputError("NEPCG_SITE_KERNEL: unknown variant '" + item + "' (features: w0t, rw, rv, cap5, cap6, cap8)");
  }
  if (training) v.w0_transposed = v.reused_pair_vectors = false;  // (the trainer's pair vectors are stored)
  std::string known;
  for (const char* name : kSiteVariantNames) known += std::string(known.empty() ? "" : ", ") + name;
  if (!site_variant_compiled(v, training))
    throw InputError("NEPCG_SITE_KERNEL=" + text + ": this combination is not compiled (compiled: " + known +
                     (training ? "; the trainer leaves w0t and rv out" : "") + ")");
  return v;
}

/// Raises the dynamic shared-memory limit of every l_max instance for this real type, pair source
/// and variant.
template <class R, class Pairs>
void allow_warp_kernel_shared(size_t bytes, const SiteVariant& v) {
  const int b = static_cast<int>(bytes);
  for (int l = 1; l <= 4; ++l)
    NEPCG_CUDA_CHECK(
        cudaFuncSetAttribute(warp_kernel_for<R, Pairs>(l, v), cudaFuncAttributeMaxDynamicSharedMemorySize, b));
}

/// Warps per block for a model and variant (0 when the warp kernel does not take it): up to 4,
/// within the device's opt-in shared memory per block.
template <class R>
inline int warp_kernel_warps_per_block(const kernels::NepViewT<R>& p, int device, const SiteVariant& v = {}) {
  if (!warp_kernel_fits(p)) return 0;
  const size_t per_warp = sizeof(R) * warp_kernel_shared_reals(p, v);
  int max_shared = 0;
  NEPCG_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return static_cast<int>(std::min<size_t>(4, size_t(max_shared) / per_warp));
}

/// warp_kernel_warps_per_block, with the kernels' dynamic shared-memory limit raised to the
/// device's opt-in maximum (a limit sized for this model would shrink it for another model's
/// GpuNEP in the same process).
template <class R, class Pairs>
int prepare_warp_kernel(const kernels::NepViewT<R>& p, int device, const SiteVariant& v = {}) {
  const int warps = warp_kernel_warps_per_block(p, device, v);
  if (warps > 0) {
    int max_shared = 0;
    NEPCG_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    allow_warp_kernel_shared<R, Pairs>(size_t(max_shared), v);
  }
  return warps;
}

/// Launches the warp kernel for the model's l_max (and variant) over num_atoms atoms (atoms[w], or
/// w when atoms is null) and `individuals` parameter sets (grid y).
template <class R, class Pairs>
void launch_warp_sites(const kernels::NepViewT<R>& p, const Pairs& pairs, const int* atoms, int num_atoms,
                       const int* type, int warps_per_block, int individuals, const SiteOutput& out, cudaStream_t s,
                       const SiteVariant& v = {}) {
  const int per_warp = warp_kernel_shared_reals(p, v);
  const dim3 grid(cuda::blocks_for(num_atoms, warps_per_block), individuals);
  const size_t bytes = sizeof(R) * per_warp * warps_per_block;
  const WarpKernel<R, Pairs> kernel = warp_kernel_for<R, Pairs>(p.l_max, v);
  kernel<<<grid, 32 * warps_per_block, bytes, s>>>(p, pairs, atoms, num_atoms, type, per_warp, out);
  NEPCG_CUDA_LAUNCHED("nep_warp_sites");
}

}  // namespace nepcg::gpu
