// NEP evaluation on the GPU. Two kernels, no atomics (deterministic):
//   site kernel:   pair terms of every neighbour -> descriptor -> network: site energy U_i and the
//                  gradients; then one partial force f_ij = dU_i/dr_ij per list entry (+ ZBL); a warp
//                  (or half a warp) per atom (nep_warp_kernel.cuh), or one thread per atom
//                  (nep_sites) for models the warp kernel does not take;
//   gather_forces: F_i = sum_j (f_ij - f_ji) through the list's reverse entries, and the per-atom
//                  virial W_i = sum_j r_ij (x) f_ji when asked (a group of 8-32 lanes per atom,
//                  cuda::lanes_per_site, summed by shuffles in a fixed order).
// The maths are the NEPCG_HD functions of nepcg/kernels/nep_site.hpp that the CPU reference uses.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>

#include "gpu_nep_impl.cuh"
#include "nepcg/units.hpp"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/kernels/zbl.hpp"
#include "nep_warp_kernel.cuh"

namespace nepcg {

namespace {
// Index of the value of environment variable `name` in `choices` (unset or empty: the first);
// anything else is an InputError "<name> must be <explained>; got '<value>'".
int environment_choice(const char* name, std::initializer_list<const char*> choices, const char* explained) {
  const char* env = std::getenv(name);
  const std::string value = env ? env : "";
  if (value.empty()) return 0;
  int index = 0;
  for (const char* choice : choices) {
    if (value == choice) return index;
    ++index;
  }
  throw InputError(std::string(name) + " must be " + explained + "; got '" + value + "'");
}
}  // namespace

int gpu::site_lanes_from_env() {
  return environment_choice("NEPCG_SITE_LANES", {"32", "16"}, "32 (one warp per atom) or 16 (two atoms per warp)") == 0
             ? 32
             : 16;
}

bool gpu::site_bin_order_from_env() {
  return environment_choice("NEPCG_SITE_ORDER", {"index", "bins"},
                            "'index' (atoms in input order) or 'bins' (atoms in the neighbour list's bin order)") == 1;
}

bool gpu::site_skip_skin_from_env() {
  return environment_choice("NEPCG_SITE_SKIN", {"keep", "skip"},
                            "'keep' (every neighbour-list entry) or 'skip' (only the entries inside the cutoffs)") == 1;
}

using kernels::NepView;

namespace {

constexpr int kThreads = 64;
constexpr int kReduceThreads = 1024;

// Atom-per-thread kernel for models the warp kernel does not take (l_max > 4, two hidden layers):
// the CPU's cached-terms functions, with S and dU/dS of each atom in global scratch.
__global__ void __launch_bounds__(kThreads) nep_sites(NepView p, gpu::ListPairs pairs, const int* type, double* sums,
                                                      double* gradients, double* energy, double* pf) {
  const int n = pairs.n;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int a = type[i];
  const int size_a = kernels::angular_gradient_size(p);
  double* S = sums + size_t(i) * size_a;
  double* dUdS = gradients + size_t(i) * size_a;
  double q[kernels::kMaxDim];
  for (int d = 0; d < p.dim; ++d) q[d] = 0.0;
  for (int k = 0; k < size_a; ++k) S[k] = 0.0;
  double t[kernels::kMaxPairTerms];
  double e_zbl = 0.0;
  const int count = pairs.count(i);
  for (int k = 0; k < count; ++k) {
    const int e = pairs.entry(i, k), b = type[pairs.neighbor(e)];
    double r[3];
    pairs.vector(i, e, r);
    const double d = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    const int mask = kernels::pair_terms(p, a, b, r, d, t);
    kernels::accumulate_pair_terms(p, mask, t, q, S);
    if (p.zbl && (mask & 2)) {
      double phi, dphi;
      kernels::zbl_pair(p, a, b, d, phi, dphi);
      e_zbl += 0.5 * phi;
    }
  }
  double Fp[kernels::kMaxN];
  energy[i] = kernels::site_energy(p, a, q, S, Fp, dUdS) + e_zbl;
  for (int k = 0; k < count; ++k) {
    const int e = pairs.entry(i, k), b = type[pairs.neighbor(e)];
    double r[3];
    pairs.vector(i, e, r);
    const double d = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    double f[3] = {0.0, 0.0, 0.0};
    const int mask = kernels::pair_terms(p, a, b, r, d, t);
    if (mask) kernels::partial_force_from_terms(p, mask, t, r, d, Fp, dUdS, f);
    if (p.zbl && (mask & 2)) kernels::add_zbl_partial_force(p, a, b, r, d, f);
    gpu::store_entry(pf, e, f[0], f[1], f[2]);
  }
}

// F_i = sum_j (f_ij - f_ji) and W_i = sum_j r_ij (x) f_ji with `group` lanes per atom (see
// cuda::lanes_per_site): lane l takes entries l, l + group, ... and the group sums its parts.
// Partial forces interleaved (gpu::entry_values) in S (double, or float from the single-precision
// site kernel), summed in double.
template <class S>
__global__ void gather_forces(gpu::ListPairs pairs, const int* rev, int group, const S* pf, double* fx, double* fy,
                              double* fz, double* virial) {
  const int n = pairs.n;
  const long t = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int i = static_cast<int>(t / group), lane = static_cast<int>(t % group);
  double F[3] = {0.0, 0.0, 0.0}, W[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (i < n) {  // (no early return: every lane of the warp takes part in the group sums)
    const int count = pairs.count(i);
    for (int k = lane; k < count; k += group) {
      const int e = pairs.entry(i, k), r = rev[e];
      const S *ij = gpu::entry_values(pf, e), *ji = gpu::entry_values(pf, r);
      const double fji[3] = {double(ji[0]), double(ji[1]), double(ji[2])};
      F[0] += double(ij[0]) - fji[0];
      F[1] += double(ij[1]) - fji[1];
      F[2] += double(ij[2]) - fji[2];
      if (virial) {
        double rij[3];
        pairs.vector(i, e, rij);
        for (int u = 0; u < 3; ++u)
          for (int v = 0; v < 3; ++v) W[3 * u + v] += rij[u] * fji[v];
      }
    }
  }
  for (int c = 0; c < 3; ++c) F[c] = cuda::group_sum(F[c], group);
  if (virial)
    for (int c = 0; c < 9; ++c) W[c] = cuda::group_sum(W[c], group);
  if (i >= n || lane != 0) return;
  fx[i] = F[0];
  fy[i] = F[1];
  fz[i] = F[2];
  if (virial)
    for (int k = 0; k < 9; ++k) virial[size_t(k) * n + i] = W[k];
}

// Block (b, r) sums column b (n values; with `starts` only replica r's, starts[r] ... starts[r + 1])
// in a fixed order (reproducible totals) into out[r * replica_stride + b], or with a slot into
// (out + *slot * stride)[r * replica_stride + b] (a recorded sample; the slot is read on the device).
__global__ void __launch_bounds__(kReduceThreads) column_sums(const double* data, int n, double* out, const long long* slot, long long stride,
                            const int* starts, long long replica_stride) {
  NEPCG_STATIC_SHARED(double, part, kReduceThreads);
  const double* col = data + size_t(blockIdx.x) * n;
  const int begin = starts ? starts[blockIdx.y] : 0, end = starts ? starts[blockIdx.y + 1] : n;
  out += blockIdx.y * replica_stride;
  double s = 0.0;
  for (int i = begin + threadIdx.x; i < end; i += kReduceThreads) s += col[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = kReduceThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) (slot ? out + *slot * stride : out)[blockIdx.x] = part[0];
}


}  // namespace

// ------------------------------------------------------------------------------ device support

namespace cuda {
int multiprocessors() {
  int dev = 0, count = 0;
  NEPCG_CUDA_CHECK(cudaGetDevice(&dev));
  NEPCG_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev));
  return count;
}

void require_device() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw RuntimeError(std::string("CUDA: no usable GPU: ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
  }
  if (count == 0) throw RuntimeError("CUDA: no GPU found");
}
}  // namespace cuda

