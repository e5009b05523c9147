// MD segments on the GPU (GpuNEP::run_device_segment): velocity Verlet with the thermostats the
// CPU Simulator applies in the same order (thermostats.cpp, simulator.cpp), with every array on the
// device and no host synchronisation between the first and the last step:
//   NVE / Berendsen / Bussi:  kick(dt/2) drift(dt) forces kick(dt/2) [rescale]
//   Langevin BAOAB:           kick(dt/2) drift(dt/2) O(dt) drift(dt/2) forces kick(dt/2)
//   Langevin OBABO:           O(dt/2) kick(dt/2) drift(dt) forces kick(dt/2) O(dt/2)
// The Langevin noise comes from Philox4x32-10 (kernels/philox.hpp; key = segment seed, counter =
// step and atom), so a segment replays identically after a neighbour-list overflow. Bussi's two random
// numbers per step are drawn by the Simulator's generator (the same stream as on the CPU).
// Every step is the same launch sequence (per-step values are read on the device), captured once
// per segment as a CUDA graph and replayed; NEPCG_CUDA_GRAPHS=0 launches each kernel instead
// (same kernels, same order: the same bits).
#include <cmath>
#include <cstdlib>
#include <string>

#include "../potentials/gpu_nep_impl.cuh"
#include "nepcg/kernels/philox.hpp"
#include "nepcg/units.hpp"

