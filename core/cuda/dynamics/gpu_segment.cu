// MD segments on the GPU (GpuNEP::run_device_segment): velocity Verlet with the thermostats the
// CPU Simulator applies in the same order (thermostats.cpp, simulator.cpp), with every array on the
// device and no host synchronisation between the first and the last step:
//   NVE / Berendsen / Bussi:  kick(dt/2) drift(dt) forces kick(dt/2) [rescale]
//   Nose-Hoover chain:        NHC(dt/2) kick(dt/2) drift(dt) forces kick(dt/2) NHC(dt/2)
//   Langevin BAOAB:           kick(dt/2) drift(dt/2) O(dt) drift(dt/2) forces kick(dt/2)
//   Langevin OBABO:           O(dt/2) kick(dt/2) drift(dt) forces kick(dt/2) O(dt/2)
// Fixed atoms are not kicked, thermostatted or moved (as on the CPU). With the bead constraint
// (NEP-CG mean-force runs) every kick and every O step is followed by the removal of each bead's
// centre-of-mass velocity, as on the CPU.
// The chain and rescaling formulas are the CPU's (kernels/thermostat.hpp).
// The Langevin noise comes from Philox4x32-10 (kernels/philox.hpp; key = segment seed, counter =
// step and atom), so a segment replays identically after a neighbour-list overflow. Bussi's two random
// numbers per step are drawn by the Simulator's generator (the same stream as on the CPU).
// Every step is the same launch sequence (per-step values are read on the device), captured once
// per segment as a CUDA graph and replayed; NEPCG_CUDA_GRAPHS=0 launches each kernel instead
// (same kernels, same order: the same bits). The list's build kernels stay in the graph of every
// step and return at once unless the displacement check raised the rebuild flag (a conditional
// graph node around them measured no faster on an H100: bench/gpu_notes.md, session 11).
// A barostat or deformation acting every step (DeviceSegment::cell) runs here too when the cell is
// fully periodic: after the drift, one thread updates the cell in device memory
// (kernels/cell_step.hpp, the host's functions; the list and site kernels read that cell), the
// atoms are scaled, and the forces then come with the virial the next step's barostat reads.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>

#include "../potentials/gpu_nep_impl.cuh"
#include "nepcg/beads.hpp"
#include "nepcg/kernels/cell_step.hpp"
#include "nepcg/kernels/md_step.hpp"
#include "nepcg/kernels/thermostat.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

namespace {

constexpr int kThreads = 128;
constexpr int kReduceThreads = 1024;
constexpr long kMinGraphSteps = 4;  // fewer steps: plain launches (capture costs about one step's launches)

// One thread per atom or bead around the shared step pieces (kernels/md_step.hpp).
__global__ void kick_drift(int n, double kick_dt, double drift_dt, const int* moving, const double* accel,
                           const double* fx, const double* fy, const double* fz, double* vx, double* vy, double* vz,
                           double* x, double* y, double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) kernels::kick_drift_atom(i, kick_dt, drift_dt, moving, accel, fx, fy, fz, vx, vy, vz, x, y, z);
}

// x += v dt (the drift of a step whose kick is followed by the bead constraint).
__global__ void drift(int n, double dt, const double* vx, const double* vy, const double* vz, double* x, double* y,
                      double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) kernels::drift_atom(i, dt, vx, vy, vz, x, y, z);
}

// Bead constraint (Simulator::constrain_beads): thread b removes bead b's centre-of-mass velocity
// (its momentum summed in ascending atom order, the host's order). With `bath`, the kinetic energy
// this removes is added to bath[b] (eV; with bath_slot, bath[bath_slot[b]]: fused replicas book a
// bead at its index within its replica, from the replica's first atom, as it would be alone):
// after a Langevin O step the host books it as energy exchanged with the bath.
__global__ void constrain_beads(int num_beads, const int* start, const int* atoms, const double* bead_mass,
                                const double* mass, double* vx, double* vy, double* vz, double* bath,
                                const int* bath_slot) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= num_beads) return;
  const double removed = kernels::remove_bead_momentum(b, start, atoms, bead_mass, mass, vx, vy, vz);
  if (bath) bath[bath_slot ? bath_slot[b] : b] += removed;
}

// The values that change from step to step, read on the device so that every step is the same
// launch sequence (replayable as a CUDA graph): the step index k within the segment lives in
// device memory and advance_step moves it on at the end of each step.
struct StepClock {
  const long long* step;          // device: k
  double t_start, t_end;          // thermostat target ramp over the run (K)
  long long run_step, run_length; // first step of the segment within its run, steps of the run
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const StepClock& c) { return NEPCG_EMU_POINTERS(c.step); }
static_assert(::nepcg::emu::lists_device_pointers<StepClock>::value, "launch check of StepClock");
#endif

// Target temperature of step k (0-based), as the host computes it (the same bits).
__device__ inline double clock_temperature(const StepClock& c, long long k) {
  return kernels::ramp_temperature(c.t_start, c.t_end, c.run_step, k + 1, c.run_length);
}

__global__ void advance_step(long long* step) { *step += 1; }

// The noise of replicas fused into one segment: replica r's key and its atoms' Philox streams
// counted from its first atom, so that each replica draws the noise it would draw alone.
struct ReplicaNoise {
  const unsigned long long* seeds = nullptr;  // per replica; nullptr: one system (the segment's seed)
  const int *replica_of = nullptr, *starts = nullptr;
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const ReplicaNoise& r) { return NEPCG_EMU_POINTERS(r.seeds, r.replica_of, r.starts); }
static_assert(::nepcg::emu::lists_device_pointers<ReplicaNoise>::value, "launch check of ReplicaNoise");
#endif

