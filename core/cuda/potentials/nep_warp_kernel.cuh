// NEP site kernel with one warp (or half a warp) per atom (internal to gpu_nep.cu). An atom's
// lane group (G = 32 or 16 lanes, a template argument) takes its neighbours G at a time, one per
// lane: each lane evaluates its pair's radial basis values, angular radial functions and
// harmonics (the shared NEPCG_HD building blocks, kernels::pair_radial_values and
// pair_angular_values) into shared memory, then
// the lanes split the sums over the G pairs: the radial basis values per neighbour type (so the
// radial coefficients are applied once per atom, not once per pair) and the angular products. Descriptor rows and their gradients run one
// radial channel per lane, the network one neuron per lane, the partial forces one neighbour per
// lane (kernels::partial_force_direct_weighted: the CPU's terms, computed in registers, with the
// radial basis weights of the atom staged once in shared memory). The kernel is a
// template on the real type R of its maths: double (the default) or float (GpuNEP's single-precision
// path: staging, descriptor, network and partial forces in float; pair vectors from the double
// positions; energies written as double, partial forces as float (the same values in half the
// bytes: partial_force_array); NepDirect is its CPU twin). Every sum has
// a fixed order, so results are reproducible bit for bit. Small systems get 32 times the threads
// of an atom-per-thread kernel, and per-thread arrays are sized for the models this kernel takes
// (l_max as a template argument) instead of the largest model. With G = 16 two atoms share a
// warp: the per-atom work (angular rows on n_max_angular + 1 lanes, the network, the sums over the
// staged pairs) takes half the warp instructions per atom, and an atom's last, partly filled batch
// of neighbours wastes fewer lanes; the price is twice the batches per atom (latency), so it is
// meant for systems with many atoms per SM (see site_lanes_from_env and bench/gpu_notes.md).
// With NEPCG_SITE_SKIN=skip (MD lists), a pass 0 finds the list entries inside the cutoffs and
// passes 1 and 3 take only those (see warp_site).
#pragma once

#include <algorithm>
#include <stdexcept>
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

/// Reals per lane of the staging area: the radial basis values f_k, the angular g_n and Y_lm of one
/// pair, rounded up to an odd number so that the lanes' rows start in different shared-memory banks.
template <class R>
NEPCG_HD int warp_kernel_stage_stride(const kernels::NepViewT<R>& p) {
  return (p.basis_radial + 1 + p.n_max_angular + 1 + p.num_lm) | 1;
}

/// Reals (R) of shared memory per lane group of `lanes` lanes (one atom): per-lane staging of f_k,
/// angular g_n and Y_lm, then the atom's descriptor q, angular sums S, gradient dU/dq, dU/dS, the
/// hidden-layer factors, the radial basis weights W_k and the radial basis sums F_k of every
/// neighbour type (T (basis_radial + 1) values each), the staged pairs' neighbour types (one int
/// per lane, in a real's slot), and with many-body terms the complex workspaces A, G of the lanes
/// that take a radial channel each.
template <class R>
inline int warp_kernel_shared_reals(const kernels::NepViewT<R>& p, int lanes = 32) {
  static_assert(sizeof(R) >= sizeof(int), "a staged neighbour type takes one real's slot");
  const int nA = p.n_max_angular + 1;
  const int per_type = p.num_types * (p.basis_radial + 1);
  const int many_body = p.num_many_body > 0 ? 2 * kLaneComplexStride * std::min(nA, lanes) : 0;
  return lanes * warp_kernel_stage_stride(p) + 2 * p.dim + 2 * nA * p.num_lm + p.neurons1 + 2 * per_type + lanes +
         many_body;
}

/// The lanes of this thread's group of G lanes within its warp (G = 32: the whole warp; G = 16:
/// its half), as a mask for the *_sync intrinsics.
template <int G>
__device__ inline unsigned group_mask() {
  static_assert(G == 32 || G == 16, "a site's lane group is a warp or half a warp");
  return G == 32 ? 0xffffffffu : (0xffffu << (threadIdx.x & 16));
}

