// GPU Verlet list (see device_neighbor_list.cuh). Build sequence, each kernel a no-op unless the
// rebuild flag is set: clear bins -> bin atoms (fractional coordinates, wrap shift) -> exclusive
// scan of bin counts (one block) -> fill bins -> sort each bin by atom index -> search of the
// neighbouring bins (a group of 8-32 lanes per atom, cuda::lanes_per_site) -> reverse entries -> clear the flag.
// In replica mode each replica also has its own flag, and the kernels skip the atoms and bins of
// replicas that keep their lists (their bins, counts and entries stay as their last build left
// them; the scan then gives their bins the same starts, since a replica's atoms never change).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "device_neighbor_list.cuh"

namespace nepcg::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kScanThreads = 1024;

__device__ __host__ inline int pack_image(int n0, int n1, int n2) {
  return ((n0 + 128) & 255) | (((n1 + 128) & 255) << 8) | (((n2 + 128) & 255) << 16);
}
__device__ inline int negate_image(int code) {
  return pack_image(128 - (code & 255), 128 - ((code >> 8) & 255), 128 - ((code >> 16) & 255));
}
__device__ inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Bin `bin` along an axis of `bins` bins: along a periodic axis, the bin inside the cell (q) and
// the image it lies in (n); along an open axis, false when it is outside.
__device__ inline bool neighbour_bin(int bin, int bins, int periodic, int& q, int& n) {
  if (periodic) {
    n = floor_div(bin, bins);
    q = bin - n * bins;
    return true;
  }
  n = 0;
  q = bin;
  return bin >= 0 && bin < bins;
}

// The cell a kernel reads for atom i: passed by value (a fixed cell), in device memory (a live
// cell), or the cell of i's replica (replica mode); and the first bin of i's binning (non-zero
// for replicas after the first).
struct ReplicaCells {
  const DeviceCell* cells;
  const int *replica, *bin_base;
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const ReplicaCells& r) { return NEPCG_EMU_POINTERS(r.cells, r.replica, r.bin_base); }
static_assert(::nepcg::emu::lists_device_pointers<ReplicaCells>::value, "launch check of ReplicaCells");
#endif
__device__ inline const DeviceCell& cell_of(const DeviceCell& c, int) { return c; }
__device__ inline DeviceCell cell_of(const DeviceCell* c, int) { return *c; }  // (a local copy: loop-invariant)
__device__ inline DeviceCell cell_of(const ReplicaCells& r, int i) { return r.cells[r.replica[i]]; }
__device__ inline int bin_base_of(const DeviceCell&, int) { return 0; }
__device__ inline int bin_base_of(const DeviceCell*, int) { return 0; }
__device__ inline int bin_base_of(const ReplicaCells& r, int i) { return r.bin_base[r.replica[i]]; }

// Whether item k's replica keeps its list through this build (never outside replica mode).
__device__ inline bool keeps_list(const ReplicaFlags& r, int k) { return r.flag && !r.flag[r.of[k]]; }

// Live cell: the frame map and allowance come from device memory (live_cell_changed).
__global__ void check_displacement_live(int n, const double* x, const double* y, const double* z, const double* ref,
                                        const LiveCell* lc, int* flags) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n || flags[0]) return;
  const double limit2 = lc->limit2;
  const double* m = lc->to_build;
  const double p[3] = {x[i], y[i], z[i]};
  double d2 = 0.0;
  for (int c = 0; c < 3; ++c) {
    const double b = p[0] * m[c] + p[1] * m[3 + c] + p[2] * m[6 + c] - ref[3 * i + c];
    d2 += b * b;
  }
  if (!(d2 <= limit2)) flags[0] = 1;  // also catches NaN positions and a negative allowance
}

// (Replica mode: an atom beyond the allowance flags its own replica, and the build's global flag.)
__global__ void check_displacement(int n, const double* x, const double* y, const double* z, const double* ref,
                                   DeviceCell m, double limit2, int* flags, ReplicaFlags rf) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (rf.flag ? rf.flag[rf.of[i]] != 0 : flags[0] != 0) return;  // (already rebuilding)
  // m.h holds the map from the current cell to the cell of the last build (row-vector convention).
  const double p[3] = {x[i], y[i], z[i]};
  double d2 = 0.0;
  for (int c = 0; c < 3; ++c) {
    const double b = p[0] * m.h[c] + p[1] * m.h[3 + c] + p[2] * m.h[6 + c] - ref[3 * i + c];
    d2 += b * b;
  }
  if (d2 <= limit2) return;  // (the test below also catches NaN positions)
  if (rf.flag) rf.flag[rf.of[i]] = 1;
  flags[0] = 1;
}