// Ornstein-Uhlenbeck step of the moving atoms (kernels::langevin_o_atom), then (drift_dt != 0)
// x += v drift_dt. The kinetic energy it removes is added to bath[i] (eV). Philox counter
// 2 k + half (half = 0, 1: the two O steps of OBABO), stream i (replicas: i within its replica).
__global__ void langevin_o(int n, double c1, double c2, StepClock clock, int half, unsigned long long seed,
                           ReplicaNoise noise, const int* moving, const double* mass, double* vx, double* vy,
                           double* vz, double* bath, double drift_dt, double* x, double* y, double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const long long k = *clock.step;
  const double kt = kernels::mul_rn(units::kBoltzmann, clock_temperature(clock, k));
  const unsigned long long counter = 2ULL * static_cast<unsigned long long>(k) + half;
  unsigned long long key = seed;
  int stream = i;
  if (noise.seeds) {
    const int r = noise.replica_of[i];
    key = noise.seeds[r];
    stream = i - noise.starts[r];
  }
  bath[i] += kernels::langevin_o_atom_in_stream(i, static_cast<uint32_t>(stream), c1, c2, kt, key, counter, moving,
                                                mass, vx, vy, vz, drift_dt, x, y, z);
}

// The values a velocity-rescaling thermostat or Nose-Hoover chain keeps per system, for one system
// or for replicas fused into one segment (replica r = blockIdx.x of the one-block or one-thread
// kernels below): its kinetic energy, velocity factor and rescaling bath at state + r * kStateStride
// (state[0], [1], [2]), its chain at chain + 2 m r, its degrees of freedom nfs[r] (nullptr: the
// segment's), its Bussi numbers at draws + r * draws_stride. replica_of (nullptr: one system) maps
// atoms to replicas for the velocity scaling.
constexpr int kStateStride = 16;
struct ReplicaThermostat {
  const double* nfs = nullptr;
  const int* starts = nullptr;  // atoms of replica r: starts[r] ... starts[r + 1] (nullptr: all n)
  const int* replica_of = nullptr;
  long long draws_stride = 0;
};
#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
inline auto device_pointers(const ReplicaThermostat& t) { return NEPCG_EMU_POINTERS(t.nfs, t.starts, t.replica_of); }
static_assert(::nepcg::emu::lists_device_pointers<ReplicaThermostat>::value, "launch check of ReplicaThermostat");
#endif

// Kinetic energy (eV) of replica b = blockIdx.x into out[b * kStateStride], fixed summation order.
__global__ void __launch_bounds__(kReduceThreads) kinetic_energy(int n, ReplicaThermostat rt, const double* mass,
                                                                 const double* vx, const double* vy,
                                                                 const double* vz, double* out) {
  NEPCG_STATIC_SHARED(double, part, kReduceThreads);
  const int b = blockIdx.x;
  const int begin = rt.starts ? rt.starts[b] : 0, end = rt.starts ? rt.starts[b + 1] : n;
  double s = 0.0;
  for (int i = begin + threadIdx.x; i < end; i += kReduceThreads)
    s += mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = kReduceThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[b * kStateStride] = 0.5 * part[0] * units::kMassVelocity2ToEnergy;
}

// Berendsen / Bussi factor alpha from the kinetic energy k = state[0]; state[1] = alpha,
// state[2] += energy taken out (Simulator::rescale_velocities' formulas); Bussi's two random
// numbers of step s are draws[2 s], draws[2 s + 1]. (Replica blockIdx.x: see ReplicaThermostat.)
__global__ void rescale_factor(int bussi, double nf, ReplicaThermostat rt, double dt_over_tau, StepClock clock,
                               const double* draws, double* state) {
  const int r = blockIdx.x;
  state += r * kStateStride;
  if (rt.nfs) nf = rt.nfs[r];
  if (draws) draws += r * rt.draws_stride;
  const long long step = *clock.step;
  const double k_target = kernels::target_kinetic_energy(nf, clock_temperature(clock, step));
  const double r1 = bussi ? draws[2 * step] : 0.0, chi2 = bussi ? draws[2 * step + 1] : 0.0;
  const double k = state[0];
  double alpha = 1.0;
  if (k > 0) {
    alpha = kernels::velocity_rescaling_factor(bussi != 0, k, k_target, nf, dt_over_tau, r1, chi2);
    state[2] += k * (1.0 - alpha * alpha);
  }
  state[1] = alpha;
}

// Half step of the Nose-Hoover chain (Simulator::nose_hoover_half) from the kinetic energy
// k = state[0]; the velocity factor goes to state[1]. chain: xi[0, m), then eta[0, m).
// (Replica blockIdx.x: see ReplicaThermostat.)
__global__ void nose_hoover_half(int m, double nf, ReplicaThermostat rt, double tau2, double dt, StepClock clock,
                                 double* chain, double* state) {
  const int r = blockIdx.x;
  state += r * kStateStride;
  chain += 2 * m * r;
  if (rt.nfs) nf = rt.nfs[r];
  const double kt = kernels::mul_rn(units::kBoltzmann, clock_temperature(clock, *clock.step));
  state[1] = kernels::nose_hoover_chain_half(chain, chain + m, m, 2.0 * state[0], nf, kt, tau2, dt);
}

// v *= state[1] of the atom's system (of the moving atoms when `moving` is given: Berendsen/Bussi,
// as on the CPU; the Nose-Hoover chain scales every atom).
__global__ void scale_velocities(int n, const double* state, ReplicaThermostat rt, const int* moving, double* vx,
                                 double* vy, double* vz) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double a = state[(rt.replica_of ? rt.replica_of[i] * kStateStride : 0) + 1];
  kernels::scale_velocity_atom(i, a, moving, vx, vy, vz);
}

// The totals at the head of a device record, in values from its start: the virial (9), the
// energy, the kinetic energy and tensor (1 + 9), the Langevin/constraint bath and the rescaling
// bath (1 + 1), the cell when it changes (9), the Nose-Hoover chain (xi then eta, 2 m); then,
// with forces, 4 n per-atom values.
struct RecordLayout {
  static constexpr int kVirial = 0, kEnergy = 9, kKinetic = 10, kTensor = 11, kBath = 20, kRescaleBath = 21,
                       kCell = 22, kChain = 31;
  static long long head(int chain_length) { return kChain + 2LL * chain_length; }
};

