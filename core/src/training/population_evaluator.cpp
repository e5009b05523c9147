// CPU population evaluator: each (individual, structure) pair is one serial task, so the
// OpenMP loop over tasks needs no atomics and its results do not depend on the thread count.
// Neighbour lists and pair vectors are built once (training positions never move).
#include <algorithm>
#include <cmath>

#include "nepcg/error.hpp"
#include "nepcg/kernels/nep_site.hpp"
#include "nepcg/kernels/zbl.hpp"
#include "nepcg/nep.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/training/trainer.hpp"

namespace nepcg {
namespace {

using kernels::NepView;

struct PreparedStructure {
  size_t n = 0;
  std::vector<int> type;            // model type per atom
  std::vector<int64_t> offsets;     // CSR over atoms
  std::vector<int> neighbors;
  std::vector<double> pair;         // per entry: x, y, z, |r| (Å)
  bool has_forces = false;
  std::vector<double> ref_forces;   // 3N
  std::vector<double> force_factor; // per atom: tau_t^2 rho_i
};

// Per-thread work space for one structure.
struct Scratch {
  std::vector<double> terms, forces, q, S, Fp, dUdS;
  std::vector<int> mask;
};

class CpuPopulationEvaluator final : public PopulationEvaluator {
 public:
  CpuPopulationEvaluator(const NepModel& skeleton, const std::vector<TrainingStructure>& data,
                         const std::vector<double>& type_weight, double force_delta)
      : model_(skeleton), tables_(model_) {
    const double rc = model_.max_cutoff_radial(), ra = model_.max_cutoff_angular();
    structures_.resize(data.size());
    for (size_t k = 0; k < data.size(); ++k) {
      const TrainingStructure& d = data[k];
      PreparedStructure& p = structures_[k];
      const System& s = d.system;
      p.n = s.size();
      std::vector<int> map(s.species.size(), -1);
      for (size_t t = 0; t < s.species.size(); ++t) {
        const auto it = std::find(model_.elements.begin(), model_.elements.end(), s.species[t]);
        if (it != model_.elements.end()) map[t] = static_cast<int>(it - model_.elements.begin());
      }
      p.type.resize(p.n);
      for (size_t i = 0; i < p.n; ++i) {
        p.type[i] = map[s.types[i]];
        if (p.type[i] < 0)
          throw InputError(d.where() + ": species '" + s.species[s.types[i]] + "' is not in the model");
      }
      // GPUMD's nep treats every training structure as periodic in all three directions.
      const Box box(s.box.cell(), {true, true, true});
      NeighborList list(rc, 0.0, ra);
      list.build(box, s.positions);
      p.offsets = list.offsets();
      p.neighbors = list.neighbors();
      p.pair.resize(4 * p.neighbors.size());
      for (size_t i = 0; i < p.n; ++i)
        for (int64_t e = p.offsets[i]; e < p.offsets[i + 1]; ++e) {
          const Vec3 r = list.pair_vector(i, e, s.positions, box);
          double* x = &p.pair[4 * e];
          x[0] = r[0], x[1] = r[1], x[2] = r[2];
          x[3] = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
        }
      p.has_forces = d.has_forces;
      if (d.has_forces) {
        p.ref_forces = d.forces;
        p.force_factor.resize(p.n);
        for (size_t i = 0; i < p.n; ++i) {
          const double tau = type_weight.empty() ? 1.0 : type_weight[p.type[i]];
          double rho = 1.0;
          if (force_delta > 0) {
            const double* f = &d.forces[3 * i];
            rho = force_delta / (force_delta + std::sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]));
          }
          p.force_factor[i] = tau * tau * rho;
        }
      }
    }
  }

  void set_q_scaler(const std::vector<double>& q) override { model_.q_scaler = q; }

  void evaluate(const double* population, int count, const std::vector<int>& ids,
                StructureErrors* out) const override {
    const long long tasks = static_cast<long long>(count) * static_cast<long long>(ids.size());
    const size_t np = model_.num_parameters();
#pragma omp parallel
    {
      Scratch w;
#pragma omp for schedule(dynamic, 1)
      for (long long task = 0; task < tasks; ++task) {
        const long long p = task / static_cast<long long>(ids.size());
        const int k = ids[task % ids.size()];
        const NepView v = view_of(population + p * np);
        double U = 0.0, W[9];
        run_structure(v, structures_[k], w, nullptr, U, W);
        const PreparedStructure& ps = structures_[k];
        StructureErrors& e = out[task];
        e = StructureErrors{};
        e.energy_per_atom = U / ps.n;
        if (ps.has_forces)
          for (size_t i = 0; i < ps.n; ++i) {
            double d2 = 0.0;
            for (int c = 0; c < 3; ++c) {
              const double d = w.forces[3 * i + c] - ps.ref_forces[3 * i + c];
              d2 += d * d;
            }
            e.force_sse += d2;
            e.force_sse_weighted += ps.force_factor[i] * d2;
          }
        const int comp[6] = {0, 4, 8, 1, 5, 6};  // xx yy zz xy yz zx
        for (int c = 0; c < 6; ++c) e.virial_per_atom[c] = W[comp[c]] / ps.n;
      }
    }
  }