__global__ void clear_bins(int nbins, int* count, int* fill, int* flags, ReplicaFlags bin_replica) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (!flags[0] || b >= nbins) return;
  if (b == 0) flags[3] = 0;  // missing-reverse flag of this build (the overflow count stays sticky)
  if (keeps_list(bin_replica, b)) return;
  count[b] = 0;
  fill[b] = 0;
}

template <class Cell>
__global__ void bin_atoms(int n, const double* x, const double* y, const double* z, Cell cell, double* wrapped,
                          int* wrap_code, int* bin_of, int* bin_count, double* ref, int* flags, ReplicaFlags rf) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (!flags[0] || i >= n || keeps_list(rf, i)) return;
  const DeviceCell& c = cell_of(cell, i);
  const double p[3] = {x[i], y[i], z[i]};
  int w[3], b[3];
  for (int d = 0; d < 3; ++d) {
    const double s = p[0] * c.inv[d] + p[1] * c.inv[3 + d] + p[2] * c.inv[6 + d];
    if (c.pbc[d]) {
      const double f = floor(s);
      w[d] = static_cast<int>(f);
      b[d] = static_cast<int>((s - f) * c.bins[d]);
    } else {
      w[d] = 0;
      const double f = floor(s * c.bins[d]);
      b[d] = f < 0 ? 0 : (f >= c.bins[d] ? c.bins[d] - 1 : static_cast<int>(f));
    }
    b[d] = b[d] < 0 ? 0 : (b[d] >= c.bins[d] ? c.bins[d] - 1 : b[d]);
  }
  for (int d = 0; d < 3; ++d) {
    wrapped[3 * i + d] = p[d] - (w[0] * c.h[d] + w[1] * c.h[3 + d] + w[2] * c.h[6 + d]);
    ref[3 * i + d] = p[d];
  }
  if (w[0] < -100 || w[0] > 100 || w[1] < -100 || w[1] > 100 || w[2] < -100 || w[2] > 100) flags[2] = 1;
  wrap_code[i] = pack_image(w[0], w[1], w[2]);
  const int bin = bin_base_of(cell, i) + (b[2] * c.bins[1] + b[1]) * c.bins[0] + b[0];
  bin_of[i] = bin;
  atomicAdd(&bin_count[bin], 1);
}

// Exclusive scan of nbins counts by one block: each thread scans a contiguous chunk, then the
// chunk totals are scanned in shared memory.
__global__ void __launch_bounds__(kScanThreads) scan_bins(int nbins, const int* count, int* start, const int* flags) {
  if (!flags[0]) return;
  NEPCG_STATIC_SHARED(int, totals, kScanThreads);
  const int t = threadIdx.x;
  const int chunk = (nbins + kScanThreads - 1) / kScanThreads;
  const int begin = min(t * chunk, nbins), end = min(begin + chunk, nbins);
  int sum = 0;
  for (int b = begin; b < end; ++b) sum += count[b];
  totals[t] = sum;
  __syncthreads();
  for (int offset = 1; offset < kScanThreads; offset *= 2) {
    const int v = t >= offset ? totals[t - offset] : 0;
    __syncthreads();
    totals[t] += v;
    __syncthreads();
  }
  int running = totals[t] - sum;  // exclusive prefix of this chunk
  for (int b = begin; b < end; ++b) {
    start[b] = running;
    running += count[b];
  }
  if (t == kScanThreads - 1) start[nbins] = totals[t];
}

__global__ void fill_bins(int n, const int* bin_of, const int* start, int* fill, int* atoms, const int* flags,
                          ReplicaFlags rf) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (!flags[0] || i >= n || keeps_list(rf, i)) return;
  const int b = bin_of[i];
  atoms[start[b] + atomicAdd(&fill[b], 1)] = i;
}

