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
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "../potentials/gpu_nep_impl.cuh"
#include "nepcg/kernels/philox.hpp"
#include "nepcg/kernels/thermostat.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

namespace {

constexpr int kThreads = 128;
constexpr int kReduceThreads = 1024;
constexpr long kMinGraphSteps = 4;  // fewer steps: plain launches (capture costs about one step's launches)

// v += a F dt (fixed atoms, moving[i] == 0: v = 0); then (drift_dt != 0) x += v drift_dt.
__global__ void kick_drift(int n, double kick_dt, double drift_dt, const int* moving, const double* accel,
                           const double* fx, const double* fy, const double* fz, double* vx, double* vy, double* vz,
                           double* x, double* y, double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (moving && !moving[i]) {
    vx[i] = vy[i] = vz[i] = 0.0;
    return;
  }
  const double a = accel[i] * kick_dt;
  const double u = vx[i] + a * fx[i], v = vy[i] + a * fy[i], w = vz[i] + a * fz[i];
  vx[i] = u;
  vy[i] = v;
  vz[i] = w;
  if (drift_dt != 0.0) {
    x[i] += drift_dt * u;
    y[i] += drift_dt * v;
    z[i] += drift_dt * w;
  }
}

// x += v dt (the drift of a step whose kick is followed by the bead constraint).
__global__ void drift(int n, double dt, const double* vx, const double* vy, const double* vz, double* x, double* y,
                      double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  x[i] += dt * vx[i];
  y[i] += dt * vy[i];
  z[i] += dt * vz[i];
}

// Bead constraint (Simulator::constrain_beads): thread b sums the momentum P_b of its bead's atoms
// in ascending index order (the host's order) and subtracts P_b / M_b from their velocities. With
// `bath`, the kinetic energy this removes, P_b^2 / (2 M_b), is added to bath[b] (eV): after a
// Langevin O step the host books it as energy exchanged with the bath.
__global__ void constrain_beads(int num_beads, const int* start, const int* atoms, const double* bead_mass,
                                const double* mass, double* vx, double* vy, double* vz, double* bath) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= num_beads) return;
  double p[3] = {0.0, 0.0, 0.0};
  for (int k = start[b]; k < start[b + 1]; ++k) {
    const int i = atoms[k];
    p[0] += mass[i] * vx[i];
    p[1] += mass[i] * vy[i];
    p[2] += mass[i] * vz[i];
  }
  const double M = bead_mass[b];
  const double u = p[0] / M, v = p[1] / M, w = p[2] / M;
  for (int k = start[b]; k < start[b + 1]; ++k) {
    const int i = atoms[k];
    vx[i] -= u;
    vy[i] -= v;
    vz[i] -= w;
  }
  if (bath) bath[b] += 0.5 * (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) / M * units::kMassVelocity2ToEnergy;
}

// The values that change from step to step, read on the device so that every step is the same
// launch sequence (replayable as a CUDA graph): the step index k within the segment lives in
// device memory and advance_step moves it on at the end of each step.
struct StepClock {
  const long long* step;          // device: k
  double t_start, t_end;          // thermostat target ramp over the run (K)
  long long run_step, run_length; // first step of the segment within its run, steps of the run
};

// Target temperature of step k, as the host computes it (no fused multiply-add: same bits).
__device__ inline double clock_temperature(const StepClock& c, long long k) {
  const double f = c.run_length > 0 ? double(c.run_step + k + 1) / double(c.run_length) : 1.0;
  return __dadd_rn(c.t_start, __dmul_rn(f, __dsub_rn(c.t_end, c.t_start)));
}

__global__ void advance_step(long long* step) { *step += 1; }