// Sums over atoms begin ... end - 1 of m v.v and m v (x) v (xx yy zz yz xz xy) by one block of
// kReduceThreads threads in a fixed order; thread 0 receives them in eV.
__device__ void block_kinetic_sums(int begin, int end, const double* mass, const double* vx, const double* vy,
                                   const double* vz, double out[7]) {
  NEPCG_STATIC_SHARED(double, part, kReduceThreads);
  double sums[7] = {0, 0, 0, 0, 0, 0, 0};
  for (int i = begin + threadIdx.x; i < end; i += kReduceThreads) {
    const double m = mass[i], u = vx[i], v = vy[i], w = vz[i];
    sums[0] += m * (u * u + v * v + w * w);
    sums[1] += m * u * u;
    sums[2] += m * v * v;
    sums[3] += m * w * w;
    sums[4] += m * v * w;
    sums[5] += m * u * w;
    sums[6] += m * u * v;
  }
  for (int c = 0; c < 7; ++c) {
    part[threadIdx.x] = sums[c];
    __syncthreads();
    for (int w = kReduceThreads / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[c] = part[0] * units::kMassVelocity2ToEnergy;
    __syncthreads();
  }
}

// The symmetric tensor of block_kinetic_sums' last six sums into t[9] (row-major).
__device__ inline void kinetic_tensor_from_sums(const double sums[7], double* t) {
  const int a[7] = {0, 0, 1, 2, 1, 0, 0}, b[7] = {0, 0, 1, 2, 2, 2, 1};
  for (int c = 1; c < 7; ++c) t[3 * a[c] + b[c]] = t[3 * b[c] + a[c]] = sums[c];
}

// Per-atom part of a record: the forces and site energies of atom i into record *slot.
__global__ void record_forces(int n, const double* fx, const double* fy, const double* fz, const double* energy,
                              const long long* slot, long long stride, long long head, double* records) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double* r = records + *slot * stride + head;
  r[i] = fx[i];
  r[n + i] = fy[i];
  r[2 * n + i] = fz[i];
  r[3 * n + i] = energy[i];
}

// Kinetic energy and tensor (eV) into record *slot (one block per replica, fixed summation order;
// with `starts`, replica b = blockIdx.x: its atoms, into its head at b * head_stride).
__global__ void __launch_bounds__(kReduceThreads) record_kinetic(int n, const int* starts, long long head_stride,
                                                                 const double* mass, const double* vx,
                                                                 const double* vy, const double* vz,
                                                                 const long long* slot, long long stride,
                                                                 double* records) {
  double sums[7];
  const int b = blockIdx.x;
  block_kinetic_sums(starts ? starts[b] : 0, starts ? starts[b + 1] : n, mass, vx, vy, vz, sums);
  if (threadIdx.x != 0) return;
  double* r = records + *slot * stride + b * head_stride;
  r[RecordLayout::kKinetic] = 0.5 * sums[0];
  kinetic_tensor_from_sums(sums, r + RecordLayout::kTensor);
}

// The thermostats' running state into record *slot: the rescaling bath (state[2]) and the chain.
// (One block per replica, each into its head at blockIdx.x * head_stride; see ReplicaThermostat.)
__global__ void record_thermostat(const double* state, const double* chain, int chain_length, const long long* slot,
                                  long long stride, long long head_stride, double* records) {
  double* r = records + *slot * stride + blockIdx.x * head_stride;
  state += blockIdx.x * kStateStride;
  if (chain) chain += 2 * chain_length * blockIdx.x;
  r[RecordLayout::kRescaleBath] = state[2];
  for (int j = 0; j < 2 * chain_length; ++j) r[RecordLayout::kChain + j] = chain[j];
}


// The cell (live, in device memory) into record *slot.
__global__ void record_cell(const cuda::LiveCell* lc, const long long* slot, long long stride, double* records) {
  double* r = records + *slot * stride;
  for (int k = 0; k < 9; ++k) r[RecordLayout::kCell + k] = lc->cell.h[k];
}

// The cell step's work area (CellWork: offsets in doubles): the virial of the last force
// evaluation and the kinetic tensor the barostat reads (eV), then the matrices the atoms are
// scaled with: r -> mu_b mu_d r and, with stochastic cell rescaling, v -> mu_b^-1 v.
struct CellWork {
  static constexpr int kVirial = 0, kKinetic = 9, kDeform = 18, kBarostat = 27, kInverse = 36, kScaleVelocities = 45,
                       kSize = 46;
};

// The cell update of step k (one block: the kinetic tensor, summed by every thread, then one
// thread for the rest; Simulator::deform, then Simulator::barostat with the pressure of the last
// virial and the current velocities in the deformed cell): the new cell into the live cell (with
// the list's frame and reach), the atoms' matrices into work.
__global__ void __launch_bounds__(kReduceThreads) cell_step(kernels::CellControl c, StepClock clock, double dt, const double* draws, int draws_per_step,
                          int n, const double* mass, const double* vx, const double* vy, const double* vz,
                          cuda::LiveCell* lc, double* work) {
  double sums[7];
  if (c.barostat) block_kinetic_sums(0, n, mass, vx, vy, vz, sums);  // (the same branch in every thread)
  if (threadIdx.x != 0) return;
  const long long k = *clock.step;
  double h[9], mu[9];
  for (int r = 0; r < 9; ++r) h[r] = lc->cell.h[r];
  kernels::identity3(mu);
  if (c.deform) {
    kernels::deformation_matrix(c, clock.run_step + k, 1, dt, mu);
    kernels::transform_rows(mu, h);
  }
  for (int r = 0; r < 9; ++r) work[CellWork::kDeform + r] = mu[r];
  kernels::identity3(mu);
  bool scale_velocities = false;
  if (c.barostat) {
    kinetic_tensor_from_sums(sums, work + CellWork::kKinetic);
    const double volume = fabs(kernels::determinant3(h));
    double p[9], p0[9];
    for (int r = 0; r < 9; ++r) p[r] = (work[CellWork::kVirial + r] + work[CellWork::kKinetic + r]) / volume;
    kernels::target_pressure(c, clock.run_step + k, clock.run_length, p0);
    const double kt = kernels::mul_rn(units::kBoltzmann, clock_temperature(clock, k));
    if (kernels::barostat_matrix(c, p, p0, volume, kt, dt, draws ? draws + k * draws_per_step : nullptr, mu)) {
      kernels::transform_rows(mu, h);
      scale_velocities = c.barostat == 2;
    } else {
      kernels::identity3(mu);
    }
  }
  for (int r = 0; r < 9; ++r) work[CellWork::kBarostat + r] = mu[r];
  kernels::inverse3(mu, work + CellWork::kInverse);
  work[CellWork::kScaleVelocities] = scale_velocities ? 1.0 : 0.0;
  cuda::live_cell_changed(*lc, h);
}