bool gpu_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    if (why) *why = err != cudaSuccess ? std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err)
                                       : "no CUDA device found";
    return false;
  }
  if (why) why->clear();
  return true;
}

// ------------------------------------------------------------------------------ Impl

GpuNEP::Impl::Impl(const NEP& nep, double skin, NepPrecision precision)
    : model(nep.model(), nep.tables(), stream.get()), view(model.view_with_transposed_w0()),
      list(nep.cutoff(), skin, nep.secondary_cutoff(), stream.get()) {
  int dev = 0;
  NEPCG_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop;
  NEPCG_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  device_name = prop.name;
  multiprocessors = prop.multiProcessorCount;
  reduced.resize(16);
  // The warp-per-atom kernel when the model fits its bounds (see nep_warp_kernel.cuh).
  if (precision == NepPrecision::Single) {  // (the model was checked by GpuNEP's constructor)
    model32 = std::make_unique<cuda::DeviceNepModelT<float>>(nep.model(), nep.tables(), stream.get());
    view32 = model32->view_with_transposed_w0();
    site_launch = gpu::prepare_warp_kernel<float, gpu::ListPairs>(view32, dev);
    if (!site_launch) throw RuntimeError("GpuNEP: the single-precision kernel does not fit this device's shared memory");
  } else {
    site_launch = gpu::prepare_warp_kernel<double, gpu::ListPairs>(view, dev);
  }
  if (!site_launch) {
    // The atom-per-thread kernel keeps descriptor buffers sized for the largest model on the
    // stack (16 KB per thread). Only for it: the driver reserves the stack for every thread the
    // card can hold (24 KB x 2,048 x 132 multiprocessors = 6.2 GiB on an H100), while the warp
    // kernel needs 40 bytes. Set once per process (later GpuNEPs may be built while another
    // thread captures a CUDA graph, and changing the limit can synchronise the device).
    static std::once_flag stack_limit;
    std::call_once(stack_limit, [] {
      size_t stack = 0;
      NEPCG_CUDA_CHECK(cudaDeviceGetLimit(&stack, cudaLimitStackSize));
      if (stack < 24576) NEPCG_CUDA_CHECK(cudaDeviceSetLimit(cudaLimitStackSize, 24576));
    });
  }
  site_bin_order = gpu::site_bin_order_from_env();
  site_skip_skin = gpu::site_skip_skin_from_env();
  stream.synchronize();
}