// Atomic filling leaves each bin in arbitrary order; sorting makes the neighbour order (and so
// every sum over neighbours) reproducible.
__global__ void sort_bins(int nbins, const int* start, int* atoms, const int* flags, ReplicaFlags bin_replica) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (!flags[0] || b >= nbins || keeps_list(bin_replica, b)) return;
  for (int k = start[b] + 1; k < start[b + 1]; ++k) {
    const int v = atoms[k];
    int m = k - 1;
    while (m >= start[b] && atoms[m] > v) {
      atoms[m + 1] = atoms[m];
      --m;
    }
    atoms[m + 1] = v;
  }
}

// One group of `group` lanes per atom (cuda::lanes_per_site): the group walks the candidates of
// each bin `group` at a time and a ballot gives each hit its slot, so entries come in the same
// order as from a sequential scan of the bins (deterministic, independent of `group`). With an
// inner zone (rinner2 < rlist2) the bins are scanned twice: pairs closer than rinner first, then
// the others.
template <class Cell>
__global__ void build_list(int n, int group, Cell cell, double rinner2, double rlist2, int capacity,
                           const double* wrapped,
                           const int* wrap_code, const int* bin_of, const int* start, const int* atoms,
                           int* neighbor, int* image, int* count, int* flags, ReplicaFlags rf) {
  if (!flags[0]) return;
  const long t = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int i = static_cast<int>(t / group), lane = static_cast<int>(t % group);
  if (i >= n || keeps_list(rf, i)) return;  // (whole groups: a group never spans two atoms)
  const DeviceCell& c = cell_of(cell, i);
  const int base_bin = bin_base_of(cell, i);  // (i's bins, and so its candidates, are its replica's)
  const int first_lane = static_cast<int>(threadIdx.x % 32) - lane;
  const unsigned mask = (group == 32 ? 0xffffffffu : ((1u << group) - 1u)) << first_lane;
  const double xi = wrapped[3 * i], yi = wrapped[3 * i + 1], zi = wrapped[3 * i + 2];
  const int wi = wrap_code[i];
  const int wi0 = (wi & 255) - 128, wi1 = ((wi >> 8) & 255) - 128, wi2 = ((wi >> 16) & 255) - 128;
  const int bin = bin_of[i] - base_bin;
  const int b0 = bin % c.bins[0], b1 = (bin / c.bins[0]) % c.bins[1], b2 = bin / (c.bins[0] * c.bins[1]);
  int found = 0;  // the same in every lane of the group
  bool range_error = false;
  // Appends the pairs with lower2 <= d^2 < upper2, bins in a fixed order.
  auto scan = [&](double lower2, double upper2) {
    for (int o2 = -c.reach[2]; o2 <= c.reach[2]; ++o2) {
      int q2, n2;
      if (!neighbour_bin(b2 + o2, c.bins[2], c.pbc[2], q2, n2)) continue;
      for (int o1 = -c.reach[1]; o1 <= c.reach[1]; ++o1) {
        int q1, n1;
        if (!neighbour_bin(b1 + o1, c.bins[1], c.pbc[1], q1, n1)) continue;
        for (int o0 = -c.reach[0]; o0 <= c.reach[0]; ++o0) {
          int q0, n0;
          if (!neighbour_bin(b0 + o0, c.bins[0], c.pbc[0], q0, n0)) continue;
          const double sx = n0 * c.h[0] + n1 * c.h[3] + n2 * c.h[6];
          const double sy = n0 * c.h[1] + n1 * c.h[4] + n2 * c.h[7];
          const double sz = n0 * c.h[2] + n1 * c.h[5] + n2 * c.h[8];
          const bool home = n0 == 0 && n1 == 0 && n2 == 0;
          const int q = base_bin + (q2 * c.bins[1] + q1) * c.bins[0] + q0;
          const int end = start[q + 1];
          for (int base = start[q]; base < end; base += group) {
            const int tt = base + lane;
            const int j = tt < end ? atoms[tt] : -1;
            bool hit = false;
            if (j >= 0 && !(j == i && home)) {
              const double dx = wrapped[3 * j] - xi + sx;
              const double dy = wrapped[3 * j + 1] - yi + sy;
              const double dz = wrapped[3 * j + 2] - zi + sz;
              const double d2 = dx * dx + dy * dy + dz * dz;
              hit = d2 < upper2 && d2 >= lower2;
            }
            const unsigned hits = (__ballot_sync(mask, hit) & mask) >> first_lane;
            if (hit) {
              const int slot = found + __popc(hits & ((1u << lane) - 1u));
              if (slot < capacity) {
                const int wj = wrap_code[j];
                const int m0 = n0 - ((wj & 255) - 128) + wi0;
                const int m1 = n1 - (((wj >> 8) & 255) - 128) + wi1;
                const int m2 = n2 - (((wj >> 16) & 255) - 128) + wi2;
                if (m0 < -127 || m0 > 127 || m1 < -127 || m1 > 127 || m2 < -127 || m2 > 127) range_error = true;
                neighbor[i * capacity + slot] = j;
                image[i * capacity + slot] = pack_image(m0, m1, m2);
              }
            }
            found += __popc(hits);
          }
        }
      }
    }
  };
  if (rinner2 < rlist2) {
    scan(-1.0, rinner2);
    scan(rinner2, rlist2);
  } else {
    scan(-1.0, rlist2);
  }
  if (range_error) flags[2] = 1;
  if (lane != 0) return;
  count[i] = found < capacity ? found : capacity;
  atomicMax(&flags[1], found);
}