// r -> mu_b (mu_d r) and (stochastic cell rescaling) v -> mu_b^-1 v for every atom.
__global__ void scale_atoms(int n, const double* work, double* x, double* y, double* z, double* vx, double* vy,
                            double* vz) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  kernels::transform_vector(work + CellWork::kDeform, x[i], y[i], z[i]);
  kernels::transform_vector(work + CellWork::kBarostat, x[i], y[i], z[i]);
  if (work[CellWork::kScaleVelocities] != 0.0) kernels::transform_vector(work + CellWork::kInverse, vx[i], vy[i], vz[i]);
}

// Leaves the list's live cell (an error inside a segment included).
struct LiveCellScope {
  cuda::DeviceNeighborList& list;
  ~LiveCellScope() { list.abandon_live_cell(); }
};

}  // namespace

namespace {
// The segment's fixed atoms and bead constraint to the device (empty arrays when off); returns
// the number of beads. Skipped when they are what the device already holds (a mean-force run
// hands over the same constraint every few steps).
int upload_constraints(GpuNEP::Impl& d, const DeviceSegment& seg, int n) {
  cudaStream_t s = d.stream.get();
  const int nb = static_cast<int>(seg.bead_mass.size());
  if (d.uploaded_atoms == n && seg.moving == d.uploaded_moving && seg.bead_of == d.uploaded_bead_of &&
      seg.bead_mass == d.uploaded_bead_mass)
    return nb;
  d.uploaded_atoms = -1;  // (until the copies below are complete)
  d.moving.upload(std::vector<int>(seg.moving.begin(), seg.moving.end()), s);
  std::vector<int> start, atoms;
  if (nb > 0) bead_members(seg.bead_of, nb, start, atoms);
  d.bead_start.upload(start, s);
  d.bead_atoms.upload(atoms, s);
  d.bead_mass.upload(seg.bead_mass, s);
  d.stream.synchronize();
  d.uploaded_atoms = n;
  d.uploaded_moving = seg.moving;
  d.uploaded_bead_of = nb > 0 ? seg.bead_of : std::vector<int>{};
  d.uploaded_bead_mass = seg.bead_mass;
  return nb;
}
}  // namespace

void GpuNEP::run_device_segment(System& system, const DeviceSegment& seg, ForceResult& out, bool forces_valid,
                                ThermostatState& thermostat, std::vector<DeviceRecord>& records) const {
  run_segments({SegmentJob{&system, &seg, &out, forces_valid, &thermostat, &records}}, false);
}

bool GpuNEP::segments_fuse(const DeviceSegment& a, const DeviceSegment& b) {
  const bool kinds =
      a.thermostat == b.thermostat && (a.thermostat != ThermostatKind::Langevin || a.splitting == b.splitting);
  return kinds && a.steps == b.steps && a.time_step == b.time_step && a.tau_temperature == b.tau_temperature &&
         a.temperature_start == b.temperature_start && a.temperature_end == b.temperature_end &&
         a.run_step == b.run_step && a.run_length == b.run_length && a.record_steps == b.record_steps &&
         a.record_forces == b.record_forces && a.record_state == b.record_state && a.observables == b.observables &&
         !a.updates_cell() && !b.updates_cell() && a.bead_mass.empty() == b.bead_mass.empty();
}

void GpuNEP::run_device_segments(const std::vector<SegmentJob>& jobs) const {
  for (const SegmentJob& j : jobs)
    if (!j.system || !j.segment || !j.out || !j.thermostat || !j.records)
      throw InputError("GpuNEP::run_device_segments: a job without its system, segment, result, thermostat or records");
  for (size_t r = 1; r < jobs.size(); ++r)
    if (!segments_fuse(*jobs[0].segment, *jobs[r].segment))
      throw InputError("GpuNEP::run_device_segments: replica " + std::to_string(r) +
                       "'s segment does not fuse with the first (replicas run the same steps, time step, NVE or "
                       "Langevin with the same target, record steps and no cell change; see segments_fuse)");
  // Replica mode also for a batch of one (the list's replica mode cannot hold a live cell):
  // what a replica gets then depends on its own state only, not on which replicas share the run.
  if (!jobs.empty()) run_segments(jobs, !jobs[0].segment->updates_cell());
}