// Ornstein-Uhlenbeck step v = c1 v + c2 sigma xi of the moving atoms, then (drift_dt != 0)
// x += v drift_dt. The
// kinetic energy it removes is added to bath[i] (eV). Philox counter 2 k + half (half = 0, 1:
// the two O steps of OBABO).
__global__ void langevin_o(int n, double c1, double c2, StepClock clock, int half, unsigned long long seed,
                           const int* moving, const double* mass, double* vx, double* vy, double* vz, double* bath,
                           double drift_dt, double* x, double* y, double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n || (moving && !moving[i])) return;  // (a fixed atom's velocity is zero: no drift either)
  const long long k = *clock.step;
  const double kt = __dmul_rn(units::kBoltzmann, clock_temperature(clock, k));
  const unsigned long long counter = 2ULL * static_cast<unsigned long long>(k) + half;
  double g0, g1, g2, g3;
  kernels::philox_normal2(seed, static_cast<uint32_t>(i), counter, 0, g0, g1);
  kernels::philox_normal2(seed, static_cast<uint32_t>(i), counter, 1, g2, g3);
  const double m = mass[i];
  const double sigma = sqrt(kt / (m * units::kMassVelocity2ToEnergy));
  const double u0 = vx[i], v0 = vy[i], w0 = vz[i];
  const double u = c1 * u0 + c2 * sigma * g0, v = c1 * v0 + c2 * sigma * g1, w = c1 * w0 + c2 * sigma * g2;
  vx[i] = u;
  vy[i] = v;
  vz[i] = w;
  bath[i] += 0.5 * m * units::kMassVelocity2ToEnergy * ((u0 * u0 + v0 * v0 + w0 * w0) - (u * u + v * v + w * w));
  if (drift_dt != 0.0) {
    x[i] += drift_dt * u;
    y[i] += drift_dt * v;
    z[i] += drift_dt * w;
  }
}

// Kinetic energy (eV) into out[0], fixed summation order.
__global__ void kinetic_energy(int n, const double* mass, const double* vx, const double* vy, const double* vz,
                               double* out) {
  __shared__ double part[kReduceThreads];
  double s = 0.0;
  for (int i = threadIdx.x; i < n; i += kReduceThreads)
    s += mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = kReduceThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = 0.5 * part[0] * units::kMassVelocity2ToEnergy;
}

// Berendsen / Bussi factor alpha from the kinetic energy k = state[0]; state[1] = alpha,
// state[2] += energy taken out (Simulator::rescale_velocities' formulas); Bussi's two random
// numbers of step s are draws[2 s], draws[2 s + 1].
__global__ void rescale_factor(int bussi, double nf, double dt_over_tau, StepClock clock, const double* draws,
                               double* state) {
  const long long step = *clock.step;
  const double k_target =
      __dmul_rn(__dmul_rn(__dmul_rn(0.5, nf), units::kBoltzmann), clock_temperature(clock, step));
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
__global__ void nose_hoover_half(int m, double nf, double tau2, double dt, StepClock clock, double* chain,
                                 double* state) {
  const double kt = __dmul_rn(units::kBoltzmann, clock_temperature(clock, *clock.step));
  state[1] = kernels::nose_hoover_chain_half(chain, chain + m, m, 2.0 * state[0], nf, kt, tau2, dt);
}

// v *= state[1] (of the moving atoms when `moving` is given: Berendsen/Bussi, as on the CPU; the
// Nose-Hoover chain scales every atom).
__global__ void scale_velocities(int n, const double* state, const int* moving, double* vx, double* vy, double* vz) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n || (moving && !moving[i])) return;
  const double a = state[1];
  vx[i] *= a;
  vy[i] *= a;
  vz[i] *= a;
}

}  // namespace