// Atom i's group takes its entries one at a time; for entry e (i -> j, image) the lanes scan j's row
// `group` entries at a time (coalesced loads) and a ballot picks the first match, as a sequential
// scan would.
__global__ void find_reverse(int n, int group, int capacity, const int* neighbor, const int* image, const int* count,
                             int* reverse, int* flags, ReplicaFlags rf) {
  if (!flags[0]) return;
  const long t = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int i = static_cast<int>(t / group), lane = static_cast<int>(t % group);
  if (i >= n || keeps_list(rf, i)) return;  // (whole groups; j is in i's replica, rebuilt with it)
  const int first_lane = static_cast<int>(threadIdx.x % 32) - lane;
  const unsigned mask = (group == 32 ? 0xffffffffu : ((1u << group) - 1u)) << first_lane;
  const int ci = count[i];
  for (int k = 0; k < ci; ++k) {
    const int e = i * capacity + k;
    const int j = neighbor[e];
    const int want = negate_image(image[e]);
    const int cj = count[j];
    const int* row = neighbor + size_t(j) * capacity;
    const int* row_image = image + size_t(j) * capacity;
    int r = -1;  // the same in every lane of the group
    for (int base = 0; base < cj && r < 0; base += group) {
      const int m = base + lane;
      const bool match = m < cj && row[m] == i && row_image[m] == want;
      const unsigned hits = (__ballot_sync(mask, match) & mask) >> first_lane;
      if (hits) r = j * capacity + base + __ffs(hits) - 1;
    }
    if (lane != 0) continue;
    if (r < 0) flags[3] = 1;  // possible only for a truncated (overflowed) list
    reverse[e] = r < 0 ? e : r;
  }
}

// A forced build: the global flag and (replica mode) every replica's.
__global__ void raise_rebuild_flag(int* flags, int replicas, int* replica_flag) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r == 0) flags[0] = 1;
  if (r < replicas) replica_flag[r] = 1;
}

// The replicas' flags cleared after a build (each set only with the global flag).
__global__ void clear_replica_flags(int replicas, int* replica_flag) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < replicas) replica_flag[r] = 0;
}

// With a live cell, a build makes the current cell the frame of later displacement checks.
__global__ void finish_build(int* flags, LiveCell* lc) {
  if (flags[0]) {
    if (lc) {
      for (int k = 0; k < 9; ++k) {
        lc->build_h[k] = lc->cell.h[k];
        lc->to_build[k] = (k % 4 == 0) ? 1.0 : 0.0;
      }
      lc->limit2 = 0.25 * lc->skin * lc->skin;
    }
    flags[4] += 1;
    flags[0] = 0;
  }
}

}  // namespace

DeviceNeighborList::DeviceNeighborList(double cutoff, double skin, double inner_cutoff, cudaStream_t s)
    : cutoff_(cutoff), skin_(skin), inner_cutoff_(inner_cutoff), multiprocessors_(multiprocessors()) {
  if (!(cutoff > 0) || !(skin >= 0))
    throw InputError("DeviceNeighborList: cutoff must be > 0 and skin >= 0 Å; got cutoff " + std::to_string(cutoff) +
                     ", skin " + std::to_string(skin));
  flags_.resize(5);
  // (on the owner's stream: a memset on the legacy stream would not be ordered with its kernels)
  NEPCG_CUDA_CHECK(cudaMemsetAsync(flags_.data(), 0, 5 * sizeof(int), s));
}