namespace {
// True when an atom lies more than 10 cell lengths outside the cell along a periodic direction
// (the device list codes pair image shifts in 8 bits, up to the wrap shifts of both atoms plus
// the bin search's reach of at most 100: such input is wrapped first).
bool far_outside_cell(const System& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const Vec3 f = s.box.to_fractional({s.positions[3 * i], s.positions[3 * i + 1], s.positions[3 * i + 2]});
    for (int d = 0; d < 3; ++d)
      if (s.box.periodic(d) && !(std::abs(f[d]) < 10.0)) return true;  // (NaN: let the wrap see it)
  }
  return false;
}
}  // namespace

ReplicaAtoms replica_atoms(const NEP& nep, const std::vector<const System*>& systems, bool state, bool wrap) {
  ReplicaAtoms a;
  for (const System* s : systems) {
    const std::vector<int> t = model_types(nep, *s);
    if (size_t(a.starts.back()) + s->size() > size_t(std::numeric_limits<int>::max() / 27))
      throw InputError("GpuNEP: too many atoms in the replicas for one launch");
    a.starts.push_back(a.starts.back() + static_cast<int>(s->size()));
    a.types.insert(a.types.end(), t.begin(), t.end());
    if (!state) continue;
    a.boxes.push_back(s->box);
    const size_t first = a.positions.size();
    a.positions.insert(a.positions.end(), s->positions.begin(), s->positions.end());
    if (wrap && s->box.any_periodic() && far_outside_cell(*s)) {
      std::vector<double> p = s->positions;
      s->box.wrap(p);
      std::copy(p.begin(), p.end(), a.positions.begin() + first);
    }
    a.masses.insert(a.masses.end(), s->masses.begin(), s->masses.end());
  }
  return a;
}