namespace {
// The segment's fixed atoms and bead constraint to the device (empty arrays when off); returns
// the number of beads. Skipped when they are what the device already holds (a mean-force run
// hands over the same constraint every few steps).
int upload_constraints(GpuNEP::Impl& d, const DeviceSegment& seg, int n) {
  cudaStream_t s = d.stream.get();
  if (!seg.moving.empty() && seg.moving.size() != size_t(n))
    throw InputError("GpuNEP: the segment's fixed-atom mask has " + std::to_string(seg.moving.size()) +
                     " entries for " + std::to_string(n) + " atoms");
  const int nb = static_cast<int>(seg.bead_mass.size());
  if (d.uploaded_atoms == n && seg.moving == d.uploaded_moving && seg.bead_of == d.uploaded_bead_of &&
      seg.bead_mass == d.uploaded_bead_mass)
    return nb;
  d.uploaded_atoms = -1;  // (until the copies below are complete)
  d.moving.upload(std::vector<int>(seg.moving.begin(), seg.moving.end()), s);
  if (nb == 0) {
    d.bead_start.resize(0);
    d.bead_atoms.resize(0);
    d.bead_mass.resize(0);
    d.stream.synchronize();
    d.uploaded_atoms = n;
    d.uploaded_moving = seg.moving;
    d.uploaded_bead_of.clear();
    d.uploaded_bead_mass.clear();
    return 0;
  }
  if (seg.bead_of.size() != size_t(n))
    throw InputError("GpuNEP: the segment's bead indices have " + std::to_string(seg.bead_of.size()) +
                     " entries for " + std::to_string(n) + " atoms");
  std::vector<int> start(size_t(nb) + 1, 0), atoms(n);
  for (int b : seg.bead_of) {
    if (b < 0 || b >= nb) throw InputError("GpuNEP: bead index " + std::to_string(b) + " out of range");
    ++start[size_t(b) + 1];
  }
  for (int b = 0; b < nb; ++b) start[b + 1] += start[b];
  std::vector<int> fill(start.begin(), start.end() - 1);
  for (int i = 0; i < n; ++i) atoms[fill[seg.bead_of[i]]++] = i;  // ascending within each bead
  d.bead_start.upload(start, s);
  d.bead_atoms.upload(atoms, s);
  d.bead_mass.upload(seg.bead_mass, s);
  d.stream.synchronize();
  d.uploaded_atoms = n;
  d.uploaded_moving = seg.moving;
  d.uploaded_bead_of = seg.bead_of;
  d.uploaded_bead_mass = seg.bead_mass;
  return nb;
}
}  // namespace