  StructurePrediction predict(const double* parameters, int k) const override {
    Scratch w;
    StructurePrediction out;
    const PreparedStructure& ps = structures_[k];
    out.energies.resize(ps.n);
    double W[9];
    run_structure(view_of(parameters), ps, w, out.energies.data(), out.energy, W);
    out.forces.assign(w.forces.begin(), w.forces.begin() + 3 * ps.n);
    const int comp[6] = {0, 4, 8, 1, 5, 6};
    for (int c = 0; c < 6; ++c) out.virial[c] = W[comp[c]];
    return out;
  }

  std::vector<double> descriptors(const double* parameters, int k) const override {
    const NepView v = view_of(parameters);
    const PreparedStructure& ps = structures_[k];
    Scratch w;
    std::vector<double> out(ps.n * v.dim);
    for (size_t i = 0; i < ps.n; ++i) {
      accumulate_site(v, ps, i, w);
      kernels::angular_descriptor(v, w.S.data(), w.q.data());
      std::copy(w.q.begin(), w.q.begin() + v.dim, out.begin() + i * v.dim);
    }
    return out;
  }

 private:
  NepView view_of(const double* z) const {
    NepView v = tables_.view(model_);
    v.ann = z;
    v.c_radial = z + model_.ann_size();
    v.c_angular = v.c_radial + model_.c_radial_size();
    return v;
  }

  // Pair terms of every neighbour of atom i (cached in w.terms) and its descriptor sums.
  double accumulate_site(const NepView& v, const PreparedStructure& ps, size_t i, Scratch& w) const {
    const int stride = kernels::pair_terms_size(v);
    const int count = static_cast<int>(ps.offsets[i + 1] - ps.offsets[i]);
    if (w.terms.size() < size_t(count) * stride) w.terms.resize(size_t(count) * stride);
    if (w.mask.size() < size_t(count)) w.mask.resize(count);
    w.q.assign(v.dim, 0.0);
    w.S.assign(kernels::angular_gradient_size(v), 0.0);
    const int a = ps.type[i];
    double e_zbl = 0.0;
    for (int k = 0; k < count; ++k) {
      const int64_t e = ps.offsets[i] + k;
      const double* r = &ps.pair[4 * e];
      const int b = ps.type[ps.neighbors[e]];
      double* t = &w.terms[size_t(k) * stride];
      w.mask[k] = kernels::pair_terms(v, a, b, r, r[3], t);
      kernels::accumulate_pair_terms(v, w.mask[k], t, w.q.data(), w.S.data());
      if (v.zbl && (w.mask[k] & 2)) {
        double phi, dphi;
        kernels::zbl_pair(v, a, b, r[3], phi, dphi);
        e_zbl += 0.5 * phi;
      }
    }
    return e_zbl;
  }

  // Energy (total and optionally per atom), forces (in w.forces) and total virial W (3x3, eV,
  // W = -sum over entries r_ij (x) dU_i/dr_ij) of one structure.
  void run_structure(const NepView& v, const PreparedStructure& ps, Scratch& w, double* energies, double& U,
                     double* W) const {
    const int stride = kernels::pair_terms_size(v);
    w.forces.assign(3 * ps.n, 0.0);
    w.Fp.resize(v.dim_radial);
    w.dUdS.resize(kernels::angular_gradient_size(v));
    U = 0.0;
    for (int c = 0; c < 9; ++c) W[c] = 0.0;
    for (size_t i = 0; i < ps.n; ++i) {
      const int a = ps.type[i];
      const double e_zbl = accumulate_site(v, ps, i, w);
      const double Ui = kernels::site_energy(v, a, w.q.data(), w.S.data(), w.Fp.data(), w.dUdS.data()) + e_zbl;
      U += Ui;
      if (energies) energies[i] = Ui;
      double* Fi = &w.forces[3 * i];
      for (int64_t e = ps.offsets[i]; e < ps.offsets[i + 1]; ++e) {
        const int k = static_cast<int>(e - ps.offsets[i]);
        if (!w.mask[k]) continue;
        const double* r = &ps.pair[4 * e];
        double f[3] = {0.0, 0.0, 0.0};
        kernels::partial_force_from_terms(v, w.mask[k], &w.terms[size_t(k) * stride], r, r[3], w.Fp.data(),
                                          w.dUdS.data(), f);
        const int j = ps.neighbors[e];
        if (v.zbl && (w.mask[k] & 2)) {
          double phi, dphi;
          kernels::zbl_pair(v, a, ps.type[j], r[3], phi, dphi);
          for (int c = 0; c < 3; ++c) f[c] += 0.5 * dphi * r[c] / r[3];
        }
        double* Fj = &w.forces[3 * j];
        for (int c = 0; c < 3; ++c) {
          Fi[c] += f[c];
          Fj[c] -= f[c];
        }
        for (int x = 0; x < 3; ++x)
          for (int y = 0; y < 3; ++y) W[3 * x + y] -= r[x] * f[y];
      }
    }
  }

  NepModel model_;
  NepTables tables_;
  std::vector<PreparedStructure> structures_;
};

}  // namespace

std::unique_ptr<PopulationEvaluator> make_cpu_population_evaluator(const NepModel& skeleton,
                                                                   const std::vector<TrainingStructure>& data,
                                                                   const std::vector<double>& type_weight,
                                                                   double force_delta) {
  return std::make_unique<CpuPopulationEvaluator>(skeleton, data, type_weight, force_delta);
}

}  // namespace nepcg