namespace nepcg {

namespace {

constexpr int kThreads = 128;
constexpr int kReduceThreads = 1024;
constexpr long kMinGraphSteps = 4;  // fewer steps: plain launches (capture costs about one step's launches)

// v += a F dt; then (drift_dt > 0) x += v drift_dt.
__global__ void kick_drift(int n, double kick_dt, double drift_dt, const double* accel, const double* fx,
                           const double* fy, const double* fz, double* vx, double* vy, double* vz, double* x,
                           double* y, double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
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

// Ornstein-Uhlenbeck step v = c1 v + c2 sigma xi, then (drift_dt > 0) x += v drift_dt. The
// kinetic energy it removes is added to bath[i] (eV). Philox counter 2 k + half (half = 0, 1:
// the two O steps of OBABO).
__global__ void langevin_o(int n, double c1, double c2, StepClock clock, int half, unsigned long long seed,
                           const double* mass, double* vx, double* vy, double* vz, double* bath, double drift_dt,
                           double* x, double* y, double* z) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
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
// state[2] += energy taken out. Same formulas as Simulator::rescale_velocities; Bussi's two
// random numbers of step s are draws[2 s], draws[2 s + 1].
__global__ void rescale_factor(int bussi, double nf, double dt_over_tau, StepClock clock, const double* draws,
                               double* state) {
  const long long step = *clock.step;
  const double k_target =
      __dmul_rn(__dmul_rn(__dmul_rn(0.5, nf), units::kBoltzmann), clock_temperature(clock, step));
  const double r1 = bussi ? draws[2 * step] : 0.0, chi2 = bussi ? draws[2 * step + 1] : 0.0;
  const double k = state[0];
  double alpha = 1.0;
  if (k > 0) {
    if (!bussi) {
      alpha = sqrt(fmax(0.0, 1.0 + dt_over_tau * (k_target / k - 1.0)));
    } else {
      const double c = exp(-dt_over_tau);
      const double a2 = c + (1.0 - c) * (chi2 + r1 * r1) * k_target / (nf * k) +
                        2.0 * r1 * sqrt(c * (1.0 - c) * k_target / (nf * k));
      alpha = sqrt(a2);
      if (r1 + sqrt(c * nf * k / ((1.0 - c) * k_target)) < 0) alpha = -alpha;
    }
    state[2] += k * (1.0 - alpha * alpha);
  }
  state[1] = alpha;
}

__global__ void scale_velocities(int n, const double* state, double* vx, double* vy, double* vz) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double a = state[1];
  vx[i] *= a;
  vy[i] *= a;
  vz[i] *= a;
}

}  // namespace

void GpuNEP::run_device_segment(System& system, const DeviceSegment& seg, ForceResult& out, bool forces_valid,
                                double& bath_energy) const {
  const ThermostatKind kind = seg.thermostat;
  if (kind == ThermostatKind::NoseHooverChain)
    throw InputError("GpuNEP: Nose-Hoover chains run on the CPU integrator (not in device segments)");
  const bool bussi = kind == ThermostatKind::Bussi, berendsen = kind == ThermostatKind::Berendsen;
  const bool langevin = kind == ThermostatKind::Langevin;
  const bool obabo = langevin && seg.splitting == LangevinSplitting::OBABO;
  if (bussi && seg.bussi_draws.size() < 2 * size_t(seg.steps))
    throw InputError("GpuNEP: a Bussi segment needs 2 random numbers per step");
  const std::vector<int> types = model_types(cpu_, system);
  std::lock_guard<std::mutex> lock(mutex_);
  Impl& d = *impl_;
  const int n = static_cast<int>(system.size());
  cudaStream_t s = d.stream.get();
  const unsigned grid = cuda::blocks_for(n, kThreads);
  const double dt = seg.time_step;

  const double c1_half = langevin ? std::exp(-0.5 * dt / seg.tau_temperature) : 0.0;
  const double c2_half = std::sqrt(1.0 - c1_half * c1_half);
  const double c1_full = langevin ? std::exp(-dt / seg.tau_temperature) : 0.0;
  const double c2_full = std::sqrt(1.0 - c1_full * c1_full);
  d.step.resize(1);
  const StepClock clock{d.step.data(), seg.temperature_start, seg.temperature_end,
                        static_cast<long long>(seg.run_step), static_cast<long long>(seg.run_length)};
  if (bussi) d.draws.upload(seg.bussi_draws, s);
  const char* graphs_env = std::getenv("NEPCG_CUDA_GRAPHS");
  const bool graphs = !(graphs_env && std::string(graphs_env) == "0");

  // A neighbour-list overflow shows only at the end of a segment: the segment is then run again
  // from the host state (unchanged until the end) with a larger list.
  for (int attempt = 0;; ++attempt) {
    d.upload(system, types, true, false);
    d.upload_velocities(system);
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
    // One MD step as a fixed launch sequence; every step but a last one that computes the virial
    // is replayed from a CUDA graph (one launch per step instead of ~14).
    auto launch_step = [&](bool with_virial) {
      if (obabo)
        langevin_o<<<grid, kThreads, 0, s>>>(n, c1_half, c2_half, clock, 0, seg.seed, d.mass.data(), d.vx.data(),
                                             d.vy.data(), d.vz.data(), d.bath.data(), 0.0, nullptr, nullptr,
                                             nullptr);
      if (langevin && !obabo) {
        kick_drift<<<grid, kThreads, 0, s>>>(n, 0.5 * dt, 0.5 * dt, d.accel.data(), d.fx.data(), d.fy.data(),
                                             d.fz.data(), d.vx.data(), d.vy.data(), d.vz.data(), d.x.data(),
                                             d.y.data(), d.z.data());
        langevin_o<<<grid, kThreads, 0, s>>>(n, c1_full, c2_full, clock, 0, seg.seed, d.mass.data(), d.vx.data(),
                                             d.vy.data(), d.vz.data(), d.bath.data(), 0.5 * dt, d.x.data(),
                                             d.y.data(), d.z.data());
      } else {
        kick_drift<<<grid, kThreads, 0, s>>>(n, 0.5 * dt, dt, d.accel.data(), d.fx.data(), d.fy.data(),
                                             d.fz.data(), d.vx.data(), d.vy.data(), d.vz.data(), d.x.data(),
                                             d.y.data(), d.z.data());
      }
      d.launch_forces(false, with_virial);
      kick_drift<<<grid, kThreads, 0, s>>>(n, 0.5 * dt, 0.0, d.accel.data(), d.fx.data(), d.fy.data(), d.fz.data(),
                                           d.vx.data(), d.vy.data(), d.vz.data(), nullptr, nullptr, nullptr);
      if (obabo)
        langevin_o<<<grid, kThreads, 0, s>>>(n, c1_half, c2_half, clock, 1, seg.seed, d.mass.data(), d.vx.data(),
                                             d.vy.data(), d.vz.data(), d.bath.data(), 0.0, nullptr, nullptr,
                                             nullptr);
      if (bussi || berendsen) {
        kinetic_energy<<<1, kReduceThreads, 0, s>>>(n, d.mass.data(), d.vx.data(), d.vy.data(), d.vz.data(),
                                                    d.reduced.data() + 12);
        rescale_factor<<<1, 1, 0, s>>>(bussi ? 1 : 0, double(seg.degrees_of_freedom), dt / seg.tau_temperature,
                                       clock, bussi ? d.draws.data() : nullptr, d.reduced.data() + 12);
        scale_velocities<<<grid, kThreads, 0, s>>>(n, d.reduced.data() + 12, d.vx.data(), d.vy.data(), d.vz.data());
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
    d.list.grow();
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
  bath_energy += red[9] + red[14];
  out.energy = 0.0;
  for (int i = 0; i < n; ++i) out.energy += out.energies[i];
  std::fill(out.virials.begin(), out.virials.end(), 0.0);
  out.per_atom_virials = false;
  out.compute_virial = out.compute_energy = seg.observables;
}

}  // namespace nepcg