/// Sum over the G lanes of a group (xor butterfly within the group).
template <int G, class R>
__device__ inline R group_sum(R v, unsigned mask) {
  for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o);
  return v;  // the same value, summed in the same order, in every lane of the group
}

/// The group's ballot of `predicate`, bit l for lane l of the group (G = 16: the half warp's own
/// 16 bits, shifted down).
template <int G>
__device__ inline unsigned group_ballot(unsigned mask, bool predicate) {
  const unsigned bits = __ballot_sync(mask, predicate) & mask;
  return G == 32 ? bits : bits >> (threadIdx.x & 16);
}

/// Position of the n-th set bit of v (n = 0: the lowest), by halving; n must be below popc(v).
__device__ inline int nth_set_bit(unsigned v, int n) {
  int position = 0;
  for (int width = 16; width > 0; width >>= 1) {
    const int low = __popc(v & ((1u << width) - 1u));
    if (n >= low) {  // in the upper part
      n -= low;
      v >>= width;
      position += width;
    }
  }
  return position;
}

/// Row index of the c-th entry inside the cutoffs (c = 0, 1, ...: the entries in row order) when
/// lane b of the group holds in `batch_bits` the ballot of the row's batch b (entries b G ... b G +
/// G - 1; bit l: entry b G + l inside). Every lane of the group calls it (shuffles) with its own c;
/// the result means something for c below the number inside. A select per batch, so that the
/// lanes do not diverge: `batches` shuffles and population counts, one nth_set_bit.
template <int G>
__device__ inline int compacted_entry(unsigned batch_bits, int batches, int c, unsigned mask) {
  unsigned hit = 0u;
  int rank = 0, hit_batch = 0, before = 0;
  for (int b = 0; b < batches; ++b) {
    const unsigned bits = __shfl_sync(mask, batch_bits, b, G);
    const int inside = __popc(bits);
    if (c >= before && c < before + inside) hit = bits, rank = c - before, hit_batch = b;
    before += inside;
  }
  return hit_batch * G + (hit ? nth_set_bit(hit, rank) : 0);
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
  // The cell in device memory when it changes on the device (a live cell: barostats and
  // deformation in MD segments), or with replica_of the replicas' cells (DeviceNeighborList's
  // replica mode: atom i's cell is live_cell[replica_of[i]]); nullptr: `cell`.
  const cuda::DeviceCell* live_cell = nullptr;
  const int* replica_of = nullptr;
  // The site kernel's passes 1 and 3 take only the entries inside the cutoffs (NEPCG_SITE_SKIN=skip;
  // see warp_site's pass 0): the list holds every pair within cutoff + skin.
  bool skip_skin = false;
  __device__ bool skips_skin() const { return skip_skin; }
  __device__ int count(int i) const { return cnt[i]; }
  __device__ int entry(int i, int k) const { return i * capacity + k; }
  __device__ int neighbor(int e) const { return nbr[e]; }
  __device__ void vector(int i, int e, double* r) const {
    double s[3];
    if (live_cell)
      cuda::image_shift(replica_of ? live_cell[replica_of[i]] : *live_cell, img[e], s);
    else
      cuda::image_shift(cell, img[e], s);
    const int j = nbr[e];
    r[0] = (x[j] - x[i]) + s[0];
    r[1] = (y[j] - y[i]) + s[1];
    r[2] = (z[j] - z[i]) + s[2];
  }
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const ListPairs& p) {
  return NEPCG_EMU_POINTERS(p.x, p.y, p.z, p.nbr, p.img, p.cnt, p.live_cell, p.replica_of);
}
static_assert(::nepcg::emu::lists_device_pointers<ListPairs>::value, "launch check of ListPairs");
#endif