void GpuNEP::run_segments(const std::vector<SegmentJob>& jobs, bool replica_mode) const {
  // Replicas (replica_mode; segments_fuse) run as one system: their atoms one after another in
  // the device arrays, each replica binned in its own cell by the list (no pair joins two, each
  // rebuilds its list on its own), its beads and fixed atoms renumbered, its own Langevin key,
  // and every total (virial, energy, kinetic sums, bath) summed per replica; each replica's
  // results are then the same bits whichever replicas run beside it. Otherwise (one job) every
  // launch is the single system's.
  const DeviceSegment& seg = *jobs[0].segment;  // (what the replicas share)
  const int R = static_cast<int>(jobs.size());
  if (!replica_mode && R != 1) throw RuntimeError("GpuNEP::run_segments: several jobs need replica mode");
  const ThermostatKind kind = seg.thermostat;
  const bool bussi = kind == ThermostatKind::Bussi, berendsen = kind == ThermostatKind::Berendsen;
  const bool langevin = kind == ThermostatKind::Langevin, nhc = kind == ThermostatKind::NoseHooverChain;
  const bool obabo = langevin && seg.splitting == LangevinSplitting::OBABO;
  std::vector<const System*> systems;
  for (const SegmentJob& j : jobs) {
    check_device_segment(*j.segment, *j.thermostat, j.system->size(), "GpuNEP");
    systems.push_back(j.system);
  }
  // (positions stay unwrapped, as in every segment: the list's displacement check follows atoms
  // across the boundary)
  const ReplicaAtoms atoms = replica_atoms(cpu_, systems, replica_mode, false);
  const std::vector<int>& starts = atoms.starts;
  const std::vector<int>& types = atoms.types;
  System& system = *jobs[0].system;
  const bool live_cell = seg.updates_cell(), barostat = seg.cell.barostat != 0;
  if (live_cell && !(system.box.periodic(0) && system.box.periodic(1) && system.box.periodic(2)))
    throw InputError("GpuNEP: a barostat or deformation on the device needs a cell periodic along all three axes");
  const int draws_per_step = kernels::barostat_draws(seg.cell);
  const int chain_length = static_cast<int>(jobs[0].thermostat->chain_velocity.size());
  for (const SegmentJob& j : jobs)
    if (static_cast<int>(j.thermostat->chain_velocity.size()) != chain_length)
      throw InputError("GpuNEP: replicas fused into one segment need Nose-Hoover chains of one length");
  const std::vector<long>& record_steps = seg.record_steps;
  // The replicas' velocities and forces one after another, and their constraints renumbered.
  std::vector<double> velocities, forces;
  std::vector<unsigned long long> seeds;
  std::vector<double> replica_nf, bussi_draws;  // (per replica; the draws 2 per step, replica after replica)
  std::vector<int> bead_bath_slot;  // (bead b's bath entry: its index within its replica, from the replica's first atom)
  DeviceSegment constraints;
  std::vector<char> forces_valid;  // (per replica: its host forces are current)
  if (replica_mode) {
    bool any_fixed = false;
    for (const SegmentJob& j : jobs) any_fixed |= !j.segment->moving.empty();
    for (const SegmentJob& j : jobs) {
      const System& sys = *j.system;
      const DeviceSegment& sg = *j.segment;
      const int offset = static_cast<int>(constraints.bead_mass.size());
      const int first_atom = static_cast<int>(velocities.size() / 3);
      if (sys.velocities.size() == sys.positions.size())
        velocities.insert(velocities.end(), sys.velocities.begin(), sys.velocities.end());
      else
        velocities.insert(velocities.end(), sys.positions.size(), 0.0);
      const bool valid = j.forces_valid && j.out->forces.size() == sys.positions.size();
      forces_valid.push_back(valid);
      if (valid)
        forces.insert(forces.end(), j.out->forces.begin(), j.out->forces.end());
      else
        forces.insert(forces.end(), sys.positions.size(), 0.0);
      if (any_fixed) {
        if (sg.moving.empty())
          constraints.moving.insert(constraints.moving.end(), sys.size(), char(1));
        else
          constraints.moving.insert(constraints.moving.end(), sg.moving.begin(), sg.moving.end());
      }
      for (int b : sg.bead_of) constraints.bead_of.push_back(b + offset);
      for (size_t b = 0; b < sg.bead_mass.size(); ++b) bead_bath_slot.push_back(first_atom + static_cast<int>(b));
      constraints.bead_mass.insert(constraints.bead_mass.end(), sg.bead_mass.begin(), sg.bead_mass.end());
      seeds.push_back(sg.seed);
      replica_nf.push_back(double(sg.degrees_of_freedom));
      bussi_draws.insert(bussi_draws.end(), sg.bussi_draws.begin(), sg.bussi_draws.end());
    }
  }
  const DeviceSegment& cons = replica_mode ? constraints : seg;
  std::lock_guard<std::mutex> lock(mutex_);
  Impl& d = *impl_;
  const int n = starts.back();
  cudaStream_t s = d.stream.get();
  const unsigned grid = cuda::blocks_for(n, kThreads);
  const double dt = seg.time_step;
  const int num_beads = upload_constraints(d, cons, n);
  const unsigned bead_grid = cuda::blocks_for(std::max(num_beads, 1), kThreads);
  const int* moving = d.moving.size() ? d.moving.data() : nullptr;

  const double c1_half = langevin ? std::exp(-0.5 * dt / seg.tau_temperature) : 0.0;
  const double c2_half = std::sqrt(1.0 - c1_half * c1_half);
  const double c1_full = langevin ? std::exp(-dt / seg.tau_temperature) : 0.0;
  const double c2_full = std::sqrt(1.0 - c1_full * c1_full);
  const double nf = double(seg.degrees_of_freedom);
  d.step.resize(1);
  // A record: the totals of each replica (record_head values each), then with forces the per-atom
  // values of all atoms.
  const long long record_head = RecordLayout::head(nhc ? chain_length : 0);
  const long long atoms_offset = R * record_head;
  const long long record_stride = atoms_offset + (seg.record_forces ? 4 * static_cast<long long>(n) : 0);
  d.record_slot.resize(1);
  d.records.reserve(size_t(record_stride) * record_steps.size());
  d.reduced.reserve(16 * size_t(R));  // the segment's totals: 16 values per replica (see below)
  if (replica_mode) {
    d.replica_starts.upload(starts, s);
    d.replica_seeds.upload(seeds, s);
    d.replica_nf.upload(replica_nf, s);
    d.bead_bath_slot.upload(bead_bath_slot, s);
  }
  const int* bath_slot = replica_mode && num_beads > 0 ? d.bead_bath_slot.data() : nullptr;
  const int* starts_dev = replica_mode ? d.replica_starts.data() : nullptr;
  const StepClock clock{d.step.data(), seg.temperature_start, seg.temperature_end,
                        static_cast<long long>(seg.run_step), static_cast<long long>(seg.run_length)};
  if (bussi) d.draws.upload(replica_mode ? bussi_draws : seg.bussi_draws, s);
  if (draws_per_step > 0) d.barostat_draws.upload(seg.barostat_draws, s);
  if (live_cell) d.cell_work.resize(CellWork::kSize);
  LiveCellScope live_scope{d.list};
  double host_virial[9];  // (the source of an asynchronous copy: lives until the segment's end)
  ForceResult& out = *jobs[0].out;
  std::vector<double> chain_host;  // (each replica's xi, then its eta)
  if (nhc)
    for (const SegmentJob& j : jobs) {
      chain_host.insert(chain_host.end(), j.thermostat->chain_velocity.begin(), j.thermostat->chain_velocity.end());
      chain_host.insert(chain_host.end(), j.thermostat->chain_position.begin(), j.thermostat->chain_position.end());
    }
  const char* graphs_env = std::getenv("NEPCG_CUDA_GRAPHS");
  const bool graphs = !(graphs_env && std::string(graphs_env) == "0");

  // A neighbour-list overflow shows only at the end of a segment: the segment is then run again
  // from the host state (unchanged until the end) with a larger list.
  for (int attempt = 0;; ++attempt) {
    if (replica_mode) {
      d.upload_atoms(atoms.positions, atoms.masses, types, true);
      d.upload_velocity_array(velocities);
    } else {
      d.upload(system, types, true, false);
      d.upload_velocities(system);
    }
    if (nhc) d.chain.upload(chain_host, s);
    d.bath.fill_zero(s);
    d.reduced.fill_zero(s);
    d.step.fill_zero(s);
    d.record_slot.fill_zero(s);
    if (replica_mode) {
      // Each replica starts from its host forces when they are current (also when the segment
      // is run again after an overflow), its list built afresh: its start does not depend on
      // the other replicas' state.
      d.list.set_replica_cells(atoms.boxes, starts, s);  // (the first update builds)
      const auto valid = [](char v) { return v != 0; };
      if (std::all_of(forces_valid.begin(), forces_valid.end(), valid)) {
        d.upload_forces(forces);
        d.list.update(d.x.data(), d.y.data(), d.z.data(), n, true, s);
      } else {
        d.launch_forces(true, false);
        if (std::any_of(forces_valid.begin(), forces_valid.end(), valid)) {
          std::vector<double> computed;
          d.download_forces(computed);  // (synchronises)
          for (int r = 0; r < R; ++r)
            if (!forces_valid[r])
              std::copy(computed.begin() + 3 * size_t(starts[r]), computed.begin() + 3 * size_t(starts[r + 1]),
                        forces.begin() + 3 * size_t(starts[r]));
          d.upload_forces(forces);
        }
      }
    } else {
      const bool rebin = d.list.set_cell(system.box, n);
      if (live_cell) {
        // The cell lives on the device from here on: a fresh list in it, and the virial the first
        // step's barostat reads (the host's, with its forces, when they are current).
        d.list.begin_live_cell(s);
        d.cell_work.fill_zero(s);
        if (jobs[0].forces_valid && attempt == 0) {
          d.upload_forces(out.forces);
          d.list.update(d.x.data(), d.y.data(), d.z.data(), n, true, s);
          for (int k = 0; k < 9; ++k) host_virial[k] = out.virial[k / 3][k % 3];
          NEPCG_CUDA_CHECK(cudaMemcpyAsync(d.cell_work.data() + CellWork::kVirial, host_virial, sizeof(host_virial),
                                           cudaMemcpyHostToDevice, s));
        } else {
          d.launch_forces(true, barostat);
          if (barostat) d.launch_column_sums(d.virial.data(), 9, d.cell_work.data() + CellWork::kVirial, nullptr, 0);
        }
      } else if (jobs[0].forces_valid && !rebin && attempt == 0) {
        d.upload_forces(out.forces);
        d.list.update(d.x.data(), d.y.data(), d.z.data(), n, false, s);
      } else {
        d.launch_forces(true, false);
      }
    }
    const ReplicaNoise noise = replica_mode ? ReplicaNoise{d.replica_seeds.data(), d.list.replica_of(),
                                                          d.replica_starts.data()}
                                            : ReplicaNoise{};
    const ReplicaThermostat rt = replica_mode ? ReplicaThermostat{d.replica_nf.data(), d.replica_starts.data(),
                                                                  d.list.replica_of(), 2LL * seg.steps}
                                              : ReplicaThermostat{};
    // Kernels of one step. kick: v += F/m h, then (drift_h != 0 and no bead constraint) the fused
    // drift x += v drift_h; with beads the constraint comes between the two.
    auto kick = [&](double h, double drift_h) {
      const bool fuse_drift = num_beads == 0;  // (no constraint between kick or O step and drift)
      NEPCG_LAUNCH(kick_drift, grid, kThreads, 0, s)(n, h, fuse_drift ? drift_h : 0.0, moving, d.accel.data(), d.fx.data(),
                                                     d.fy.data(), d.fz.data(), d.vx.data(), d.vy.data(), d.vz.data(),
                                                     d.x.data(), d.y.data(), d.z.data());
      if (fuse_drift) return;
      NEPCG_LAUNCH(constrain_beads, bead_grid, kThreads, 0, s)(num_beads, d.bead_start.data(), d.bead_atoms.data(),
                                                               d.bead_mass.data(), d.mass.data(), d.vx.data(),
                                                               d.vy.data(), d.vz.data(), nullptr, nullptr);
      if (drift_h != 0.0)
        NEPCG_LAUNCH(drift, grid, kThreads, 0, s)(n, drift_h, d.vx.data(), d.vy.data(), d.vz.data(), d.x.data(),
                                                  d.y.data(), d.z.data());
    };
    // Langevin O step (half: Philox counter offset), its kinetic energy change booked in the bath;
    // then (drift_h != 0) x += v drift_h, fused when there is no bead constraint.
    auto ornstein_uhlenbeck = [&](double c1, double c2, int half, double drift_h) {
      const bool fuse_drift = num_beads == 0;  // (no constraint between kick or O step and drift)
      NEPCG_LAUNCH(langevin_o, grid, kThreads, 0, s)(n, c1, c2, clock, half, seg.seed, noise, moving, d.mass.data(),
                                                     d.vx.data(), d.vy.data(), d.vz.data(), d.bath.data(),
                                                     fuse_drift ? drift_h : 0.0, d.x.data(), d.y.data(), d.z.data());
      if (fuse_drift) return;
      // The noise acts on the unconstrained degrees of freedom only; what the constraint
      // removes of it is the bath's too (the host books k0 - k after both).
      NEPCG_LAUNCH(constrain_beads, bead_grid, kThreads, 0, s)(num_beads, d.bead_start.data(), d.bead_atoms.data(),
                                                               d.bead_mass.data(), d.mass.data(), d.vx.data(),
                                                               d.vy.data(), d.vz.data(), d.bath.data(), bath_slot);
      if (drift_h != 0.0)
        NEPCG_LAUNCH(drift, grid, kThreads, 0, s)(n, drift_h, d.vx.data(), d.vy.data(), d.vz.data(), d.x.data(),
                                                  d.y.data(), d.z.data());
    };
    auto kinetic = [&] {
      NEPCG_LAUNCH(kinetic_energy, R, kReduceThreads, 0, s)(n, rt, d.mass.data(), d.vx.data(), d.vy.data(),
                                                            d.vz.data(), d.reduced.data() + 12);
    };
    auto chain_half = [&] {
      kinetic();
      NEPCG_LAUNCH(nose_hoover_half, R, 1, 0, s)(chain_length, nf, rt, seg.tau_temperature * seg.tau_temperature, dt,
                                                 clock, d.chain.data(), d.reduced.data() + 12);
      NEPCG_LAUNCH(scale_velocities, grid, kThreads, 0, s)(n, d.reduced.data() + 12, rt, nullptr, d.vx.data(),
                                                           d.vy.data(), d.vz.data());
    };
    // The cell step between the drift and the forces (a live cell only).
    auto update_cell = [&] {
      double* work = d.cell_work.data();
      NEPCG_LAUNCH(cell_step, 1, kReduceThreads, 0, s)(
          seg.cell, clock, dt, draws_per_step > 0 ? d.barostat_draws.data() : nullptr, draws_per_step, n, d.mass.data(),
          d.vx.data(), d.vy.data(), d.vz.data(), d.list.live_cell(), work);
      NEPCG_LAUNCH(scale_atoms, grid, kThreads, 0, s)(n, work, d.x.data(), d.y.data(), d.z.data(), d.vx.data(),
                                                      d.vy.data(), d.vz.data());
    };
    // One MD step as a fixed launch sequence (the host loop's order); every step but a last one
    // that computes the virial is replayed from a CUDA graph (one launch per step).
    auto launch_step = [&](bool with_virial) {
      if (nhc) chain_half();
      if (obabo) ornstein_uhlenbeck(c1_half, c2_half, 0, 0.0);
      if (langevin && !obabo) {
        kick(0.5 * dt, 0.5 * dt);
        ornstein_uhlenbeck(c1_full, c2_full, 0, 0.5 * dt);
      } else {
        kick(0.5 * dt, dt);
      }
      if (live_cell) update_cell();
      d.launch_forces(false, with_virial || barostat);
      if (barostat)  // (the virial the next step's barostat reads)
        d.launch_column_sums(d.virial.data(), 9, d.cell_work.data() + CellWork::kVirial, nullptr, 0);
      kick(0.5 * dt, 0.0);
      if (nhc) chain_half();
      if (obabo) ornstein_uhlenbeck(c1_half, c2_half, 1, 0.0);
      if (bussi || berendsen) {
        kinetic();
        NEPCG_LAUNCH(rescale_factor, R, 1, 0, s)(bussi ? 1 : 0, nf, rt, dt / seg.tau_temperature, clock,
                                                 bussi ? d.draws.data() : nullptr, d.reduced.data() + 12);
        NEPCG_LAUNCH(scale_velocities, grid, kThreads, 0, s)(n, d.reduced.data() + 12, rt, moving, d.vx.data(),
                                                             d.vy.data(), d.vz.data());
      }
      NEPCG_LAUNCH(advance_step, 1, 1, 0, s)(d.step.data());
      NEPCG_CUDA_LAUNCHED("MD step");
    };
    // A recorded step: the step with the virial, then its totals (the same sums the host reads at
    // the end of a segment), with record_state the kinetic and thermostat state, with
    // record_forces the per-atom forces and site energies, into the next record (what a segment
    // records only where its observers read it: the kinetic sums cost a one-block reduction).
    auto launch_recorded_step = [&] {
      launch_step(true);
      const long long* slot = d.record_slot.data();
      double* rec = d.records.data();
      auto sums = [&](const double* data, int columns, int at) {
        d.launch_replica_column_sums(data, columns, rec + at, slot, record_stride, starts_dev, R, record_head);
      };
      sums(d.virial.data(), 9, RecordLayout::kVirial);
      if (!seg.record_forces) sums(d.energy.data(), 1, RecordLayout::kEnergy);  // (with forces the host sums the site energies)
      if (seg.record_state) {
        sums(d.bath.data(), 1, RecordLayout::kBath);
        NEPCG_LAUNCH(record_kinetic, R, kReduceThreads, 0, s)(n, starts_dev, record_head, d.mass.data(), d.vx.data(),
                                                              d.vy.data(), d.vz.data(), slot, record_stride, rec);
        NEPCG_LAUNCH(record_thermostat, R, 1, 0, s)(d.reduced.data() + 12, nhc ? d.chain.data() : nullptr,
                                                    nhc ? chain_length : 0, slot, record_stride, record_head, rec);
      }
      if (live_cell) NEPCG_LAUNCH(record_cell, 1, 1, 0, s)(d.list.live_cell(), slot, record_stride, rec);
      if (seg.record_forces)
        NEPCG_LAUNCH(record_forces, grid, kThreads, 0, s)(n, d.fx.data(), d.fy.data(), d.fz.data(), d.energy.data(),
                                                          slot, record_stride, atoms_offset, rec);
      NEPCG_LAUNCH(advance_step, 1, 1, 0, s)(d.record_slot.data());
      NEPCG_CUDA_LAUNCHED("recorded MD step");
    };
    // Plain steps and recorded steps each replay their own graph (when there are enough of them
    // to pay for the capture); a last step that is not recorded computes the virial when the
    // segment ends where something reads it.
    const long recorded = static_cast<long>(record_steps.size());
    const bool last_plain_with_virial =
        seg.observables && seg.steps > 0 && (record_steps.empty() || record_steps.back() != seg.steps);
    const long plain = seg.steps - recorded - (last_plain_with_virial ? 1 : 0);
    std::unique_ptr<cuda::CapturedGraph> plain_graph, recorded_graph;
    d.reserve_partial_forces();  // (replicas starting from host forces have not sized them yet)
    if (graphs && plain >= kMinGraphSteps)
      plain_graph = std::make_unique<cuda::CapturedGraph>(s, [&] { launch_step(false); });
    if (graphs && recorded >= kMinGraphSteps)
      recorded_graph = std::make_unique<cuda::CapturedGraph>(s, launch_recorded_step);
    size_t next_record = 0;
    for (long k = 1; k <= seg.steps; ++k) {
      if (next_record < record_steps.size() && record_steps[next_record] == k) {
        ++next_record;
        if (recorded_graph)
          recorded_graph->launch(s);
        else
          launch_recorded_step();
      } else if (k == seg.steps && last_plain_with_virial) {
        launch_step(true);
      } else if (plain_graph) {
        plain_graph->launch(s);
      } else {
        launch_step(false);
      }
    }
    d.list.fetch_flags(s);  // synchronises
    d.list.check_errors();
    if (!d.list.overflowed()) break;
    if (attempt > 20) throw RuntimeError("GpuNEP: the neighbour list keeps overflowing");
    d.list.grow(s);
  }

  // Results back to the host (with a live cell: the cell first).
  if (live_cell) {
    double h[9];
    d.list.end_live_cell(h, s);
    Mat3 cell{};
    for (int k = 0; k < 9; ++k) cell[k / 3][k % 3] = h[k];
    system.box = Box(cell, system.box.pbc());
  }
  // reduced (per replica r, from 16 r): [0, 9) virial, [9] Langevin bath; replica 0 (one system)
  // also [12] kinetic energy, [13] alpha, [14] rescaling bath.
  if (seg.observables && n > 0) d.launch_replica_column_sums(d.virial.data(), 9, d.reduced.data(), nullptr, 0, starts_dev, R, 16);
  d.launch_replica_column_sums(d.bath.data(), 1, d.reduced.data() + 9, nullptr, 0, starts_dev, R, 16);
  std::vector<double> red(16 * size_t(R)), all_x, all_v, all_f, all_e(n);
  d.reduced.download(red.data(), red.size(), s);
  d.download_positions_to(all_x);
  d.download_velocities_to(all_v);
  d.download_forces(all_f);
  d.energy.download(all_e.data(), n, s);
  d.stream.synchronize();
  if (nhc) {
    d.chain.download(chain_host.data(), chain_host.size(), s);
    d.stream.synchronize();
    for (int r = 0; r < R; ++r) {
      const auto xi = chain_host.begin() + 2 * chain_length * r;
      std::copy(xi, xi + chain_length, jobs[r].thermostat->chain_velocity.begin());
      std::copy(xi + chain_length, xi + 2 * chain_length, jobs[r].thermostat->chain_position.begin());
    }
  }
  for (int r = 0; r < R; ++r) {
    const SegmentJob& j = jobs[r];
    const size_t first = starts[r], count = starts[r + 1] - starts[r];
    System& sys = *j.system;
    ForceResult& o = *j.out;
    sys.positions.assign(all_x.begin() + 3 * first, all_x.begin() + 3 * (first + count));
    sys.velocities.assign(all_v.begin() + 3 * first, all_v.begin() + 3 * (first + count));
    o.forces.assign(all_f.begin() + 3 * first, all_f.begin() + 3 * (first + count));
    o.energies.assign(all_e.begin() + first, all_e.begin() + first + count);
    o.virial = Mat3{};
    if (seg.observables)
      for (int k = 0; k < 9; ++k) o.virial[k / 3][k % 3] = red[16 * r + k];
    j.thermostat->bath_energy += red[16 * r + 9] + red[16 * r + 14];
    o.energy = 0.0;
    for (size_t i = 0; i < count; ++i) o.energy += o.energies[i];
    std::fill(o.virials.begin(), o.virials.end(), 0.0);
    o.per_atom_virials = false;
    o.compute_virial = o.compute_energy = seg.observables;
  }

  // The recorded samples, in the host's layout (with forces: the energy summed over the site
  // energies in atom order, as above).
  for (const SegmentJob& j : jobs) j.records->assign(record_steps.size(), DeviceRecord{});
  if (record_steps.empty()) return;
  std::vector<double> buffer(size_t(record_stride) * record_steps.size());
  d.records.download(buffer.data(), buffer.size(), s);
  d.stream.synchronize();
  for (int q = 0; q < R; ++q) {
    const size_t first = starts[q];
    const int count = starts[q + 1] - starts[q];
    for (size_t r = 0; r < record_steps.size(); ++r) {
      const double* b = buffer.data() + r * size_t(record_stride) + q * record_head;
      DeviceRecord& rec = (*jobs[q].records)[r];
      rec.step = record_steps[r];
      rec.forces.per_atom_virials = false;
      for (int k = 0; k < 9; ++k) rec.forces.virial[k / 3][k % 3] = b[RecordLayout::kVirial + k];
      rec.forces.energy = b[RecordLayout::kEnergy];
      if (seg.record_forces) {
        const double* f = buffer.data() + r * size_t(record_stride) + atoms_offset;
        rec.forces.forces.resize(3 * size_t(count));
        rec.forces.energies.assign(f + 3 * size_t(n) + first, f + 3 * size_t(n) + first + count);
        for (int i = 0; i < count; ++i)
          for (int c = 0; c < 3; ++c) rec.forces.forces[3 * size_t(i) + c] = f[size_t(c) * n + first + i];
        rec.forces.energy = 0.0;
        for (int i = 0; i < count; ++i) rec.forces.energy += rec.forces.energies[i];
      }
      if (live_cell) {
        for (int k = 0; k < 9; ++k) rec.cell[k / 3][k % 3] = b[RecordLayout::kCell + k];
        rec.has_cell = true;
      }
      if (!seg.record_state) continue;
      rec.kinetic_energy = b[RecordLayout::kKinetic];
      for (int k = 0; k < 9; ++k) rec.kinetic[k / 3][k % 3] = b[RecordLayout::kTensor + k];
      rec.bath_energy = b[RecordLayout::kBath] + b[RecordLayout::kRescaleBath];
      if (nhc) {
        rec.chain_velocity.assign(b + RecordLayout::kChain, b + RecordLayout::kChain + chain_length);
        rec.chain_position.assign(b + RecordLayout::kChain + chain_length, b + RecordLayout::kChain + 2 * chain_length);
      }
    }
  }
}

bool GpuNEP::device_updates_cell() const {
  const char* env = std::getenv("NEPCG_DEVICE_CELL");
  return env && std::string(env) == "1";
}

}  // namespace nepcg