void GpuNEP::Impl::upload(const System& s, const std::vector<int>& model_types, bool all, bool wrap) {
  const std::vector<double>* pos = &s.positions;
  std::vector<double> wrapped;
  if (wrap && s.box.any_periodic() && far_outside_cell(s)) {
    wrapped = s.positions;
    s.box.wrap(wrapped);
    pos = &wrapped;
  }
  upload_atoms(*pos, s.masses, model_types, all);
}

void GpuNEP::Impl::upload_atoms(const std::vector<double>& positions, const std::vector<double>& masses,
                                const std::vector<int>& model_types, bool all) {
  const int count = static_cast<int>(model_types.size());
  cudaStream_t st = stream.get();
  if (count != n) {
    n = count;
    for (auto* a : {&x, &y, &z, &vx, &vy, &vz, &fx, &fy, &fz, &accel, &mass, &energy, &bath}) a->resize(n);
    virial.resize(9 * size_t(n));
    type.resize(n);
    uploaded_types.clear();
    uploaded_masses.clear();
    if (!site_launch) {  // per-atom buffers of the atom-per-thread kernel (the warp kernel keeps them in shared memory)
      const size_t size_a = kernels::angular_gradient_size(view);
      sums.resize(size_a * n);
      gradients.resize(size_a * n);
    }
    all = true;
  }
  host.resize(3 * size_t(n));
  stream.synchronize();  // the staging buffer may still feed an earlier copy
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < n; ++i) host[size_t(c) * n + i] = positions[3 * size_t(i) + c];
  }
  x.upload(host.data(), n, st);
  y.upload(host.data() + n, n, st);
  z.upload(host.data() + 2 * size_t(n), n, st);
  if (all && (model_types != uploaded_types || masses != uploaded_masses)) {
    type.upload(model_types, st);
    std::vector<double> m(masses.begin(), masses.end()), acc(n);
    for (int i = 0; i < n; ++i) acc[i] = units::kForceToAcceleration / m[i];
    mass.upload(m, st);
    accel.upload(acc, st);
    stream.synchronize();
    uploaded_types = model_types;
    uploaded_masses = masses;
  }
}

namespace {
void to_device_soa(cuda::Stream& stream, std::vector<double>& host, const std::vector<double>& aos, int n,
                   cuda::DeviceArray<double>& a, cuda::DeviceArray<double>& b, cuda::DeviceArray<double>& c) {
  stream.synchronize();
  host.resize(3 * size_t(n));
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < n; ++i) host[size_t(k) * n + i] = aos[3 * size_t(i) + k];
  a.upload(host.data(), n, stream.get());
  b.upload(host.data() + n, n, stream.get());
  c.upload(host.data() + 2 * size_t(n), n, stream.get());
}
void from_device_soa(cuda::Stream& stream, std::vector<double>& host, std::vector<double>& aos, int n,
                     const cuda::DeviceArray<double>& a, const cuda::DeviceArray<double>& b,
                     const cuda::DeviceArray<double>& c) {
  host.resize(3 * size_t(n));
  a.download(host.data(), n, stream.get());
  b.download(host.data() + n, n, stream.get());
  c.download(host.data() + 2 * size_t(n), n, stream.get());
  stream.synchronize();
  aos.resize(3 * size_t(n));
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < n; ++i) aos[3 * size_t(i) + k] = host[size_t(k) * n + i];
}
}  // namespace

void GpuNEP::Impl::upload_velocities(const System& s) { upload_velocity_array(s.velocities); }
void GpuNEP::Impl::upload_velocity_array(const std::vector<double>& v) {
  if (v.size() != 3 * size_t(n)) {
    std::vector<double> zero(3 * size_t(n), 0.0);
    to_device_soa(stream, host, zero, n, vx, vy, vz);
    return;
  }
  to_device_soa(stream, host, v, n, vx, vy, vz);
}
void GpuNEP::Impl::upload_forces(const std::vector<double>& f) { to_device_soa(stream, host, f, n, fx, fy, fz); }
void GpuNEP::Impl::download_positions_to(std::vector<double>& p) { from_device_soa(stream, host, p, n, x, y, z); }
void GpuNEP::Impl::download_velocities_to(std::vector<double>& v) { from_device_soa(stream, host, v, n, vx, vy, vz); }
void GpuNEP::Impl::download_forces(std::vector<double>& f) { from_device_soa(stream, host, f, n, fx, fy, fz); }

