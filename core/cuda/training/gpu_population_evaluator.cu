// The trainer's hot loop on the GPU: every individual of a population on every structure of a
// batch in three launches.
//   1. nep_warp_sites over (batch atoms) x (individuals): the MD kernel, with each block's
//      parameters taken from the population and the pair vectors of the fixed training structures
//      read from memory (FixedPairs);
//   2. training_gather, one thread per (atom, individual): F_i = sum_j (f_ij - f_ji), the squared
//      force error (plain and weighted) and the per-atom virial W_i = sum_j r_ij (x) f_ji;
//   3. training_reduce, one block per (structure, individual): sums in a fixed order.
// Neighbour lists and pair vectors are built once on the host, as the CPU evaluator does
// (every training structure periodic in three directions, as GPUMD's nep). predict() and
// descriptors() (reports, parity files, q_scaler) go to a CPU evaluator of the same data.
#include <algorithm>
#include <cmath>
#include <mutex>

#include "../potentials/device_nep_model.cuh"
#include "../potentials/nep_warp_kernel.cuh"
#include "nepcg/gpu_nep.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/training/trainer.hpp"

namespace nepcg {

namespace {

constexpr int kRecord = 9;  // energy, |dF|^2, weighted |dF|^2, W xx yy zz xy yz zx
constexpr int kReduceThreads = 256;

// Partial forces interleaved (gpu::entry_values) in S (double, or float from the single-precision
// site kernel), summed in double.
template <class S>
__global__ void training_gather(int batch_atoms, const int* atoms, const int* offsets, const int* rev,
                                const double* pair, const S* pf, size_t entry_stride,
                                const double* energy, size_t atom_stride, const double* ref_forces,
                                const double* factor, double* records) {
  const int w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= batch_atoms) return;
  const int i = atoms[w];
  const size_t ind = blockIdx.y;
  const S* f = pf + 3 * ind * entry_stride;  // this individual's
  double F[3] = {0.0, 0.0, 0.0}, W[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int e = offsets[i]; e < offsets[i + 1]; ++e) {
    const int r = rev[e];
    const S *ij = gpu::entry_values(f, e), *ji = gpu::entry_values(f, r);
    const double fji[3] = {double(ji[0]), double(ji[1]), double(ji[2])};
    F[0] += double(ij[0]) - fji[0];
    F[1] += double(ij[1]) - fji[1];
    F[2] += double(ij[2]) - fji[2];
    const double* v = pair + 4 * size_t(e);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) W[3 * a + b] += v[a] * fji[b];
  }
  double d2 = 0.0;
  for (int c = 0; c < 3; ++c) {
    const double d = F[c] - ref_forces[3 * size_t(i) + c];
    d2 += d * d;
  }
  double* rec = records + (ind * batch_atoms + w) * kRecord;
  rec[0] = energy[ind * atom_stride + i];
  rec[1] = d2;
  rec[2] = factor[i] * d2;
  rec[3] = W[0], rec[4] = W[4], rec[5] = W[8], rec[6] = W[1], rec[7] = W[5], rec[8] = W[6];
}

// Block (s, individual): column sums of the records of segment s (start[s], count[s]).
__global__ void training_reduce(int batch_atoms, const int* seg_start, const int* seg_count, const double* records,
                                double* sums) {
  NEPCG_STATIC_SHARED(double, part, kReduceThreads);
  const int s = blockIdx.x;
  const size_t ind = blockIdx.y;
  const double* rec = records + (ind * batch_atoms + seg_start[s]) * kRecord;
  const int count = seg_count[s];
  for (int c = 0; c < kRecord; ++c) {
    double v = 0.0;
    for (int k = threadIdx.x; k < count; k += kReduceThreads) v += rec[size_t(k) * kRecord + c];
    part[threadIdx.x] = v;
    __syncthreads();
    for (int w = kReduceThreads / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) sums[(ind * gridDim.x + s) * kRecord + c] = part[0];
    __syncthreads();
  }
}