DeviceCell DeviceNeighborList::binned_cell(const Box& box, int num_atoms) const {
  DeviceCell c{};
  const Mat3& h = box.effective_cell();
  const Mat3& inv = box.effective_inverse();
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) {
      c.h[3 * r + k] = h[r][k];
      c.inv[3 * r + k] = inv[r][k];
    }
  const double rlist = cutoff_ + skin_;
  const Vec3 thick = box.thickness();
  for (int d = 0; d < 3; ++d) {
    c.pbc[d] = box.periodic(d) ? 1 : 0;
    c.bins[d] = std::max(1, static_cast<int>(std::floor(thick[d] / rlist)));
    c.bins[d] = std::min(c.bins[d], 1024);
  }
  // At most ~2 bins per atom: sparse systems would otherwise scan mostly empty bins.
  const long long limit = 2LL * std::max(num_atoms, 32);
  while (1LL * c.bins[0] * c.bins[1] * c.bins[2] > limit) {
    const int d = static_cast<int>(std::max_element(c.bins, c.bins + 3) - c.bins);
    c.bins[d] = std::max(1, c.bins[d] / 2);
  }
  for (int d = 0; d < 3; ++d) {
    const double bin_thickness = thick[d] / c.bins[d];
    c.reach[d] = std::max(1, static_cast<int>(std::ceil(rlist / bin_thickness - 1e-12)));
    if (c.pbc[d] && c.reach[d] > 100)
      throw InputError("DeviceNeighborList: the cell is " + std::to_string(thick[d]) +
                       " Å thick along axis " + std::to_string(d) + ", over 100 times thinner than the list range " +
                       std::to_string(rlist) + " Å");
  }
  return c;
}

void DeviceNeighborList::size_atoms(int num_atoms, double expected) {
  capacity_ = std::max(capacity_, static_cast<int>(1.3 * expected) + 16);
  if (n_ != num_atoms) capacity_ = std::min(capacity_, std::max(16, 27 * num_atoms));  // (grow() may pass it)
  n_ = num_atoms;
  ref_.resize(3 * size_t(n_));
  wrapped_.resize(3 * size_t(n_));
  wrap_code_.resize(n_);
  bin_of_.resize(n_);
  count_.resize(n_);
  resize_entries();  // (no-op when neither the atoms nor the capacity changed)
}

bool DeviceNeighborList::set_cell(const Box& box, int num_atoms) {
  const DeviceCell c = binned_cell(box, num_atoms);
  const bool rebin = n_ != num_atoms || c.bins[0] != cell_.bins[0] || c.bins[1] != cell_.bins[1] ||
                     c.bins[2] != cell_.bins[2] || c.pbc[0] != cell_.pbc[0] || c.pbc[1] != cell_.pbc[1] ||
                     c.pbc[2] != cell_.pbc[2] || !have_build_ || replicas_ > 0;
  if (replicas_ > 0) {  // (back from replica mode: the list holds the replicas' pairs)
    replicas_ = 0;
    have_build_ = false;
  }
  cell_ = c;
  if (n_ != num_atoms) {
    const double rlist = cutoff_ + skin_;
    const double volume = box.volume();
    const double density = volume > 0 ? num_atoms / volume : 0.0;
    size_atoms(num_atoms, density * 4.18879020478639 * rlist * rlist * rlist);  // (4/3) pi r^3
  }
  const size_t nbins = size_t(c.bins[0]) * c.bins[1] * c.bins[2];
  bin_count_.resize(nbins);
  bin_fill_.resize(nbins);
  bin_start_.resize(nbins + 1);
  bin_atoms_.resize(std::max(n_, 1));

  // Displacement limit in the frame of the last build: M maps current positions to that frame.
  if (have_build_) max_displacement_ = build_frame_allowance(c.inv, build_h_, cutoff_, skin_, to_build_frame_);
  return rebin;
}

