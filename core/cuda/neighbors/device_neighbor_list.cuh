// Verlet neighbour list on the GPU: cell binning in fractional coordinates + a skin, rebuilt on the
// device when an atom has moved more than the allowed distance since the last build. No step needs
// a host round trip: the displacement check sets a device flag and every build kernel returns at
// once when it is clear, so a whole MD step is a fixed launch sequence (CUDA-graph friendly).
//
// Layout (atom-major, one row of `capacity` entries per atom): entry k of atom i is at
// i * capacity + k, for k < count[i]; the lanes of a warp that share an atom read consecutive entries.
// neighbor = j, image = packed integer triple n (8 bits each, offset 128) such that the pair vector
// is r_ij = x_j - x_i + n0 a + n1 b + n2 c with the (unwrapped) positions of the current step, as
// on the CPU list (entries within the inner zone first when one is set). reverse[k * N + i] = index
// of the entry (i, -n) in j's list. Any box shape works,
// also boxes thinner than the cutoff (a bin then holds several images). Neighbour order is
// deterministic (bins in fixed order, atoms in a bin by index), so runs are bit-reproducible.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "../common/cuda_support.cuh"
#include "nepcg/box.hpp"
#include "nepcg/kernels/cell_step.hpp"

namespace nepcg::cuda {

/// The cell and its binning as kernels see it (value type, passed by value).
struct DeviceCell {
  double h[9];        // rows a, b, c: h[3 * row + col], Å
  double inv[9];      // cell^-1: s_c = sum_r x_r inv[3 r + c]
  int pbc[3];
  int bins[3];        // bins per axis
  int reach[3];       // bin offsets searched per axis
};

/// Pair vector of entry (i, n): x_j - x_i + n . H.
__host__ __device__ inline void image_shift(const DeviceCell& c, int code, double* s) {
  const int n0 = (code & 255) - 128, n1 = ((code >> 8) & 255) - 128, n2 = ((code >> 16) & 255) - 128;
  for (int d = 0; d < 3; ++d) s[d] = n0 * c.h[d] + n1 * c.h[3 + d] + n2 * c.h[6 + d];
}

/// The cell of a list whose cell changes on the device from step to step (barostats and
/// deformation acting inside device segments): the kernels read it from device memory, and
/// after every change (live_cell_changed) the displacement check's frame and allowance follow.
struct LiveCell {
  DeviceCell cell;      // the current cell (bins fixed when the live stretch began; reach follows)
  double build_h[9];    // the cell of the last build
  double to_build[9];   // maps current positions into the frame of the last build
  double limit2;        // allowed squared displacement in that frame (< 0: rebuild now)
  double cutoff, skin;  // Å
  int collapsed;        // set when a cell was singular or over 100 times thinner than the list range
};

/// The map m = inv . build_h of current positions (cell inverse `inv`) into the frame of the last
/// build (cell build_h), and the displacement allowed there before a rebuild (Å; <= 0: rebuild):
/// half the skin, less what the strain since that build can bring pairs closer (an affine
/// deformation: at most the strain times the cutoff).
__host__ __device__ inline double build_frame_allowance(const double inv[9], const double build_h[9], double cutoff,
                                                        double skin, double m[9]) {
  double dev = 0.0;
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) {
      m[3 * r + k] = inv[3 * r] * build_h[k] + inv[3 * r + 1] * build_h[3 + k] + inv[3 * r + 2] * build_h[6 + k];
      dev += (m[3 * r + k] - (r == k)) * (m[3 * r + k] - (r == k));
    }
  return 0.5 * (cutoff + skin - (1.0 + sqrt(dev)) * cutoff);
}