/// Neighbours of fixed training structures: a CSR list with the pair vectors stored (x, y, z, |r|).
struct FixedPairs {
  static constexpr bool kReusesPairVectors = false;  // (the pair vectors are stored already)
  static constexpr bool kTransposedW0 = false;       // (each individual brings its own W0)
  const int *offsets, *nbr;
  const double* pair;
  __device__ static constexpr bool skips_skin() { return false; }  // (no skin: built at the cutoff)
  __device__ int count(int i) const { return offsets[i + 1] - offsets[i]; }
  __device__ int entry(int i, int k) const { return offsets[i] + k; }
  __device__ int neighbor(int e) const { return nbr[e]; }
  __device__ void vector(int, int e, double* r) const {
    r[0] = pair[4 * e];
    r[1] = pair[4 * e + 1];
    r[2] = pair[4 * e + 2];
  }
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const FixedPairs& p) { return NEPCG_EMU_POINTERS(p.offsets, p.nbr, p.pair); }
static_assert(::nepcg::emu::lists_device_pointers<FixedPairs>::value, "launch check of FixedPairs");
#endif

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

/// Entry e's three values (partial force, or in MD the pair vector passes 0 and 1 keep there) in
/// an interleaved partial-force array: x, y, z at pf[3e], pf[3e + 1], pf[3e + 2]. Interleaved
/// because the gathers read each entry's reverse entry f_ji, which lies anywhere in memory: one
/// record of 12 (float) or 24 (double) bytes touches one or two 32-byte sectors where three
/// separate arrays cost three.
template <class S>
__device__ inline S* entry_values(S* pf, int e) {
  return pf + 3 * size_t(e);
}

/// The pair vector (R) pass 0 or 1 left in entry e's partial-force slot, and its length: the
/// same bits as pair_vector gave there (R -> double -> R is exact).
template <class R>
__device__ inline R stored_pair_vector(const R* pf, int e, R* r) {
  const R* slot = entry_values(pf, e);
  const double v[3] = {double(slot[0]), double(slot[1]), double(slot[2])};
  return rounded_vector(v, r);
}

/// Stores x, y, z as entry e's values.
template <class R>
__device__ inline void store_entry(R* pf, int e, R x, R y, R z) {
  R* slot = entry_values(pf, e);
  slot[0] = x, slot[1] = y, slot[2] = z;
}

/// Where a launch writes: site energies at energy[individual * atom_stride + i], partial forces
/// interleaved (entry_values) from pf[3 individual entry_stride] in the kernel's real type (pf32
/// for the float kernel: see partial_force_array). For the trainer, blockIdx.y is the individual
/// and its parameters (nep.txt order) start at population + individual * num_parameters
/// (population32: the same, rounded to float, for the single-precision kernel).
struct SiteOutput {
  double *energy = nullptr, *pf = nullptr;
  float* pf32 = nullptr;
  size_t atom_stride = 0, entry_stride = 0;
  const double* population = nullptr;
  const float* population32 = nullptr;
  size_t num_parameters = 0, ann_size = 0, c_radial_size = 0;
  unsigned long long* pass_cycles = nullptr;  // (a diagnostic: see pass_clock_lap; null but in site_pass_cycles)
  /// The partial-force array: double for the double kernel, float for the float one.
  void partial_forces(double* values) { pf = values; }
  void partial_forces(float* values) { pf32 = values; }
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const SiteOutput& o) {
  return NEPCG_EMU_POINTERS(o.energy, o.pf, o.pf32, o.population, o.population32, o.pass_cycles);
}
static_assert(::nepcg::emu::lists_device_pointers<SiteOutput>::value, "launch check of SiteOutput");
#endif

/// Per-entry partial forces, interleaved (entry_values), in the site kernel's real type: double,
/// or float for the single-precision kernel (partial_force_array); only the precision in use is
/// allocated. Host side: sized before the launches, handed to SiteOutput and to the gathers.
struct PartialForces {
  cuda::DeviceArray<double> values;
  cuda::DeviceArray<float> values32;
  /// Grows that precision's array to at least `entries` entries (never shrinks).
  void reserve(size_t entries, bool single) {
    if (single)
      values32.reserve(3 * entries);
    else
      values.reserve(3 * entries);
  }
  /// Calls f(pf) with that precision's device pointer (double* or float*).
  template <class F>
  void visit(bool single, F&& f) {
    if (single)
      f(values32.data());
    else
      f(values.data());
  }
};