void GpuNEP::run_device_segment(System& system, const DeviceSegment& seg, ForceResult& out, bool forces_valid,
                                ThermostatState& thermostat) const {
  const ThermostatKind kind = seg.thermostat;
  const bool bussi = kind == ThermostatKind::Bussi, berendsen = kind == ThermostatKind::Berendsen;
  const bool langevin = kind == ThermostatKind::Langevin, nhc = kind == ThermostatKind::NoseHooverChain;
  const bool obabo = langevin && seg.splitting == LangevinSplitting::OBABO;
  if (bussi && seg.bussi_draws.size() < 2 * size_t(seg.steps))
    throw InputError("GpuNEP: a Bussi segment needs 2 random numbers per step");
  const int chain_length = static_cast<int>(thermostat.chain_velocity.size());
  if (nhc && (chain_length < 1 || thermostat.chain_position.size() != size_t(chain_length)))
    throw InputError("GpuNEP: a Nose-Hoover segment needs the chain's velocities and positions");
  const std::vector<int> types = model_types(cpu_, system);
  std::lock_guard<std::mutex> lock(mutex_);
  Impl& d = *impl_;
  const int n = static_cast<int>(system.size());
  cudaStream_t s = d.stream.get();
  const unsigned grid = cuda::blocks_for(n, kThreads);
  const double dt = seg.time_step;
  const int num_beads = upload_constraints(d, seg, n);
  const unsigned bead_grid = cuda::blocks_for(std::max(num_beads, 1), kThreads);
  const int* moving = d.moving.size() ? d.moving.data() : nullptr;

  const double c1_half = langevin ? std::exp(-0.5 * dt / seg.tau_temperature) : 0.0;
  const double c2_half = std::sqrt(1.0 - c1_half * c1_half);
  const double c1_full = langevin ? std::exp(-dt / seg.tau_temperature) : 0.0;
  const double c2_full = std::sqrt(1.0 - c1_full * c1_full);
  const double nf = double(seg.degrees_of_freedom);
  d.step.resize(1);
  const StepClock clock{d.step.data(), seg.temperature_start, seg.temperature_end,
                        static_cast<long long>(seg.run_step), static_cast<long long>(seg.run_length)};
  if (bussi) d.draws.upload(seg.bussi_draws, s);
  std::vector<double> chain_host;
  if (nhc) {
    chain_host = thermostat.chain_velocity;
    chain_host.insert(chain_host.end(), thermostat.chain_position.begin(), thermostat.chain_position.end());
  }
  const char* graphs_env = std::getenv("NEPCG_CUDA_GRAPHS");
  const bool graphs = !(graphs_env && std::string(graphs_env) == "0");

  // A neighbour-list overflow shows only at the end of a segment: the segment is then run again
  // from the host state (unchanged until the end) with a larger list.
  for (int attempt = 0;; ++attempt) {
    d.upload(system, types, true, false);
    d.upload_velocities(system);
    if (nhc) d.chain.upload(chain_host, s);
    d.bath.fill_zero(s);
    d.reduced.fill_zero(s);
    d.step.fill_zero(s);
    const bool rebin = d.list.set_cell(system.box, n);
    if (forces_valid && !rebin && attempt == 0) {
      d.upload_forces(out.forces);
      d.list.update(d.x.data(), d.y.data(), d.z.data(), n, false, s);
    } else {
      d.launch_forces(true, false);
    }
    // Kernels of one step. kick: v += F/m h, then (drift_h != 0 and no bead constraint) the fused
    // drift x += v drift_h; with beads the constraint comes between the two.
    auto kick = [&](double h, double drift_h) {
      const bool fused = num_beads == 0;
      kick_drift<<<grid, kThreads, 0, s>>>(n, h, fused ? drift_h : 0.0, moving, d.accel.data(), d.fx.data(),
                                           d.fy.data(), d.fz.data(), d.vx.data(), d.vy.data(), d.vz.data(),
                                           d.x.data(), d.y.data(), d.z.data());
      if (fused) return;
      constrain_beads<<<bead_grid, kThreads, 0, s>>>(num_beads, d.bead_start.data(), d.bead_atoms.data(),
                                                     d.bead_mass.data(), d.mass.data(), d.vx.data(), d.vy.data(),
                                                     d.vz.data(), nullptr);
      if (drift_h != 0.0)
        drift<<<grid, kThreads, 0, s>>>(n, drift_h, d.vx.data(), d.vy.data(), d.vz.data(), d.x.data(), d.y.data(),
                                        d.z.data());
    };
    // Langevin O step (half: Philox counter offset), its kinetic energy change booked in the bath;
    // then (drift_h != 0) x += v drift_h, fused when there is no bead constraint.
    auto ornstein_uhlenbeck = [&](double c1, double c2, int half, double drift_h) {
      const bool fused = num_beads == 0;
      langevin_o<<<grid, kThreads, 0, s>>>(n, c1, c2, clock, half, seg.seed, moving, d.mass.data(), d.vx.data(),
                                           d.vy.data(), d.vz.data(), d.bath.data(), fused ? drift_h : 0.0,
                                           d.x.data(), d.y.data(), d.z.data());
      if (fused) return;
      // The noise acts on the unconstrained degrees of freedom only; what the constraint
      // removes of it is the bath's too (the host books k0 - k after both).
      constrain_beads<<<bead_grid, kThreads, 0, s>>>(num_beads, d.bead_start.data(), d.bead_atoms.data(),
                                                     d.bead_mass.data(), d.mass.data(), d.vx.data(), d.vy.data(),
                                                     d.vz.data(), d.bath.data());
      if (drift_h != 0.0)
        drift<<<grid, kThreads, 0, s>>>(n, drift_h, d.vx.data(), d.vy.data(), d.vz.data(), d.x.data(), d.y.data(),
                                        d.z.data());
    };
    auto kinetic = [&] {
      kinetic_energy<<<1, kReduceThreads, 0, s>>>(n, d.mass.data(), d.vx.data(), d.vy.data(), d.vz.data(),
                                                  d.reduced.data() + 12);
    };
    auto chain_half = [&] {
      kinetic();
      nose_hoover_half<<<1, 1, 0, s>>>(chain_length, nf, seg.tau_temperature * seg.tau_temperature, dt, clock,
                                       d.chain.data(), d.reduced.data() + 12);
      scale_velocities<<<grid, kThreads, 0, s>>>(n, d.reduced.data() + 12, nullptr, d.vx.data(), d.vy.data(),
                                                 d.vz.data());
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
      d.launch_forces(false, with_virial);
      kick(0.5 * dt, 0.0);
      if (nhc) chain_half();
      if (obabo) ornstein_uhlenbeck(c1_half, c2_half, 1, 0.0);
      if (bussi || berendsen) {
        kinetic();
        rescale_factor<<<1, 1, 0, s>>>(bussi ? 1 : 0, nf, dt / seg.tau_temperature, clock,
                                       bussi ? d.draws.data() : nullptr, d.reduced.data() + 12);
        scale_velocities<<<grid, kThreads, 0, s>>>(n, d.reduced.data() + 12, moving, d.vx.data(), d.vy.data(),
                                                   d.vz.data());
      }
      advance_step<<<1, 1, 0, s>>>(d.step.data());
      NEPCG_CUDA_LAUNCHED("MD step");
    };
    const long with_virial = seg.observables && seg.steps > 0 ? 1 : 0;
    const long repeated = seg.steps - with_virial;
    if (graphs && repeated >= kMinGraphSteps) {
      const cuda::CapturedGraph step(s, [&] { launch_step(false); });
      for (long k = 0; k < repeated; ++k) step.launch(s);
    } else {
      for (long k = 0; k < repeated; ++k) launch_step(false);
    }
    if (with_virial) launch_step(true);
    d.list.fetch_flags(s);  // synchronises
    d.list.check_errors();
    if (!d.list.overflowed()) break;
    if (attempt > 20) throw RuntimeError("GpuNEP: the neighbour list keeps overflowing");
    d.list.grow(s);
  }

  // Results back to the host.
  d.download_positions(system);
  d.download_velocities(system);
  d.download_forces(out.forces);
  out.energies.resize(n);
  d.energy.download(out.energies.data(), n, s);
  // reduced: [0, 9) virial, [9] Langevin bath, [12] kinetic energy, [13] alpha, [14] rescaling bath.
  if (seg.observables && n > 0) d.launch_column_sums(d.virial.data(), 9, 0);
  d.launch_column_sums(d.bath.data(), 1, 9);
  double red[16];
  d.reduced.download(red, 16, s);
  d.stream.synchronize();
  out.virial = Mat3{};
  if (seg.observables)
    for (int k = 0; k < 9; ++k) out.virial[k / 3][k % 3] = red[k];
  thermostat.bath_energy += red[9] + red[14];
  if (nhc) {
    d.chain.download(chain_host.data(), chain_host.size(), s);
    d.stream.synchronize();
    std::copy(chain_host.begin(), chain_host.begin() + chain_length, thermostat.chain_velocity.begin());
    std::copy(chain_host.begin() + chain_length, chain_host.end(), thermostat.chain_position.begin());
  }
  out.energy = 0.0;
  for (int i = 0; i < n; ++i) out.energy += out.energies[i];
  std::fill(out.virials.begin(), out.virials.end(), 0.0);
  out.per_atom_virials = false;
  out.compute_virial = out.compute_energy = seg.observables;
}

}  // namespace nepcg