void DeviceNeighborList::set_replica_cells(const std::vector<Box>& boxes, const std::vector<int>& starts,
                                           cudaStream_t s) {
  if (live_) throw RuntimeError("DeviceNeighborList: replicas cannot start inside a live-cell stretch");
  const int replicas = static_cast<int>(boxes.size());
  if (replicas < 1 || starts.size() != boxes.size() + 1 || starts[0] != 0)
    throw InputError("DeviceNeighborList: set_replica_cells needs R >= 1 cells and R + 1 atom offsets from 0");
  std::vector<DeviceCell> cells(replicas);
  std::vector<int> bin_base(replicas), replica_of, bin_replica;
  const double rlist = cutoff_ + skin_;
  long long bins = 0;
  double expected = 0.0;  // the most neighbours per atom expected in any replica
  for (int r = 0; r < replicas; ++r) {
    const int count = starts[r + 1] - starts[r];
    if (count < 0) throw InputError("DeviceNeighborList: replica atom offsets must not decrease");
    cells[r] = binned_cell(boxes[r], count);
    bin_base[r] = static_cast<int>(bins);
    bins += 1LL * cells[r].bins[0] * cells[r].bins[1] * cells[r].bins[2];
    if (bins > std::numeric_limits<int>::max() / 2)
      throw RuntimeError("DeviceNeighborList: the replicas' bins exceed the device list's int indexing");
    const double volume = boxes[r].volume();
    if (volume > 0) expected = std::max(expected, count / volume * 4.18879020478639 * rlist * rlist * rlist);
    replica_of.insert(replica_of.end(), count, r);
    bin_replica.resize(bins, r);
  }
  const int n = starts[replicas];
  size_atoms(n, expected);
  bin_count_.resize(bins);
  bin_fill_.resize(bins);
  bin_start_.resize(bins + 1);
  bin_atoms_.resize(std::max(n_, 1));
  replica_cells_.upload(cells, s);
  replica_bin_base_.upload(bin_base, s);
  replica_of_.upload(replica_of, s);
  bin_replica_.upload(bin_replica, s);
  replica_flag_.resize(replicas);  // (set by the first update's forced build)
  NEPCG_CUDA_CHECK(cudaStreamSynchronize(s));  // (the host vectors above go out of scope)
  cell_ = cells[0];  // (host bookkeeping only: kernels read the replicas' cells)
  replicas_ = replicas;
  have_build_ = false;  // the next update() builds
}

void DeviceNeighborList::update(const double* x, const double* y, const double* z, int n, bool force,
                                cudaStream_t s) {
  if (n != n_) throw InputError("DeviceNeighborList: set_cell was given " + std::to_string(n_) + " atoms, update " +
                                std::to_string(n));
  if (n == 0) return;
  if (!have_build_ || max_displacement_ <= 0) force = true;
  launch_check(x, y, z, n, force, s);
  launch_build(x, y, z, n, s);
  note_forced_build(force);
}

void DeviceNeighborList::launch_check(const double* x, const double* y, const double* z, int n, bool force,
                                      cudaStream_t s) {
  if (force) {
    // (a kernel, not a copy from the host: graph-safe)
    NEPCG_LAUNCH(raise_rebuild_flag, blocks_for(std::max(replicas_, 1), kThreads), kThreads, 0, s)(
        flags_.data(), replicas_, replica_flag_.data());
    NEPCG_CUDA_LAUNCHED("raise_rebuild_flag");
  } else if (live_) {
    NEPCG_LAUNCH(check_displacement_live, blocks_for(n, kThreads), kThreads, 0, s)(n, x, y, z, ref_.data(),
                                                                                   live_cell_.data(), flags_.data());
    NEPCG_CUDA_LAUNCHED("check_displacement_live");
  } else {
    DeviceCell m{};
    std::copy(to_build_frame_, to_build_frame_ + 9, m.h);
    NEPCG_LAUNCH(check_displacement, blocks_for(n, kThreads), kThreads, 0, s)(
        n, x, y, z, ref_.data(), m, max_displacement_ * max_displacement_, flags_.data(), atom_flags());
    NEPCG_CUDA_LAUNCHED("check_displacement");
  }
}

