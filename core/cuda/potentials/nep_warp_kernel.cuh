// NEP site kernel with one warp per atom (internal to gpu_nep.cu). Neighbours are taken 32 at a
// time, one per lane: each lane evaluates its pair's radial functions and harmonics (the shared
// NEPCG_HD building blocks, kernels::pair_values) into shared memory, then the lanes split the
// descriptor components and sum over the 32 pairs. Descriptor rows and their gradients run one
// radial channel per lane, the network one neuron per lane, the partial forces one neighbour per
// lane (kernels::partial_force_direct_weighted: the CPU's terms, computed in registers, with the
// radial basis weights of the atom staged once in shared memory). The kernel is a
// template on the real type R of its maths: double (the default) or float (GpuNEP's single-precision
// path: staging, descriptor, network and partial forces in float; pair vectors from the double
// positions; energies and partial forces written as double; NepDirect is its CPU twin). Every sum has
// a fixed order, so results are reproducible bit for bit. Small systems get 32 times the threads
// of an atom-per-thread kernel, and per-thread arrays are sized for the models this kernel takes
// (l_max as a template argument) instead of the largest model.
#pragma once

#include <algorithm>
#include <type_traits>

#include "../common/cuda_support.cuh"
#include "../neighbors/device_neighbor_list.cuh"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/kernels/zbl.hpp"