/// The cell `h` (rows, Å) into lc.cell: its inverse, the bins' reach for the list range, the
/// map into the last build's frame and the allowance, shrunk by the strain since that build (an
/// affine deformation brings pairs closer by at most the strain times the cutoff).
__host__ __device__ inline void live_cell_changed(LiveCell& lc, const double h[9]) {
  DeviceCell& c = lc.cell;
  for (int k = 0; k < 9; ++k) c.h[k] = h[k];
  kernels::inverse3(h, c.inv);
  // thickness along axis d: 1 / |column d of h^-1| (the distance between the lattice planes);
  // reach: bins to search on each side per axis. A singular or collapsed cell (what the host's
  // set_cell refuses: over 100 times thinner than the list range) is flagged for the host and
  // searched with reach 1 until the segment ends with that error.
  const double rlist = lc.cutoff + lc.skin;
  const bool singular = !(fabs(kernels::determinant3(h)) > 0);
  for (int d = 0; d < 3; ++d) {
    const double g = sqrt(c.inv[d] * c.inv[d] + c.inv[3 + d] * c.inv[3 + d] + c.inv[6 + d] * c.inv[6 + d]);
    const double reach = ceil(rlist * g * c.bins[d] - 1e-12);  // rlist / (bin thickness 1 / (g bins))
    if (singular || !(reach <= 100.0)) {
      lc.collapsed = 1;
      c.reach[d] = 1;
    } else {
      c.reach[d] = reach < 1.0 ? 1 : static_cast<int>(reach);
    }
  }
  const double allowed = build_frame_allowance(c.inv, lc.build_h, lc.cutoff, lc.skin, lc.to_build);
  lc.limit2 = allowed > 0 && !lc.collapsed ? allowed * allowed : -1.0;
}

/// Per-replica rebuild flags as the build kernels see them (replica mode; flag == nullptr
/// otherwise): replica r rebuilds when flag[r] is set; `of` maps a kernel's item (an atom, or a
/// bin) to its replica.
struct ReplicaFlags {
  int* flag = nullptr;
  const int* of = nullptr;
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const ReplicaFlags& r) { return NEPCG_EMU_POINTERS(r.flag, r.of); }
static_assert(::nepcg::emu::lists_device_pointers<ReplicaFlags>::value, "launch check of ReplicaFlags");
#endif

class DeviceNeighborList {
 public:
  /// cutoff, skin in Å; the list holds every pair within cutoff + skin at build time. With an
  /// inner_cutoff (> 0; NEP: the angular cutoff) each atom's entries closer than inner_cutoff + skin
  /// at build time come first, so that the pairs inside inner_cutoff gather in the first entries
  /// (the warp kernel's angular work then runs on fewer lanes). A hint for speed, not a guarantee
  /// that kernels rely on.
  /// s: the stream of the engine that owns the list (its flags are cleared through it).
  DeviceNeighborList(double cutoff, double skin, double inner_cutoff, cudaStream_t s);

  /// Sets the cell for the next update. Returns true when the binning changed (a rebuild is then
  /// forced). The displacement test of later steps accounts for the change of cell since the last
  /// build (an affine deformation can only bring pairs closer by the strain times the cutoff).
  bool set_cell(const Box& box, int num_atoms);
  /// Independent replicas in one list (many small systems in one launch): replica r holds atoms
  /// starts[r] ... starts[r + 1] - 1 (starts: R + 1 ascending values from 0) in its own cell
  /// boxes[r], binned on its own, so pairs never join two replicas and image codes refer to the
  /// replica's cell (replica_cells(), replica_of()). The next update() rebuilds. Leave replica
  /// mode with set_cell(). The cells stay fixed while in it (no live cell). Each replica keeps
  /// its own rebuild flag: an atom beyond the allowance rebuilds its replica's list only, so a
  /// replica's list (and the order of its neighbours) follows its own trajectory alone, whichever
  /// replicas share the list.
  void set_replica_cells(const std::vector<Box>& boxes, const std::vector<int>& starts, cudaStream_t s);
  /// In replica mode (set_replica_cells): the replicas' cells and each atom's replica (device
  /// arrays); nullptr otherwise.
  const DeviceCell* replica_cells() const { return replicas_ > 0 ? replica_cells_.data() : nullptr; }
  const int* replica_of() const { return replicas_ > 0 ? replica_of_.data() : nullptr; }
  int replicas() const { return replicas_; }
  /// Decides on the device whether to rebuild (always when `force`) and rebuilds if so. x, y, z:
  /// device positions (N each).
  void update(const double* x, const double* y, const double* z, int n, bool force, cudaStream_t s);
  /// Copies the device flags to the host (synchronises the stream). Call it after update() and
  /// before the next set_cell(): it also records the cell of a build the device decided on.
  void fetch_flags(cudaStream_t s);
  /// After fetch_flags: true when some atom had more neighbours than the capacity (the list is
  /// incomplete; call grow() and update(force=true) again).
  bool overflowed() const { return host_flags_[1] > capacity_; }
  /// Raises the capacity to fit the largest count seen (plus a margin); s: the list's stream.
  void grow(cudaStream_t s);
  /// After fetch_flags: throws RuntimeError when a build found an atom more than 100 cells from
  /// the box or a pair without its reverse entry.
  void check_errors() const;
  /// After fetch_flags: number of builds so far.
  long builds() const { return host_flags_[4]; }