// The build sequence; each kernel returns at once unless the rebuild flag is set.
void DeviceNeighborList::launch_build(const double* x, const double* y, const double* z, int n, cudaStream_t s) {
  const int nbins = static_cast<int>(bin_count_.size());
  int* f = flags_.data();
  const ReplicaFlags atom_rf = atom_flags(), bin_rf = bin_flags();
  NEPCG_LAUNCH(clear_bins, blocks_for(nbins, kThreads), kThreads, 0, s)(nbins, bin_count_.data(), bin_fill_.data(), f,
                                                                       bin_rf);
  const DeviceCell* live = live_ ? &live_cell_.data()->cell : nullptr;
  const ReplicaCells replica_cells{replica_cells_.data(), replica_of_.data(), replica_bin_base_.data()};
  if (live)
    NEPCG_LAUNCH(bin_atoms, blocks_for(n, kThreads), kThreads, 0, s)(
        n, x, y, z, live, wrapped_.data(), wrap_code_.data(), bin_of_.data(), bin_count_.data(), ref_.data(), f,
        atom_rf);
  else if (replicas_ > 0)
    NEPCG_LAUNCH(bin_atoms, blocks_for(n, kThreads), kThreads, 0, s)(n, x, y, z, replica_cells, wrapped_.data(),
                                                                     wrap_code_.data(), bin_of_.data(),
                                                                     bin_count_.data(), ref_.data(), f, atom_rf);
  else
    NEPCG_LAUNCH(bin_atoms, blocks_for(n, kThreads), kThreads, 0, s)(
        n, x, y, z, cell_, wrapped_.data(), wrap_code_.data(), bin_of_.data(), bin_count_.data(), ref_.data(), f,
        atom_rf);
  NEPCG_LAUNCH(scan_bins, 1, kScanThreads, 0, s)(nbins, bin_count_.data(), bin_start_.data(), f);
  NEPCG_LAUNCH(fill_bins, blocks_for(n, kThreads), kThreads, 0, s)(n, bin_of_.data(), bin_start_.data(),
                                                                   bin_fill_.data(), bin_atoms_.data(), f, atom_rf);
  NEPCG_LAUNCH(sort_bins, blocks_for(nbins, kThreads), kThreads, 0, s)(nbins, bin_start_.data(), bin_atoms_.data(), f,
                                                                      bin_rf);
  const double rlist = cutoff_ + skin_;
  const int group = lanes_per_site(n, multiprocessors_);
  const unsigned group_blocks = blocks_for(size_t(n) * group, kThreads);
  const double rinner = inner_cutoff_ > 0 ? std::min(inner_cutoff_ + skin_, rlist) : rlist;
  if (live)
    NEPCG_LAUNCH(build_list, group_blocks, kThreads, 0, s)(
        n, group, live, rinner * rinner, rlist * rlist, capacity_, wrapped_.data(), wrap_code_.data(), bin_of_.data(),
        bin_start_.data(), bin_atoms_.data(), neighbor_.data(), image_.data(), count_.data(), f, atom_rf);
  else if (replicas_ > 0)
    NEPCG_LAUNCH(build_list, group_blocks, kThreads, 0, s)(
        n, group, replica_cells, rinner * rinner, rlist * rlist, capacity_, wrapped_.data(), wrap_code_.data(),
        bin_of_.data(), bin_start_.data(), bin_atoms_.data(), neighbor_.data(), image_.data(), count_.data(), f, atom_rf);
  else
    NEPCG_LAUNCH(build_list, group_blocks, kThreads, 0, s)(
        n, group, cell_, rinner * rinner, rlist * rlist, capacity_, wrapped_.data(), wrap_code_.data(), bin_of_.data(),
        bin_start_.data(), bin_atoms_.data(), neighbor_.data(), image_.data(), count_.data(), f, atom_rf);
  NEPCG_LAUNCH(find_reverse, group_blocks, kThreads, 0, s)(n, group, capacity_, neighbor_.data(), image_.data(),
                                                           count_.data(), reverse_.data(), f, atom_rf);
  if (replicas_ > 0)
    NEPCG_LAUNCH(clear_replica_flags, blocks_for(replicas_, kThreads), kThreads, 0, s)(replicas_,
                                                                                      replica_flag_.data());
  NEPCG_LAUNCH(finish_build, 1, 1, 0, s)(f, live_ ? live_cell_.data() : nullptr);
  NEPCG_CUDA_LAUNCHED("neighbour-list build");
}