class GpuPopulationEvaluator final : public PopulationEvaluator {
 public:
  GpuPopulationEvaluator(const NepModel& skeleton, const std::vector<TrainingStructure>& data,
                         const std::vector<double>& type_weight, double force_delta, NepPrecision precision)
      : model_(skeleton),
        tables_(model_),
        cpu_(make_cpu_population_evaluator(skeleton, data, type_weight, force_delta, 0)),
        device_model_(model_, tables_, stream_.get()) {
    const kernels::NepView v0 = device_model_.view();
    int dev = 0;
    NEPCG_CUDA_CHECK(cudaGetDevice(&dev));
    if (precision == NepPrecision::Single) {
      require_direct_kernel_model(model_, "Trainer");
      device_model32_ = std::make_unique<cuda::DeviceNepModelT<float>>(model_, tables_, stream_.get());
      site_launch_ = gpu::prepare_warp_kernel<float, gpu::FixedPairs>(device_model32_->view(), dev);
      if (!site_launch_) throw RuntimeError("Trainer: the single-precision kernel does not fit this device");
    } else {
      site_launch_ = gpu::prepare_warp_kernel<double, gpu::FixedPairs>(v0, dev);
      if (!site_launch_) return;  // this architecture stays on the CPU evaluator
    }
    // Host CSR over all structures (global atom and entry indices).
    const double rc = model_.max_cutoff_radial(), ra = model_.max_cutoff_angular();
    std::vector<int> type, offsets{0}, neighbors, reverse;
    std::vector<double> pair, ref, factor;
    for (const TrainingStructure& d : data) {
      const System& s = d.system;
      const int base_atom = static_cast<int>(type.size());
      const int base_entry = static_cast<int>(neighbors.size());
      starts_.push_back(base_atom);
      sizes_.push_back(static_cast<int>(s.size()));
      has_forces_.push_back(d.has_forces);
      std::vector<int> map(s.species.size(), -1);
      for (size_t t = 0; t < s.species.size(); ++t) {
        const auto it = std::find(model_.elements.begin(), model_.elements.end(), s.species[t]);
        if (it != model_.elements.end()) map[t] = static_cast<int>(it - model_.elements.begin());
      }
      for (size_t i = 0; i < s.size(); ++i) {
        const int t = map[s.types[i]];
        if (t < 0) throw InputError(d.where() + ": species '" + s.species[s.types[i]] + "' is not in the model");
        type.push_back(t);
      }
      const Box box(s.box.cell(), {true, true, true});
      NeighborList list(rc, 0.0, ra);
      list.build(box, s.positions);
      const auto& off = list.offsets();
      const auto& nbr = list.neighbors();
      const auto& rev = list.reverse();
      for (size_t i = 0; i < s.size(); ++i) {
        for (int64_t e = off[i]; e < off[i + 1]; ++e) {
          neighbors.push_back(base_atom + nbr[e]);
          reverse.push_back(base_entry + static_cast<int>(rev[e]));
          const Vec3 r = list.pair_vector(i, e, s.positions, box);
          pair.insert(pair.end(), {r[0], r[1], r[2], std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2])});
        }
        offsets.push_back(base_entry + static_cast<int>(off[i + 1]));
        for (int c = 0; c < 3; ++c) ref.push_back(d.has_forces ? d.forces[3 * i + c] : 0.0);
        double f = 0.0;
        if (d.has_forces) {
          const double tau = type_weight.empty() ? 1.0 : type_weight[type[base_atom + i]];
          double rho = 1.0;
          if (force_delta > 0) {
            const double* x = &d.forces[3 * i];
            rho = force_delta / (force_delta + std::sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]));
          }
          f = tau * tau * rho;
        }
        factor.push_back(f);
      }
      if (neighbors.size() > size_t(1) << 30) throw InputError("GPU training: the data set has too many pairs");
    }
    atoms_total_ = type.size();
    entries_total_ = neighbors.size();
    cudaStream_t st = stream_.get();
    type_.upload(type, st);
    offsets_.upload(offsets, st);
    neighbors_.upload(neighbors.empty() ? std::vector<int>{0} : neighbors, st);
    reverse_.upload(reverse.empty() ? std::vector<int>{0} : reverse, st);
    pair_.upload(pair.empty() ? std::vector<double>(4, 0.0) : pair, st);
    ref_forces_.upload(ref.empty() ? std::vector<double>{0.0} : ref, st);
    factor_.upload(factor.empty() ? std::vector<double>{0.0} : factor, st);
    stream_.synchronize();
  }

  void set_q_scaler(const std::vector<double>& q) override {
    model_.q_scaler = q;
    cpu_->set_q_scaler(q);
    device_model_.set_q_scaler(q, stream_.get());
    if (device_model32_) device_model32_->set_q_scaler(q, stream_.get());
  }

  void evaluate(const double* population, int count, const std::vector<int>& ids,
                StructureErrors* out) const override {
    if (!site_launch_) return cpu_->evaluate(population, count, ids, out);
    if (count <= 0 || ids.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    cudaStream_t st = stream_.get();
    const size_t np = model_.num_parameters();
    // The batch: its atoms in structure order, one segment per structure.
    std::vector<int> atoms, seg_start, seg_count;
    for (int k : ids) {
      seg_start.push_back(static_cast<int>(atoms.size()));
      seg_count.push_back(sizes_[k]);
      for (int i = 0; i < sizes_[k]; ++i) atoms.push_back(starts_[k] + i);
    }
    const int batch_atoms = static_cast<int>(atoms.size());
    const int segments = static_cast<int>(ids.size());
    batch_atoms_.upload(atoms, st);
    seg_start_.upload(seg_start, st);
    seg_count_.upload(seg_count, st);
    if (device_model32_) {
      population32_host_.assign(population, population + size_t(count) * np);  // rounded to float
      population32_.upload(population32_host_, st);
    } else {
      population_.upload(population, size_t(count) * np, st);
    }
    // Individuals per launch: the partial forces of a chunk stay under ~2 GB (three values per
    // entry; float in single precision: the float kernel's values, gpu::partial_force_array).
    const bool single = device_model32_ != nullptr;
    const size_t per_individual = 3 * (single ? sizeof(float) : sizeof(double)) * std::max<size_t>(entries_total_, 1);
    const int chunk = static_cast<int>(std::max<size_t>(1, std::min<size_t>(count, (size_t(2) << 30) / per_individual)));
    partial_.reserve(size_t(chunk) * entries_total_ + 1, single);
    energy_.reserve(size_t(chunk) * atoms_total_ + 1);
    records_.reserve(size_t(chunk) * batch_atoms * kRecord + 1);
    sums_.reserve(size_t(count) * segments * kRecord);
    const kernels::NepView view = device_model_.view();
    const gpu::FixedPairs pairs{offsets_.data(), neighbors_.data(), pair_.data()};
    for (int first = 0; first < count; first += chunk) {
      const int m = std::min(chunk, count - first);
      gpu::SiteOutput o;
      o.energy = energy_.data();
      partial_.visit(single, [&](auto* pf) { o.partial_forces(pf); });
      o.atom_stride = atoms_total_;
      o.entry_stride = entries_total_;
      o.num_parameters = np;
      o.ann_size = model_.ann_size();
      o.c_radial_size = model_.c_radial_size();
      if (device_model32_) {
        o.population32 = population32_.data() + size_t(first) * np;
        gpu::launch_warp_sites(device_model32_->view(), pairs, batch_atoms_.data(), batch_atoms, type_.data(),
                               site_launch_, m, o, st);
      } else {
        o.population = population_.data() + size_t(first) * np;
        gpu::launch_warp_sites(view, pairs, batch_atoms_.data(), batch_atoms, type_.data(), site_launch_, m, o,
                               st);
      }
      partial_.visit(single, [&](auto* pf) {
        NEPCG_LAUNCH(training_gather, dim3(cuda::blocks_for(batch_atoms, 128), m), 128, 0, st)(
            batch_atoms, batch_atoms_.data(), offsets_.data(), reverse_.data(), pair_.data(), pf, entries_total_,
            energy_.data(), atoms_total_, ref_forces_.data(), factor_.data(), records_.data());
      });
      NEPCG_CUDA_LAUNCHED("training_gather");
      NEPCG_LAUNCH(training_reduce, dim3(segments, m), kReduceThreads, 0, st)(
          batch_atoms, seg_start_.data(), seg_count_.data(), records_.data(),
          sums_.data() + size_t(first) * segments * kRecord);
      NEPCG_CUDA_LAUNCHED("training_reduce");
    }
    host_.resize(size_t(count) * segments * kRecord);
    sums_.download(host_.data(), host_.size(), st);
    stream_.synchronize();
    for (int p = 0; p < count; ++p)
      for (int s = 0; s < segments; ++s) {
        const double* x = &host_[(size_t(p) * segments + s) * kRecord];
        const int k = ids[s];
        const double n = sizes_[k];
        StructureErrors& e = out[size_t(p) * segments + s];
        e = StructureErrors{};
        e.energy_per_atom = x[0] / n;
        if (has_forces_[k]) {
          e.force_sse = x[1];
          e.force_sse_weighted = x[2];
        }
        for (int c = 0; c < 6; ++c) e.virial_per_atom[c] = x[3 + c] / n;
      }
  }

  StructurePrediction predict(const double* parameters, int structure) const override {
    return cpu_->predict(parameters, structure);
  }
  std::vector<double> descriptors(const double* parameters, int structure) const override {
    return cpu_->descriptors(parameters, structure);
  }

 private:
  NepModel model_;
  NepTables tables_;
  std::unique_ptr<PopulationEvaluator> cpu_;
  cuda::Stream stream_;
  cuda::DeviceNepModel device_model_;
  std::unique_ptr<cuda::DeviceNepModelT<float>> device_model32_;  // single precision only
  gpu::SiteLaunch site_launch_;
  size_t atoms_total_ = 0, entries_total_ = 0;
  std::vector<int> starts_, sizes_;
  std::vector<char> has_forces_;
  cuda::DeviceArray<int> type_, offsets_, neighbors_, reverse_;
  cuda::DeviceArray<double> pair_, ref_forces_, factor_;
  // Work space of evaluate() (a const method: the buffers are scratch, guarded by the mutex).
  mutable std::mutex mutex_;
  mutable cuda::DeviceArray<int> batch_atoms_, seg_start_, seg_count_;
  mutable cuda::DeviceArray<double> population_, energy_, records_, sums_;
  mutable gpu::PartialForces partial_;  // (float with device_model32_)
  mutable cuda::DeviceArray<float> population32_;
  mutable std::vector<float> population32_host_;
  mutable std::vector<double> host_;
};

}  // namespace

std::unique_ptr<PopulationEvaluator> make_gpu_population_evaluator(const NepModel& skeleton,
                                                                   const std::vector<TrainingStructure>& data,
                                                                   const std::vector<double>& type_weight,
                                                                   double force_delta, NepPrecision precision) {
  cuda::require_device();
  return std::make_unique<GpuPopulationEvaluator>(skeleton, data, type_weight, force_delta, precision);
}

}  // namespace nepcg