void GpuNEP::Impl::reserve_partial_forces() {
  partial.reserve(size_t(list.capacity()) * n, model32 != nullptr);
}

void GpuNEP::Impl::launch_forces(bool force_rebuild, bool with_virial) {
  if (n == 0) return;
  cudaStream_t s = stream.get();
  list.update(x.data(), y.data(), z.data(), n, force_rebuild, s);
  reserve_partial_forces();
  const cuda::LiveCell* live = list.live_cell();
  const gpu::ListPairs pairs{x.data(),       y.data(),
                             z.data(),       list.cell(),
                             list.neighbors(), list.images(),
                             list.counts(),  n,
                             list.capacity(), live ? &live->cell : list.replica_cells(),
                             list.replica_of(), site_skip_skin};
  if (site_launch) {
    gpu::SiteOutput o;
    o.energy = energy.data();
    partial.visit(model32 != nullptr, [&](auto* pf) { o.partial_forces(pf); });
    o.pass_cycles = pass_cycles;  // (null but in site_pass_cycles)
    const int* order = site_bin_order ? list.bin_order() : nullptr;  // (nullptr: atom w is the w-th)
    if (model32)
      gpu::launch_warp_sites(view32, pairs, order, n, type.data(), site_launch, 1, o, s);
    else
      gpu::launch_warp_sites(view, pairs, order, n, type.data(), site_launch, 1, o, s);
  } else {
    NEPCG_LAUNCH(nep_sites, cuda::blocks_for(n, kThreads), kThreads, 0, s)(
        view, pairs, type.data(), sums.data(), gradients.data(), energy.data(), partial.values.data());
    NEPCG_CUDA_LAUNCHED("nep_sites");
  }
  // (Replicas: a warp per atom whatever their total, so that each replica's sums do not depend on
  // the others; the lanes per atom a small system takes anyway.)
  const int group = list.replicas() > 0 ? 32 : cuda::lanes_per_site(n, multiprocessors);
  partial.visit(model32 != nullptr, [&](auto* pf) {
    NEPCG_LAUNCH(gather_forces, cuda::blocks_for(size_t(n) * group, 128), 128, 0, s)(
        pairs, list.reverse(), group, pf, fx.data(), fy.data(), fz.data(), with_virial ? virial.data() : nullptr);
  });
  NEPCG_CUDA_LAUNCHED("gather_forces");
}

void GpuNEP::Impl::forces_checked(const Box& box, bool with_virial) {
  forces_retried(list.set_cell(box, n), with_virial);
}

void GpuNEP::Impl::forces_retried(bool force_rebuild, bool with_virial) {
  launch_forces(force_rebuild, with_virial);
  for (int attempt = 0;; ++attempt) {
    list.fetch_flags(stream.get());
    list.check_errors();
    if (!list.overflowed()) return;
    if (attempt > 20) throw RuntimeError("GpuNEP: the neighbour list keeps overflowing");
    list.grow(stream.get());
    launch_forces(true, with_virial);
  }
}

void GpuNEP::Impl::launch_column_sums(const double* data, int columns, int offset) {
  launch_column_sums(data, columns, reduced.data() + offset, nullptr, 0);
}

void GpuNEP::Impl::launch_column_sums(const double* data, int columns, double* out, const long long* slot,
                                      long long stride) {
  launch_replica_column_sums(data, columns, out, slot, stride, nullptr, 1, 0);
}

void GpuNEP::Impl::launch_replica_column_sums(const double* data, int columns, double* out, const long long* slot,
                                              long long stride, const int* starts, int replicas,
                                              long long replica_stride) {
  NEPCG_LAUNCH(column_sums, dim3(columns, replicas), kReduceThreads, 0, stream.get())(data, n, out, slot, stride,
                                                                                     starts, replica_stride);
  NEPCG_CUDA_LAUNCHED("column_sums");
}

