// Device state of a GpuNEP (internal): the model's arrays in device memory, the neighbour list, the
// atoms (structure-of-arrays) and the scratch of the NEP kernels. Shared by the evaluation
// (gpu_nep.cu) and the MD segments (../dynamics/gpu_segment.cu).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../common/cuda_support.cuh"
#include "../neighbors/device_neighbor_list.cuh"
#include "device_nep_model.cuh"
#include "nep_warp_kernel.cuh"
#include "nepcg/gpu_nep.hpp"
#include "nepcg/kernels/nep_view.hpp"

namespace nepcg {

struct GpuNEP::Impl {
  Impl(const NEP& nep, double skin, NepPrecision precision);

  cuda::Stream stream;
  std::string device_name;
  int multiprocessors = 1;
  cuda::DeviceNepModel model;  // device copies of the parameters and tables
  kernels::NepView view{};     // = model.view_with_transposed_w0() (the MD warp kernel reads W0^T)
  // Single precision: the model rounded to float on the device (the warp kernel in float).
  std::unique_ptr<cuda::DeviceNepModelT<float>> model32;
  kernels::NepViewT<float> view32{};  // = model32->view_with_transposed_w0()
  gpu::SiteLaunch site_launch;  // true: the warp (or half-warp) per atom site kernel is used (in float when model32)
  bool site_bin_order = false;  // the site kernel takes the atoms in the list's bin order (NEPCG_SITE_ORDER=bins)
  bool site_skip_skin = false;  // passes 1 and 3 of the site kernel skip the list's skin (NEPCG_SITE_SKIN=skip)
  unsigned long long* pass_cycles = nullptr;  // the site kernel's per-pass clocks (site_pass_cycles only)
  cuda::DeviceNeighborList list;

  // Atoms: positions, velocities, forces (Å, Å/fs, eV/Å), force-to-acceleration factors
  // (Å/fs^2 per eV/Å), masses (amu), model types, site energies (eV), per-atom virials (9 x N,
  // component-major), per-atom energy exchanged with a thermostat (eV).
  int n = 0;
  cuda::DeviceArray<double> x, y, z, vx, vy, vz, fx, fy, fz, accel, mass, energy, virial, bath;
  cuda::DeviceArray<int> type;
  // Kernel scratch: angular sums S and gradients dU/dS per atom, partial forces per list entry
  // (float with model32).
  cuda::DeviceArray<double> sums, gradients;
  gpu::PartialForces partial;
  cuda::DeviceArray<double> reduced;  // results of device reductions
  // MD segments: the step index read by the step kernels, Bussi's random numbers (2 per step),
  // the Nose-Hoover chain (velocities, then positions), fixed atoms (moving[i] = 0; empty: all
  // move) and the bead constraint (the atoms of bead b are bead_atoms[bead_start[b] ...
  // bead_start[b + 1]), ascending; bead masses in amu; empty: off).
  cuda::DeviceArray<long long> step;
  // Recorded samples of a segment (DeviceSegment::record_steps), `stride` values each from
  // records[r * stride]: the totals (gpu_segment.cu: RecordLayout), then, with record_forces, fx,
  // fy, fz and the site energies (n values each); record_slot: the next record (device).
  cuda::DeviceArray<double> records;
  cuda::DeviceArray<long long> record_slot;
  cuda::DeviceArray<double> draws, chain, bead_mass;
  // A cell that changes on the device: the stochastic cell rescaling's normals
  // (DeviceSegment::barostat_draws) and the cell step's work area (gpu_segment.cu: CellWork).
  cuda::DeviceArray<double> barostat_draws, cell_work;
  cuda::DeviceArray<int> moving, bead_start, bead_atoms;
  // What moving / bead_* hold (uploaded_atoms = -1: unknown), to skip unchanged uploads.
  int uploaded_atoms = -1;
  std::vector<char> uploaded_moving;
  std::vector<int> uploaded_bead_of;
  std::vector<double> uploaded_bead_mass;
  std::vector<double> host;           // staging for uploads/downloads
  // What the device arrays hold (upload() skips unchanged types and masses).
  std::vector<int> uploaded_types;
  std::vector<double> uploaded_masses;