/// The partial-force array of a SiteOutput for the kernel's real type R. The kernel
/// keeps each entry's partial force (and in MD pass 1's pair vector) in R: float in single
/// precision, whose values are floats already (the pair vector is rounded to R before any use),
/// so the same bits move in half the bytes through passes 1 and 3 and the gathers.
template <class R>
__device__ inline R* partial_force_array(double* as_double, float* as_float) {
  if constexpr (std::is_same<R, float>::value)
    return as_float;
  else
    return as_double;
}

/// A diagnostic for benchmarks (GpuNEP::site_pass_cycles), compiled into the kernel instances with
/// Timed = true only (MD lists; launched when SiteOutput::pass_cycles is set), so that the
/// production instances carry none of it (measured: 2-5 registers of the l_max 4 instances, whose
/// float ones sit at the 128 that four blocks of 128 threads per SM allow). The clock cycles of
/// each lane group in the site kernel's passes, summed over the groups into cycles[0 ... 3] (0:
/// skipping the skin, 1: descriptor sums, 2: descriptor, network and gradients, 3: partial
/// forces), read by lane 0 of the group where a pass starts and ends. Their shares say where a
/// kernel's time goes, which Nsight Compute can only say per kernel. A pass's counter gets -start
/// and +end (modulo 2^64), so that no clock value stays in a register across the passes: the
/// timed kernel keeps the production kernel's register shape as far as it can.
template <bool Timed>
__device__ inline void pass_clock_start(unsigned long long* cycles, int pass, int lane) {
  if constexpr (Timed)
    if (lane == 0) atomicAdd(cycles + pass, 0ull - static_cast<unsigned long long>(clock64()));
}
/// The end of `pass`, and the start of the next.
template <bool Timed>
__device__ inline void pass_clock_lap(unsigned long long* cycles, int pass, int lane) {
  if constexpr (Timed) {
    if (lane != 0) return;
    const unsigned long long now = static_cast<unsigned long long>(clock64());
    atomicAdd(cycles + pass, now);
    if (pass < 3) atomicAdd(cycles + pass + 1, 0ull - now);
  }
}