// ------------------------------------------------------------------------------ GpuNEP

GpuNEP::GpuNEP(NepModel model, double skin, NepPrecision precision)
    : cpu_(std::move(model)), skin_(skin), precision_(precision) {
  if (!(skin >= 0)) throw InputError("GpuNEP: skin must be >= 0 Å");
  if (precision == NepPrecision::Single) require_direct_kernel_model(cpu_.model(), "GpuNEP");
  cuda::require_device();
  impl_ = std::make_unique<Impl>(cpu_, skin, precision);
}

GpuNEP::GpuNEP(const std::string& path, double skin, NepPrecision precision)
    : GpuNEP(read_nep_model(path), skin, precision) {}

GpuNEP::~GpuNEP() = default;

void GpuNEP::accumulate(const System& system, const NeighborList& list, ForceResult& out) const {
  accumulate_on_device(system, list, out, false);
}

void GpuNEP::accumulate_alone(const System& system, const NeighborList& list, ForceResult& out) const {
  accumulate_on_device(system, list, out, true);
}

void GpuNEP::accumulate_on_device(const System& system, const NeighborList& list, ForceResult& out,
                                  bool fresh_list) const {
  if (list.cutoff() < cutoff() * (1 - 1e-12))
    throw InputError("NEP: the neighbour list cutoff (" + std::to_string(list.cutoff()) +
                     " Å) is shorter than the model's radial cutoff (" + std::to_string(cutoff()) + " Å)");
  const std::vector<int> types = model_types(cpu_, system);
  std::lock_guard<std::mutex> lock(mutex_);
  Impl& d = *impl_;
  const int n = static_cast<int>(system.size());
  if (n == 0) return;
  d.upload(system, types, true, true);
  const bool virial = out.compute_virial;
  if (fresh_list) {
    d.list.set_replica_cells({system.box}, {0, n}, d.stream.get());  // (the next update builds)
    d.forces_retried(true, virial);
  } else {
    d.forces_checked(system.box, virial);
  }
  // Results to the host and added to `out`: what the caller will read (an MD step of the host
  // integrator needs the forces and at most the total virial, e.g. for a barostat).
  const bool per_atom = virial && out.per_atom_virials;
  std::vector<double> f, e(out.compute_energy ? n : 0), w(per_atom ? 9 * size_t(n) : 0);
  double total[9] = {};
  d.download_forces(f);
  if (out.compute_energy) d.energy.download(e.data(), n, d.stream.get());
  if (per_atom) d.virial.download(w.data(), w.size(), d.stream.get());
  if (virial && !per_atom) {
    d.launch_column_sums(d.virial.data(), 9, 0);
    d.reduced.download(total, 9, d.stream.get());
  }
  d.stream.synchronize();
  for (int i = 0; i < n; ++i) {
    if (out.compute_energy) out.energies[i] += e[i];
    for (int c = 0; c < 3; ++c) out.forces[3 * size_t(i) + c] += f[3 * size_t(i) + c];
    if (per_atom)
      for (int k = 0; k < 9; ++k) out.virials[9 * size_t(i) + k] += w[size_t(k) * n + i];
  }
  // Without the per-atom partition only the sum over atoms counts (ForceResult): all on atom 0.
  if (virial && !per_atom)
    for (int k = 0; k < 9; ++k) out.virials[k] += total[k];
}

ForceResult GpuNEP::compute_on_device(const System& system, bool per_atom_virials, bool fresh_list) const {
  system.validate();
  ForceResult out;
  out.reset(system.size());
  out.per_atom_virials = per_atom_virials;
  NeighborList unused(cutoff(), 0.0);  // accumulate checks only its cutoff; never built
  accumulate_on_device(system, unused, out, fresh_list);
  out.sum_totals();
  return out;
}