  /// Positions (and types, masses when `all` and they changed) of `s` to the device; sizes every
  /// array. `wrap`: map positions into the cell first when an atom is > 10 cells outside (same forces;
  /// lets any unwrapped input through, while a trajectory keeps its unwrapped positions, so an
  /// atom crossing the boundary does not look like a jump to the list's displacement check).
  void upload(const System& s, const std::vector<int>& model_types, bool all, bool wrap);
  /// The same from arrays (positions 3N, masses N, model types N): e.g. replicas one after another.
  void upload_atoms(const std::vector<double>& positions, const std::vector<double>& masses,
                    const std::vector<int>& model_types, bool all);
  void upload_velocities(const System& s);
  void upload_forces(const std::vector<double>& f);
  void download_positions_to(std::vector<double>& positions);    // (3N, AoS)
  void download_velocities_to(std::vector<double>& velocities);  // (3N, AoS)
  void download_forces(std::vector<double>& f);
  /// Neighbour-list update and the two NEP kernels (asynchronous; virial: per-atom virials too).
  /// Allocates nothing once reserve_partial_forces() has run for the list's capacity.
  void launch_forces(bool force_rebuild, bool virial);
  /// Sizes the partial-force arrays for the list's current capacity. A captured step must not
  /// allocate (a GPU refuses cudaFree during a capture), so segments call this before capturing.
  void reserve_partial_forces();
  /// launch_forces, then synchronise and redo with a larger list while the list overflowed.
  void forces_checked(const Box& box, bool virial);
  /// launch_forces with the cell (or replica cells) already set, redone while the list overflowed.
  void forces_retried(bool force_rebuild, bool virial);
  // Replicas fused into one MD segment: atom offsets (R + 1) and Langevin keys (R).
  cuda::DeviceArray<int> replica_starts;
  cuda::DeviceArray<unsigned long long> replica_seeds;
  cuda::DeviceArray<double> replica_nf;   // (degrees of freedom per replica: rescaling and chains)
  cuda::DeviceArray<int> bead_bath_slot;  // (bead b's slot in `bath`: its index within its replica)
  /// Sums of `columns` arrays of n values each (component-major) into reduced[offset + c].
  void launch_column_sums(const double* data, int columns, int offset);
  /// The same sums into out[c], or with `slot` into (out + *slot * stride)[c] (slot on the device).
  void launch_column_sums(const double* data, int columns, double* out, const long long* slot, long long stride);
  /// The same per replica (replica r: atoms starts[r] ... starts[r + 1], device array) into
  /// out[r * replica_stride + c] (or that offset in the slot's record).
  void launch_replica_column_sums(const double* data, int columns, double* out, const long long* slot,
                                  long long stride, const int* starts, int replicas, long long replica_stride);
  /// Velocities (3N, AoS; empty: zero) to the device.
  void upload_velocity_array(const std::vector<double>& v);
};

/// Independent systems one after another, as replicas lie in the device arrays: atom offsets
/// (R + 1 values from 0) and model types, and with `state` their cells, positions (with `wrap`:
/// wrapped into the cell where an atom lies far outside it, as GpuNEP::accumulate does) and
/// masses. Throws InputError for a species the model lacks or more atoms than one launch indexes.
struct ReplicaAtoms {
  std::vector<int> starts{0}, types;
  std::vector<Box> boxes;
  std::vector<double> positions, masses;
};
ReplicaAtoms replica_atoms(const NEP& nep, const std::vector<const System*>& systems, bool state, bool wrap);

/// Model type of every atom (throws InputError for species the model lacks).
inline std::vector<int> model_types(const NEP& nep, const System& s) {
  const std::vector<int> map = nep.type_map(s);
  std::vector<int> t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = map[s.types[i]];
  return t;
}

}  // namespace nepcg