  int capacity() const { return capacity_; }
  const int* neighbors() const { return neighbor_.data(); }
  const int* images() const { return image_.data(); }
  const int* counts() const { return count_.data(); }
  const int* reverse() const { return reverse_.data(); }
  /// The atoms in bin order at the last build (bins in a fixed order, atoms in a bin by index): a
  /// permutation of 0 ... n-1, after the first build.
  const int* bin_order() const { return bin_atoms_.data(); }
  const DeviceCell& cell() const { return cell_; }
  /// Live cell (a stretch of steps whose cell changes on the device): after set_cell, starts one
  /// from that cell (the next update rebuilds); the cell then lives in device memory, where
  /// kernels change it (followed by live_cell_changed) and read it (live_cell()). end_live_cell
  /// copies the current cell back (h: 9 values, rows; synchronises s) and returns to host cells
  /// (the next set_cell forces a rebuild); it throws RuntimeError when the cell collapsed on the
  /// way (LiveCell::collapsed).
  void begin_live_cell(cudaStream_t s);
  void end_live_cell(double* h, cudaStream_t s);
  /// Leaves a live stretch without reading its cell (after an error); no-op outside one.
  void abandon_live_cell() {
    if (!live_) return;
    live_ = false;
    have_build_ = false;
  }
  /// Device pointer to the live cell; nullptr outside a live stretch.
  LiveCell* live_cell() { return live_ ? live_cell_.data() : nullptr; }
  const LiveCell* live_cell() const { return live_ ? live_cell_.data() : nullptr; }
  double cutoff() const { return cutoff_; }

 private:
  double cutoff_, skin_, inner_cutoff_;
  int multiprocessors_ = 1;  // of the device (sets the lanes per atom of the search kernels)
  int n_ = 0, capacity_ = 0;
  DeviceCell cell_{};
  bool live_ = false;
  LiveCell live_host_{};            // staging of begin_live_cell / end_live_cell
  DeviceArray<LiveCell> live_cell_;
  double build_h_[9] = {};   // cell at the last build
  bool have_build_ = false;
  double max_displacement_ = 0.0;  // allowed, in the frame of the last build
  double to_build_frame_[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  DeviceArray<double> ref_;        // 3N positions at the last build
  DeviceArray<double> wrapped_;    // 3N positions mapped into the cell (periodic axes)
  DeviceArray<int> wrap_code_;     // N packed cell shifts of the wrap
  DeviceArray<int> bin_of_, bin_count_, bin_start_, bin_fill_, bin_atoms_;
  DeviceArray<int> neighbor_, image_, count_, reverse_;
  // flags: [0] rebuild now, [1] largest neighbour count, [2] image out of range, [3] missing
  // reverse entry, [4] builds (counter)
  DeviceArray<int> flags_;
  // Replica mode (set_replica_cells): replicas_ > 0 cells, each atom's replica, and the first
  // bin of each replica (its bins follow its own binning; the bin arrays hold all replicas').
  int replicas_ = 0;
  DeviceArray<DeviceCell> replica_cells_;
  DeviceArray<int> replica_of_, replica_bin_base_;
  DeviceArray<int> replica_flag_, bin_replica_;  // rebuild flag per replica; each bin's replica
  ReplicaFlags atom_flags() { return replicas_ > 0 ? ReplicaFlags{replica_flag_.data(), replica_of_.data()} : ReplicaFlags{}; }
  ReplicaFlags bin_flags() { return replicas_ > 0 ? ReplicaFlags{replica_flag_.data(), bin_replica_.data()} : ReplicaFlags{}; }
  int host_flags_[5] = {};
  int builds_seen_ = 0;

  void launch_check(const double* x, const double* y, const double* z, int n, bool force, cudaStream_t s);
  void launch_build(const double* x, const double* y, const double* z, int n, cudaStream_t s);
  void note_forced_build(bool force);
  // The binning of one cell (h, inverse, pbc, bins, reach) for num_atoms atoms; InputError for
  // a periodic cell over 100 times thinner than the list range.
  DeviceCell binned_cell(const Box& box, int num_atoms) const;
  // Sizes the per-atom arrays for num_atoms atoms, with room for `expected` neighbours each.
  void size_atoms(int num_atoms, double expected);
  // Sizes the entry arrays for n_ x capacity_ (RuntimeError beyond int indexing).
  void resize_entries();
};

}  // namespace nepcg::cuda