std::vector<ForceResult> GpuNEP::compute_replicas(const std::vector<System>& systems) const {
  std::vector<ForceResult> results(systems.size());
  if (systems.empty()) return results;
  // The replicas one after another in the device arrays, each with its own cell in the list.
  std::vector<const System*> pointers;
  for (const System& s : systems) {
    s.validate();
    pointers.push_back(&s);
  }
  const ReplicaAtoms a = replica_atoms(cpu_, pointers, true, true);
  const std::vector<int>& starts = a.starts;
  const int n = starts.back();
  if (n == 0) {
    for (ForceResult& out : results) out.reset(0);
    return results;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Impl& d = *impl_;
  d.upload_atoms(a.positions, a.masses, a.types, true);
  d.list.set_replica_cells(a.boxes, starts, d.stream.get());
  d.forces_retried(true, true);
  std::vector<double> f, e(n), w(9 * size_t(n));
  d.download_forces(f);
  d.energy.download(e.data(), n, d.stream.get());
  d.virial.download(w.data(), w.size(), d.stream.get());
  d.stream.synchronize();
  for (size_t r = 0; r < systems.size(); ++r) {
    ForceResult& out = results[r];
    const int first = starts[r], count = starts[r + 1] - first;
    out.reset(count);
    for (int a = 0; a < count; ++a) {
      const int i = first + a;
      out.energies[a] = e[i];
      for (int c = 0; c < 3; ++c) out.forces[3 * size_t(a) + c] = f[3 * size_t(i) + c];
      for (int k = 0; k < 9; ++k) out.virials[9 * size_t(a) + k] = w[size_t(k) * n + i];
    }
    out.sum_totals();
  }
  return results;
}

long GpuNEP::neighbor_list_builds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  impl_->list.fetch_flags(impl_->stream.get());
  return impl_->list.builds();
}

int GpuNEP::neighbor_capacity() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return impl_->list.capacity();
}

int GpuNEP::site_lanes() const { return impl_->site_launch ? impl_->site_launch.lanes : 0; }

std::string GpuNEP::site_order() const {
  return impl_->site_launch && impl_->site_bin_order ? "bins" : "index";
}

std::string GpuNEP::site_skin() const { return impl_->site_launch && impl_->site_skip_skin ? "skip" : "keep"; }

std::string GpuNEP::device_name() const { return impl_->device_name; }

std::vector<double> GpuNEP::site_pass_cycles(const System& system, int repeats) const {
  const std::vector<int> types = model_types(cpu_, system);
  std::lock_guard<std::mutex> lock(mutex_);
  Impl& d = *impl_;
  std::vector<unsigned long long> cycles(4, 0);
  if (!d.site_launch) return std::vector<double>(4, 0.0);  // (the atom-per-thread kernel has no passes)
  d.upload(system, types, true, true);
  d.forces_checked(system.box, false);  // builds the list (and grows it if needed)
  cuda::DeviceArray<unsigned long long> counters(4);
  counters.upload(cycles.data(), 4, d.stream.get());
  d.pass_cycles = counters.data();
  for (int k = 0; k < std::max(repeats, 1); ++k) d.launch_forces(false, false);
  d.pass_cycles = nullptr;
  counters.download(cycles.data(), 4, d.stream.get());
  d.stream.synchronize();
  return std::vector<double>(cycles.begin(), cycles.end());
}

double GpuNEP::time_forces(const System& system, int repeats) const {
  const std::vector<int> types = model_types(cpu_, system);
  std::lock_guard<std::mutex> lock(mutex_);
  Impl& d = *impl_;
  d.upload(system, types, true, true);
  d.forces_checked(system.box, false);  // builds the list (and grows it if needed)
  cudaEvent_t start, stop;
  NEPCG_CUDA_CHECK(cudaEventCreate(&start));
  NEPCG_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms(std::max(repeats, 1));
  for (float& t : ms) {
    NEPCG_CUDA_CHECK(cudaEventRecord(start, d.stream.get()));
    d.launch_forces(false, false);
    NEPCG_CUDA_CHECK(cudaEventRecord(stop, d.stream.get()));
    NEPCG_CUDA_CHECK(cudaEventSynchronize(stop));
    NEPCG_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace nepcg