void DeviceNeighborList::note_forced_build(bool force) {
  if (force || !have_build_) {
    // The host knows a build happened: later displacement checks measure from this cell.
    std::copy(cell_.h, cell_.h + 9, build_h_);
    std::fill(to_build_frame_, to_build_frame_ + 9, 0.0);
    to_build_frame_[0] = to_build_frame_[4] = to_build_frame_[8] = 1.0;
    max_displacement_ = 0.5 * skin_;
    have_build_ = true;
  }
}

void DeviceNeighborList::fetch_flags(cudaStream_t s) {
  NEPCG_CUDA_CHECK(cudaMemcpyAsync(host_flags_, flags_.data(), sizeof(host_flags_), cudaMemcpyDeviceToHost, s));
  NEPCG_CUDA_CHECK(cudaStreamSynchronize(s));
  if (host_flags_[4] != builds_seen_) {
    // The device rebuilt during the last update(), with the cell set for it.
    builds_seen_ = host_flags_[4];
    std::copy(cell_.h, cell_.h + 9, build_h_);
    std::fill(to_build_frame_, to_build_frame_ + 9, 0.0);
    to_build_frame_[0] = to_build_frame_[4] = to_build_frame_[8] = 1.0;
    max_displacement_ = 0.5 * skin_;
  }
}

void DeviceNeighborList::begin_live_cell(cudaStream_t s) {
  if (replicas_ > 0) throw RuntimeError("DeviceNeighborList: a live cell needs one system (call set_cell first)");
  live_host_ = LiveCell{};
  live_host_.cell = cell_;
  live_host_.cutoff = cutoff_;
  live_host_.skin = skin_;
  std::copy(cell_.h, cell_.h + 9, live_host_.build_h);
  live_cell_changed(live_host_, cell_.h);  // (identity frame; set_cell's reach, recomputed)
  live_cell_.upload(&live_host_, 1, s);
  live_ = true;
  have_build_ = false;  // the next update builds in the live cell
}

void DeviceNeighborList::end_live_cell(double* h, cudaStream_t s) {
  if (!live_) throw RuntimeError("DeviceNeighborList: end_live_cell without begin_live_cell");
  live_cell_.download(&live_host_, 1, s);
  NEPCG_CUDA_CHECK(cudaStreamSynchronize(s));
  std::copy(live_host_.cell.h, live_host_.cell.h + 9, h);
  live_ = false;
  have_build_ = false;  // (the host does not know the cell of the device's last build)
  if (live_host_.collapsed)
    throw RuntimeError(
        "DeviceNeighborList: the cell collapsed on the device (singular, or over 100 times thinner than the list "
        "range " + std::to_string(cutoff_ + skin_) + " Å): check the barostat's target pressure, modulus and tau");
}

void DeviceNeighborList::grow(cudaStream_t s) {
  capacity_ = std::max(capacity_ + 8, static_cast<int>(1.25 * host_flags_[1]) + 8);
  resize_entries();
  host_flags_[1] = 0;
  NEPCG_CUDA_CHECK(cudaMemsetAsync(flags_.data() + 1, 0, sizeof(int), s));
}

void DeviceNeighborList::resize_entries() {
  // Kernels index entries (i * capacity + k) and reverse entries with int.
  const size_t entries = size_t(capacity_) * size_t(n_);
  if (entries > size_t(std::numeric_limits<int>::max()))
    throw RuntimeError("DeviceNeighborList: " + std::to_string(n_) + " atoms x " + std::to_string(capacity_) +
                       " neighbour entries each exceed the 2^31 - 1 entries the device list indexes; use fewer "
                       "atoms per GPU or a shorter cutoff + skin");
  neighbor_.resize(entries);
  image_.resize(entries);
  reverse_.resize(entries);
}

void DeviceNeighborList::check_errors() const {
  if (host_flags_[2])
    throw RuntimeError(
        "DeviceNeighborList: an atom is more than 100 cells away from the box (exploding or unwrapped "
        "trajectory; check the time step and the input positions)");
  if (host_flags_[3] && host_flags_[1] <= capacity_)
    throw RuntimeError("DeviceNeighborList: a pair has no reverse entry (non-finite positions?)");
}

}  // namespace nepcg::cuda