/// The site computation of lane group w (G lanes; the body of nep_warp_sites).
template <int L, int G, class R, class Pairs, bool Timed>
__device__ __forceinline__ void warp_site(kernels::NepViewT<R> p, Pairs pairs, const int* atoms,
                                          int num_atoms, const int* type, int shared_per_group,
                                          SiteOutput out) {
  NEPCG_DYNAMIC_SHARED(double, smem_storage);  // double-aligned; holds R values
  R* smem = reinterpret_cast<R*>(smem_storage);
  const int lane = threadIdx.x % G, group = threadIdx.x / G;
  const unsigned mask = group_mask<G>();
  const int w = blockIdx.x * (blockDim.x / G) + group;
  if (w >= num_atoms) return;  // uniform in the group (the other half of the warp syncs on its own mask)
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
  R* pf = partial_force_array<R>(out.pf, out.pf32) + 3 * blockIdx.y * out.entry_stride;
  const int nR = p.n_max_radial + 1, nA = p.n_max_angular + 1, lm = p.num_lm, D = p.dim;
  const int K1 = p.basis_radial + 1;
  const int stride = warp_kernel_stage_stride(p), size_a = nA * lm, T = p.num_types, nF = T * K1;
  R* stage = smem + group * shared_per_group;
  R* q = stage + G * stride;
  R* S = q + D;
  R* dU = S + size_a;
  R* dUdS = dU + D;
  R* hidden = dUdS + size_a;
  R* weights = hidden + p.neurons1;  // radial basis weights W_k per neighbour type
  R* F = weights + nF;               // radial basis sums F_k^b = sum_{j of type b} f_k(r_ij)
  int* pair_type = reinterpret_cast<int*>(F + nF);  // neighbour type of each lane's staged pair
  // many-body workspace of this lane (A, G), used by the lanes with a radial channel
  kernels::CplxT<R>* A = reinterpret_cast<kernels::CplxT<R>*>(F + nF + G) + lane * kLaneComplexStride;
  kernels::CplxT<R>* Gw = A + kernels::kNumComplexA;
  for (int c = lane; c < D; c += G) q[c] = R(0);
  for (int c = lane; c < size_a; c += G) S[c] = R(0);
  for (int c = lane; c < nF; c += G) F[c] = R(0);
  const int a = type[i];
  const int count = pairs.count(i);
  R e_zbl = R(0);
  __syncwarp(mask);

  // 0. Skipping the skin (pairs.skips_skin(): NEPCG_SITE_SKIN=skip, MD lists only). The list holds
  // every pair within cutoff + skin, so that it lasts several steps; the pairs in the skin shell
  // give exact zeros but take lanes in passes 1 and 3 (a CG liquid: ~100 entries, ~72 inside, 4
  // batches of 32 where 3 would do). Here each lane takes one entry per batch of G, stores its
  // pair vector (rounded to R) in the entry's partial-force slot, or zeros for an entry outside
  // (its final partial force), and lane b keeps the ballot of batch b; passes 1 and 3 then take
  // only the entries inside, G at a time (compacted_entry). The entries keep their row order, so
  // the sums of pass 1 see the same values in other batches: a different rounding, not different
  // maths. Rows of more than G batches take every entry.
  const bool compact = pairs.skips_skin() && count <= G * G;
  pass_clock_start<Timed>(out.pass_cycles, compact ? 0 : 1, lane);
  const int batches = (count + G - 1) / G;
  unsigned batch_bits = 0u;  // lane b: the ballot of batch b
  int rows = count;          // entries passes 1 and 3 take
  if (compact) {
    rows = 0;
    for (int b = 0; b < batches; ++b) {
      const int k = b * G + lane;
      bool inside = false;
      if (k < count) {
        const int e = pairs.entry(i, k), nb = type[pairs.neighbor(e)];
        R r[3];
        const R d = pair_vector<R>(pairs, i, e, r);
        inside = d < kernels::pair_cutoff(p.cutoff_radial, a, nb) || d < kernels::pair_cutoff(p.cutoff_angular, a, nb);
        store_entry(pf, e, inside ? r[0] : R(0), inside ? r[1] : R(0), inside ? r[2] : R(0));
      }
      const unsigned bits = group_ballot<G>(mask, inside);
      if (lane == b) batch_bits = bits;
      rows += __popc(bits);
    }
    pass_clock_lap<Timed>(out.pass_cycles, 0, lane);
  }

  // 1. Descriptor sums, G neighbours at a time: the radial basis values summed per neighbour type
  // (contracted into the radial descriptor once per atom below), the angular products g_n Y_lm.
  // Each lane stages its pair's f_k in its own row; the lanes inside the angular cutoff stage g_n
  // and Y_lm in the rows of their rank among those lanes, so that the angular sums run over
  // that many rows and the radial ones over the lanes holding an entry: the terms left out are
  // exact zeros (a pair outside a cutoff, an empty lane), so the sums keep their bits, and a batch
  // with few angular pairs (CG: ~18 of its first 32 entries; PbTe: 6) costs that many products.
  for (int first = 0; first < rows; first += G) {
    const int k = compact ? compacted_entry<G>(batch_bits, batches, first + lane, mask) : first + lane;
    const int used = min(G, rows - first);  // lanes holding an entry in this batch
    int b = 0;
    R r[3];
    R d = R(0);
    bool angular = false;
    if (lane < used) {
      const int e = pairs.entry(i, k);
      b = type[pairs.neighbor(e)];
      if (compact) {
        d = stored_pair_vector(pf, e, r);  // (pass 0's)
      } else {
        double v[3];
        pairs.vector(i, e, v);
        d = rounded_vector(v, r);
        if constexpr (Pairs::kReusesPairVectors) {  // (this lane reads them back in pass 3)
          store_entry(pf, e, R(v[0]), R(v[1]), R(v[2]));  // (rounded to R, as rounded_vector does)
        }
      }
      angular = kernels::inside_angular_cutoff(p, a, b, d);
    }
    const unsigned angular_lanes = group_ballot<G>(mask, angular);
    const int angular_rows = __popc(angular_lanes);
    if (lane < used) {
      pair_type[lane] = b;
      kernels::pair_radial_values(p, a, b, d, stage + lane * stride);
      if (angular) {
        R* row = stage + __popc(angular_lanes & ((1u << lane) - 1u)) * stride;  // (rank among them)
        kernels::pair_angular_values<L>(p, a, b, r, d, row + K1, row + K1 + nA);
        if (p.zbl) {
          R phi, dphi;
          kernels::zbl_pair(p, a, b, d, phi, dphi);
          e_zbl += R(0.5) * phi;
        }
      }
    }
    // Angular sums only for batches with a pair inside the angular cutoff (the device list puts
    // those pairs first).
    const int components = angular_rows > 0 ? nF + size_a : nF;
    __syncwarp(mask);
    for (int c = lane; c < components; c += G) {
      R s = R(0);
      if (c < nF) {
        const int bc = c / K1, kk = c - bc * K1;
        if (T == 1) {
          for (int l = 0; l < used; ++l) s += stage[l * stride + kk];
        } else {
          for (int l = 0; l < used; ++l) s += pair_type[l] == bc ? stage[l * stride + kk] : R(0);
        }
        F[c] += s;
      } else {
        const int nn = (c - nF) / lm, m = (c - nF) % lm;
        for (int l = 0; l < angular_rows; ++l) s += stage[l * stride + K1 + nn] * stage[l * stride + K1 + nA + m];
        S[c - nF] += s;
      }
    }
    __syncwarp(mask);
  }
  pass_clock_lap<Timed>(out.pass_cycles, 1, lane);

  // 2. Descriptor (radial channels from the basis sums, angular rows one radial channel per lane),
  // then the network (one neuron per lane).
  for (int n = lane; n < nR; n += G)
    q[n] = kernels::radial_descriptor_from_sums(n, p.basis_radial, T, a, p.c_radial, F);
  for (int nn = lane; nn < nA; nn += G) kernels::angular_descriptor_row(p, S, q, nn, A);
  __syncwarp(mask);
  for (int c = lane; c < D; c += G) dU[c] = q[c] * p.q_scaler[c];  // scaled input, for now
  __syncwarp(mask);
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
  for (int mu = lane; mu < N1; mu += G) {
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
  __syncwarp(mask);
  for (int c = lane; c < D; c += G) {
    R s = R(0);
    for (int mu = 0; mu < N1; ++mu) s += hidden[mu] * W0[mu * D + c];
    dU[c] = s * p.q_scaler[c];  // gradient with respect to the unscaled descriptor
  }
  u = group_sum<G>(u, mask) - p.ann[n_blocks * p.ann_block];
  if (p.version == 5) u -= w1[N1];
  e_zbl = group_sum<G>(e_zbl, mask);
  __syncwarp(mask);
  if (lane == 0) energy[i] = double(u + e_zbl);
  for (int nn = lane; nn < nA; nn += G) kernels::angular_gradient_row(p, S, dU, dUdS, nn, A, Gw);
  {  // W_k = sum_n dU/dq_n c_nk(a, b) of every neighbour type b, once per atom rather than per pair
    for (int c = lane; c < nF; c += G)
      weights[c] = kernels::contracted_radial_weight(p.n_max_radial, p.basis_radial, T, a, c / K1, p.c_radial, dU,
                                                     c % K1);
  }
  __syncwarp(mask);
  pass_clock_lap<Timed>(out.pass_cycles, 2, lane);

  // 3. Partial forces f_ij = dU_i/dr_ij, one neighbour per lane (with the skin skipped, the
  // entries inside; those outside keep pass 0's zeros).
  for (int first = 0; first < rows; first += G) {
    const int k = compact ? compacted_entry<G>(batch_bits, batches, first + lane, mask) : first + lane;
    if (first + lane >= rows) continue;  // (the loop's trip count stays uniform: shuffles above)
    const int e = pairs.entry(i, k), b = type[pairs.neighbor(e)];
    R r[3];
    R d;
    if constexpr (Pairs::kReusesPairVectors) {
      d = stored_pair_vector(pf, e, r);  // the entry's of pass 0 or 1
    } else {
      d = pair_vector<R>(pairs, i, e, r);
    }
    R f[3] = {R(0), R(0), R(0)};
    const R* w = weights + b * (p.basis_radial + 1);
    kernels::partial_force_direct_weighted<L>(p, a, b, r, d, [&](int kk) { return w[kk]; }, dUdS, f);
    if (p.zbl && d < kernels::pair_cutoff(p.cutoff_angular, a, b)) kernels::add_zbl_partial_force(p, a, b, r, d, f);
    store_entry(pf, e, f[0], f[1], f[2]);
  }
  pass_clock_lap<Timed>(out.pass_cycles, 3, lane);
}

template <int L, int G, class R, class Pairs, bool Timed>
__global__ void nep_warp_sites(kernels::NepViewT<R> p, Pairs pairs, const int* atoms, int num_atoms, const int* type,
                               int shared_per_group, SiteOutput out) {
  warp_site<L, G, R, Pairs, Timed>(p, pairs, atoms, num_atoms, type, shared_per_group, out);
}

template <class R, class Pairs>
using WarpKernel = void (*)(kernels::NepViewT<R>, Pairs, const int*, int, const int*, int, SiteOutput);

template <int G, class R, class Pairs, bool Timed>
WarpKernel<R, Pairs> warp_kernel_for_lanes(int l_max) {
  return l_max == 1 ? nep_warp_sites<1, G, R, Pairs, Timed> : l_max == 2 ? nep_warp_sites<2, G, R, Pairs, Timed>
         : l_max == 3 ? nep_warp_sites<3, G, R, Pairs, Timed> : nep_warp_sites<4, G, R, Pairs, Timed>;
}

template <class R, class Pairs, bool Timed>
WarpKernel<R, Pairs> warp_kernel_instance(int l_max, int lanes) {
  return lanes == 16 ? warp_kernel_for_lanes<16, R, Pairs, Timed>(l_max) : warp_kernel_for_lanes<32, R, Pairs, Timed>(l_max);
}

/// Whether a pair source has pass-clock instances (pass_clock_lap): the MD lists only, which
/// GpuNEP::site_pass_cycles times; the trainer's kernels are compiled once.
template <class Pairs>
constexpr bool has_timed_warp_kernel() {
  return std::is_same<Pairs, ListPairs>::value;
}

/// The kernel instance for l_max (1-4), lanes per atom (32 or 16) and, with `timed`, the pass
/// clock (MD lists only: see has_timed_warp_kernel).
template <class R, class Pairs>
WarpKernel<R, Pairs> warp_kernel_for(int l_max, int lanes, bool timed = false) {
  if constexpr (has_timed_warp_kernel<Pairs>()) {
    if (timed) return warp_kernel_instance<R, Pairs, true>(l_max, lanes);
  } else if (timed) {
    throw std::logic_error("nep_warp_sites: no pass-clock instance for this pair source");
  }
  return warp_kernel_instance<R, Pairs, false>(l_max, lanes);
}

/// Raises the dynamic shared-memory limit of every instance for this real type and pair source.
template <class R, class Pairs>
void allow_warp_kernel_shared(size_t bytes) {
  const int b = static_cast<int>(bytes);
  for (bool timed : {false, true}) {
    if (timed && !has_timed_warp_kernel<Pairs>()) continue;
    for (int lanes : {32, 16})
      for (int l = 1; l <= 4; ++l)
        NEPCG_CUDA_CHECK(cudaFuncSetAttribute(warp_kernel_for<R, Pairs>(l, lanes, timed),
                                              cudaFuncAttributeMaxDynamicSharedMemorySize, b));
  }
}

/// How the site kernel runs for a model: `lanes` per atom (32: a warp, 16: half a warp) and
/// `groups` atoms per block of 128 threads or fewer (0: the warp kernel does not take the model).
struct SiteLaunch {
  int lanes = 32;
  int groups = 0;
  explicit operator bool() const { return groups > 0; }
};

/// Lanes per atom of the site kernel: NEPCG_SITE_LANES (32, the default, or 16: two atoms per
/// warp; see the kernel's header comment). Anything else is an error naming the variable.
int site_lanes_from_env();

/// Order in which the MD site kernel takes the atoms: NEPCG_SITE_ORDER=index (the default: atom
/// i's lane group is the i-th) or bins (the list's bin order, so that the atoms of a block are
/// neighbours in space and share neighbours in the L1 cache, whatever the order of the input;
/// meant for large diffused systems). Each atom's results are the same bits either way. Anything
/// else is an error naming the variable. Returns true for bins.
bool site_bin_order_from_env();

/// Whether the MD site kernel skips the list's skin shell: NEPCG_SITE_SKIN=keep (the default:
/// passes 1 and 3 take every list entry) or skip (a pass 0 finds the entries inside the cutoffs and
/// the other passes take only those; see warp_site). Results agree to round-off (the descriptor sums
/// group their terms differently). Anything else is an error naming the variable.
bool site_skip_skin_from_env();

/// The launch shape for a model with `lanes` per atom: up to 128 threads per block, within the
/// device's opt-in shared memory per block (groups = 0 when the warp kernel does not take it).
template <class R>
inline SiteLaunch site_launch(const kernels::NepViewT<R>& p, int device, int lanes) {
  SiteLaunch launch{lanes, 0};
  if (!warp_kernel_fits(p)) return launch;
  const size_t per_group = sizeof(R) * warp_kernel_shared_reals(p, lanes);
  int max_shared = 0;
  NEPCG_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  launch.groups = static_cast<int>(std::min<size_t>(128 / lanes, size_t(max_shared) / per_group));
  return launch;
}

/// site_launch with the lanes of NEPCG_SITE_LANES, and the kernels' dynamic shared-memory limit
/// raised to the device's opt-in maximum (a limit sized for this model would shrink it for another
/// model's GpuNEP in the same process).
template <class R, class Pairs>
SiteLaunch prepare_warp_kernel(const kernels::NepViewT<R>& p, int device) {
  const SiteLaunch launch = site_launch(p, device, site_lanes_from_env());
  if (launch) {
    int max_shared = 0;
    NEPCG_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    allow_warp_kernel_shared<R, Pairs>(size_t(max_shared));
  }
  return launch;
}

/// Launches the site kernel for the model's l_max over num_atoms atoms (atoms[w], or w when
/// atoms is null) and `individuals` parameter sets (grid y); the pass-clock instance when
/// out.pass_cycles is set.
template <class R, class Pairs>
void launch_warp_sites(const kernels::NepViewT<R>& p, const Pairs& pairs, const int* atoms, int num_atoms,
                       const int* type, const SiteLaunch& launch, int individuals, const SiteOutput& out,
                       cudaStream_t s) {
  const int per_group = warp_kernel_shared_reals(p, launch.lanes);
  const dim3 grid(cuda::blocks_for(num_atoms, launch.groups), individuals);
  const size_t bytes = sizeof(R) * per_group * launch.groups;
  const WarpKernel<R, Pairs> kernel = warp_kernel_for<R, Pairs>(p.l_max, launch.lanes, out.pass_cycles != nullptr);
  NEPCG_LAUNCH(kernel, grid, launch.lanes * launch.groups, bytes, s)(p, pairs, atoms, num_atoms, type, per_group, out);
  NEPCG_CUDA_LAUNCHED("nep_warp_sites");
}

}  // namespace nepcg::gpu