namespace nepcg::gpu {

/// The models the warp kernel takes (l_max 1 ... 4, one hidden layer); others use the
/// atom-per-thread kernel. The kernel is compiled for each l_max (template argument L), so that
/// harmonics and their contractions live in registers.
template <class R>
inline bool warp_kernel_fits(const kernels::NepViewT<R>& p) { return p.l_max >= 1 && p.l_max <= 4 && p.neurons2 == 0; }

/// Complex values per lane of the many-body workspace (A, then G: 2 kNumComplexA), padded by one
/// so that the lanes' workspaces start in different shared-memory banks (float and double).
constexpr int kLaneComplexStride = 2 * kernels::kNumComplexA + 1;

/// Reals per lane of the staging area: g_n (radial, angular) and Y_lm of one pair, rounded up to an
/// odd number so that the 32 lanes' rows start in different shared-memory banks.
template <class R>
NEPCG_HD int warp_kernel_stage_stride(const kernels::NepViewT<R>& p) {
  return (p.n_max_radial + 1 + p.n_max_angular + 1 + p.num_lm) | 1;
}

/// Reals (R) of shared memory per warp: per-lane staging of g_n (radial, angular) and Y_lm, then
/// the atom's descriptor q, angular sums S, gradient dU/dq, dU/dS, the hidden-layer factors and
/// the radial basis weights W_k of every neighbour type (T (basis_radial + 1) values), and with
/// many-body terms the complex workspaces A, G of the lanes that take a radial channel each.
template <class R>
inline int warp_kernel_shared_reals(const kernels::NepViewT<R>& p) {
  const int nA = p.n_max_angular + 1;
  const int weights = p.num_types * (p.basis_radial + 1);
  const int many_body = p.num_many_body > 0 ? 2 * kLaneComplexStride * std::min(nA, 32) : 0;
  return 32 * warp_kernel_stage_stride(p) + 2 * p.dim + 2 * nA * p.num_lm + p.neurons1 + weights + many_body;
}

template <class R>
__device__ inline R warp_sum(R v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;  // the same value, summed in the same order, in every lane
}

/// Neighbours of an MD system: the device Verlet list (atom-major rows of `capacity` entries,
/// image codes) and the current positions.
struct ListPairs {
  // The descriptor pass keeps each pair vector (double) in the entry's partial-force slot; the
  // force pass reads it back (one coalesced load per lane) before overwriting it with the partial
  // force, instead of gathering the neighbour's position again. Same vector, same bits.
  static constexpr bool kReusesPairVectors = true;
  // The first layer reads W0 transposed (view.w0_transposed, [block][d][mu]): the lanes, one
  // neuron each, read consecutive addresses instead of rows D apart. Same products, same order.
  static constexpr bool kTransposedW0 = true;
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
  static constexpr bool kReusesPairVectors = false;  // (the pair vectors are stored already)
  static constexpr bool kTransposedW0 = false;       // (each individual brings its own W0)
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

/// The site computation of warp w (the body of nep_warp_sites).
template <int L, class R, class Pairs>
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
  R* weights = hidden + p.neurons1;  // radial basis weights W_k per neighbour type
  // many-body workspace of this lane (A, G), used by the lanes with a radial channel
  kernels::CplxT<R>* A = reinterpret_cast<kernels::CplxT<R>*>(weights + T * (p.basis_radial + 1)) +
                         lane * kLaneComplexStride;
  kernels::CplxT<R>* G = A + kernels::kNumComplexA;
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
      if constexpr (Pairs::kReusesPairVectors) {  // (this lane reads them back in pass 3)
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
  for (int nn = lane; nn < nA; nn += 32) kernels::angular_descriptor_row(p, S, q, nn, A);
  __syncwarp();
  for (int c = lane; c < D; c += 32) dU[c] = q[c] * p.q_scaler[c];  // scaled input, for now
  __syncwarp();
  const int N1 = p.neurons1;
  const int n_blocks = p.version == 3 ? 1 : T;
  const R* block = p.ann + (p.version == 3 ? 0 : a) * p.ann_block;
  const R* W0 = block;
  const R* b0 = block + N1 * D;
  const R* w1 = b0 + N1;
  // First layer, one neuron per lane: in MD column d of the transposed copy of W0 (consecutive
  // lanes read consecutive addresses), in training W0 row mu of the individual (rows D apart).
  // Same products, same order: the same bits.
  R u = R(0);
  for (int mu = lane; mu < N1; mu += 32) {
    R zz = -b0[mu];
    if constexpr (Pairs::kTransposedW0) {
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
  for (int nn = lane; nn < nA; nn += 32) kernels::angular_gradient_row(p, S, dU, dUdS, nn, A, G);
  {  // W_k = sum_n dU/dq_n c_nk(a, b) of every neighbour type b, once per atom rather than per pair
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
    if constexpr (Pairs::kReusesPairVectors) {
      const double v[3] = {pfx[e], pfy[e], pfz[e]};  // the lane's own entry of pass 1
      d = rounded_vector(v, r);
    } else {
      d = pair_vector<R>(pairs, i, e, r);
    }
    R f[3] = {R(0), R(0), R(0)};
    const R* w = weights + b * (p.basis_radial + 1);
    kernels::partial_force_direct_weighted<L>(p, a, b, r, d, [&](int kk) { return w[kk]; }, dUdS, f);
    if (p.zbl && d < kernels::pair_cutoff(p.cutoff_angular, a, b)) kernels::add_zbl_partial_force(p, a, b, r, d, f);
    pfx[e] = double(f[0]);
    pfy[e] = double(f[1]);
    pfz[e] = double(f[2]);
  }
}

template <int L, class R, class Pairs>
__global__ void nep_warp_sites(kernels::NepViewT<R> p, Pairs pairs, const int* atoms, int num_atoms, const int* type,
                               int shared_per_warp, SiteOutput out) {
  warp_site<L, R, Pairs>(p, pairs, atoms, num_atoms, type, shared_per_warp, out);
}

template <class R, class Pairs>
using WarpKernel = void (*)(kernels::NepViewT<R>, Pairs, const int*, int, const int*, int, SiteOutput);

/// The kernel instance for l_max (1-4).
template <class R, class Pairs>
WarpKernel<R, Pairs> warp_kernel_for(int l_max) {
  return l_max == 1 ? nep_warp_sites<1, R, Pairs> : l_max == 2 ? nep_warp_sites<2, R, Pairs>
         : l_max == 3 ? nep_warp_sites<3, R, Pairs> : nep_warp_sites<4, R, Pairs>;
}

/// Raises the dynamic shared-memory limit of every l_max instance for this real type and pair source.
template <class R, class Pairs>
void allow_warp_kernel_shared(size_t bytes) {
  const int b = static_cast<int>(bytes);
  for (int l = 1; l <= 4; ++l)
    NEPCG_CUDA_CHECK(
        cudaFuncSetAttribute(warp_kernel_for<R, Pairs>(l), cudaFuncAttributeMaxDynamicSharedMemorySize, b));
}

/// Warps per block for a model (0 when the warp kernel does not take it): up to 4,
/// within the device's opt-in shared memory per block.
template <class R>
inline int warp_kernel_warps_per_block(const kernels::NepViewT<R>& p, int device) {
  if (!warp_kernel_fits(p)) return 0;
  const size_t per_warp = sizeof(R) * warp_kernel_shared_reals(p);
  int max_shared = 0;
  NEPCG_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return static_cast<int>(std::min<size_t>(4, size_t(max_shared) / per_warp));
}

/// warp_kernel_warps_per_block, with the kernels' dynamic shared-memory limit raised to the
/// device's opt-in maximum (a limit sized for this model would shrink it for another model's
/// GpuNEP in the same process).
template <class R, class Pairs>
int prepare_warp_kernel(const kernels::NepViewT<R>& p, int device) {
  const int warps = warp_kernel_warps_per_block(p, device);
  if (warps > 0) {
    int max_shared = 0;
    NEPCG_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    allow_warp_kernel_shared<R, Pairs>(size_t(max_shared));
  }
  return warps;
}

/// Launches the warp kernel for the model's l_max over num_atoms atoms (atoms[w], or
/// w when atoms is null) and `individuals` parameter sets (grid y).
template <class R, class Pairs>
void launch_warp_sites(const kernels::NepViewT<R>& p, const Pairs& pairs, const int* atoms, int num_atoms,
                       const int* type, int warps_per_block, int individuals, const SiteOutput& out, cudaStream_t s) {
  const int per_warp = warp_kernel_shared_reals(p);
  const dim3 grid(cuda::blocks_for(num_atoms, warps_per_block), individuals);
  const size_t bytes = sizeof(R) * per_warp * warps_per_block;
  const WarpKernel<R, Pairs> kernel = warp_kernel_for<R, Pairs>(p.l_max);
  kernel<<<grid, 32 * warps_per_block, bytes, s>>>(p, pairs, atoms, num_atoms, type, per_warp, out);
  NEPCG_CUDA_LAUNCHED("nep_warp_sites");
}

}  // namespace nepcg::gpu
