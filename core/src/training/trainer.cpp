// SNES training loop with GPUMD's loss, ranking and output schedule (docs/training.md).
#include "nepcg/training/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"
#include "nepcg/interrupt.hpp"
#include "nepcg/kernels/nep_view.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/units.hpp"

namespace nepcg {
namespace {

constexpr const char* kCheckpointName = "nepcg.checkpoint";
constexpr double kMissing = -1e6;  // GPUMD's placeholder for a missing reference

// Batches as GPUMD's nep: n_b = ceil(N / B); when training with several batches the structures
// are sorted by reference energy per atom and dealt out in turn, so each batch spans the range.
std::vector<std::vector<int>> make_batches(const std::vector<TrainingStructure>& data, int batch, bool reorder) {
  const int n = static_cast<int>(data.size());
  const int nb = (n - 1) / batch + 1;
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (reorder && nb > 1) {
    auto key = [&](int k) {
      const auto& s = data[k];
      return s.has_energy ? s.energy / s.size() : std::numeric_limits<double>::infinity();
    };
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) < key(b); });
  }
  std::vector<std::vector<int>> batches(nb);
  if (reorder && nb > 1) {
    for (int k = 0; k < n; ++k) batches[k % nb].push_back(order[k]);
  } else {
    // Consecutive blocks: the first n mod nb batches get one structure more.
    const int base = n / nb, extra = n % nb;
    int next = 0;
    for (int b = 0; b < nb; ++b)
      for (int k = 0; k < base + (b < extra ? 1 : 0); ++k) batches[b].push_back(next++);
  }
  return batches;
}

// Regularisation and data terms of one individual for every type t = 0..T (T = all).
struct TypeLoss {
  std::vector<double> energy, force, virial;  // lambda-weighted RMSEs
};

std::string hex(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", x);
  return buf;
}

double parse_hex(const std::string& t, const std::string& file, long line) {
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0') throw FileFormatError(file, line, "'" + t + "' is not a number");
  if (!std::isfinite(v)) throw FileFormatError(file, line, "'" + t + "' is not finite");
  return v;
}

void write_text(const std::string& path, const std::string& text, bool append = false) {
  std::ofstream f(path, append ? std::ios::app : std::ios::trunc);
  if (!f) throw IOError("cannot write '" + path + "'");
  f << text;
  if (!f) throw IOError("writing '" + path + "' failed");
}

// A model's trainable parameters in nep.txt order (ann, c_radial, c_angular), as evaluators take them.
std::vector<double> parameter_vector(const NepModel& model) {
  std::vector<double> z = model.ann;
  z.insert(z.end(), model.c_radial.begin(), model.c_radial.end());
  z.insert(z.end(), model.c_angular.begin(), model.c_angular.end());
  return z;
}

std::string format_loss(const LossRecord& r) {
  // GPUMD's columns (%-8d, %-11.5f x 3, %-13.5f x 6); a value wider than its column (a huge loss)
  // still gets a blank after it, so that the line splits into its ten numbers.
  char buf[512];
  std::string out;
  // (left-justified: a value narrower than its column ends in padding blanks, a full one does not)
  auto column = [&](int used) {
    out += buf;
    if (used > 0 && buf[used - 1] != ' ') out += ' ';
  };
  column(std::snprintf(buf, sizeof buf, "%-8d", r.generation));
  const double values[9] = {r.total, r.l1, r.l2, r.energy_train, r.force_train, r.virial_train,
                            r.energy_test, r.force_test, r.virial_test};
  for (int k = 0; k < 9; ++k) column(std::snprintf(buf, sizeof buf, "%-*.5f", k < 3 ? 11 : 13, values[k]));
  return out + "\n";
}

// The largest numbers of neighbours of an atom within the radial and the angular cutoff over
// `sets` (pair cutoffs the mean of the two types' values, every structure periodic), which nep.txt
// carries in its cutoff line: GPUMD sizes its neighbour lists by them (x 1.25) and refuses a
// model whose radial count exceeds 819, so a trained model states its data's counts, as GPUMD's
// nep does, instead of a guess. Also refuses two atoms at the same place (InputError naming the
// structure), whose descriptors would be NaN.
void set_max_neighbor_counts(NepModel& m, const std::vector<const std::vector<TrainingStructure>*>& sets) {
  const double rc = *std::max_element(m.cutoff_radial.begin(), m.cutoff_radial.end());
  int most_radial = 0, most_angular = 0;
  for (const auto* set : sets)
    for (const TrainingStructure& d : *set) {
      const System& s = d.system;
      std::vector<int> type(s.species.size(), 0);
      for (size_t t = 0; t < s.species.size(); ++t)
        type[t] = static_cast<int>(std::find(m.elements.begin(), m.elements.end(), s.species[t]) - m.elements.begin());
      const Box box(s.box.cell(), {true, true, true});
      NeighborList list(rc);
      list.build(box, s.positions);
      const auto& off = list.offsets();
      for (size_t i = 0; i < s.size(); ++i) {
        const int a = type[s.types[i]];
        int radial = 0, angular = 0;
        for (int64_t e = off[i]; e < off[i + 1]; ++e) {
          const int b = type[s.types[list.neighbors()[e]]];
          const double r = norm(list.pair_vector(i, e, s.positions, box));
          // (a pair at distance 0 has no direction: every descriptor and force would be NaN)
          if (!(r > 1e-6))
            throw InputError(d.where() + ": atoms " + std::to_string(i) + " and " +
                             std::to_string(list.neighbors()[e]) + " (or its periodic image) are " +
                             text::format_double(r) + " Å apart");
          radial += r < kernels::pair_cutoff(m.cutoff_radial.data(), a, b);
          angular += r < kernels::pair_cutoff(m.cutoff_angular.data(), a, b);
        }
        most_radial = std::max(most_radial, radial);
        most_angular = std::max(most_angular, angular);
      }
    }
  m.max_neighbors_radial = std::max(most_radial, 1);
  m.max_neighbors_angular = std::max(most_angular, 1);
}

}  // namespace

Trainer::Trainer(TrainingOptions options, std::vector<TrainingStructure> train, std::vector<TrainingStructure> test,
                 std::string directory, bool resume, const EvaluatorFactory& evaluator)
    : options_(std::move(options)), train_(std::move(train)), test_(std::move(test)), directory_(std::move(directory)) {
  options_.validate();
  if (train_.empty()) throw InputError("Trainer: the training set is empty");
  check_species(train_, options_.types, "training set");
  check_species(test_, options_.types, "test set");
  skeleton_ = options_.model_skeleton();
  set_max_neighbor_counts(skeleton_, {&train_, &test_});
  const int T = options_.num_types();
  const size_t np = skeleton_.num_parameters();
  lambda_1_ = options_.resolved_lambda_1(np);
  lambda_2_ = options_.resolved_lambda_2(np);
  const double d = std::floor(double(np) / T);
  eta_sigma_ = (3.0 + std::log(d)) / (10.0 * std::sqrt(d));

  const EvaluatorFactory make = evaluator ? evaluator : [](const NepModel& m, const std::vector<TrainingStructure>& d,
                                                          const std::vector<double>& w, double delta) {
    return make_cpu_population_evaluator(m, d, w, delta);
  };
  train_eval_ = make(skeleton_, train_, options_.type_weight, options_.force_delta);
  if (!test_.empty()) test_eval_ = make(skeleton_, test_, options_.type_weight, options_.force_delta);
  batches_ = make_batches(train_, options_.batch, !options_.prediction);
  contains_type_.assign(train_.size(), std::vector<char>(T + 1, 0));
  for (size_t s = 0; s < train_.size(); ++s) {
    const System& sys = train_[s].system;
    contains_type_[s][T] = 1;
    for (size_t i = 0; i < sys.size(); ++i) {
      const auto it = std::find(options_.types.begin(), options_.types.end(), sys.species[sys.types[i]]);
      contains_type_[s][it - options_.types.begin()] = 1;
    }
  }

  // Owner of each parameter: its type's network block, the centre type of a coefficient
  // c(n, k, a, b), and T for the global output bias.
  owner_.assign(np, T);
  const size_t block = skeleton_.ann_block_size();
  for (int t = 0; t < T; ++t)
    for (size_t v = 0; v < block; ++v) owner_[t * block + v] = t;
  const size_t ann = skeleton_.ann_size();
  for (size_t v = 0; v < skeleton_.c_radial_size() + skeleton_.c_angular_size(); ++v)
    owner_[ann + v] = static_cast<int>((v / T) % T);

  // Utilities u_k for ranks k = 1 ... lambda.
  const int P = options_.population;
  utility_.resize(P);
  double sum = 0.0;
  for (int k = 0; k < P; ++k) sum += utility_[k] = std::max(0.0, std::log(P * 0.5 + 1.0) - std::log(k + 1.0));
  for (int k = 0; k < P; ++k) utility_[k] = utility_[k] / sum - 1.0 / P;

  rng_ = Random(options_.has_seed ? options_.seed : static_cast<uint64_t>(std::time(nullptr)));
  initialise(resume);
}

Trainer::~Trainer() = default;

std::string Trainer::path(const std::string& name) const {
  return directory_.empty() ? name : directory_ + "/" + name;
}

void Trainer::initialise(bool resume) {
  const size_t np = num_parameters();
  const int T = options_.num_types();
  mu_.assign(np, 0.0);
  sigma_.assign(np, options_.sigma0);
  bool restored = false;
  if (!directory_.empty() && resume) restored = load_checkpoint(path(kCheckpointName));
  if (!restored && !options_.fine_tune_model.empty()) {
    // Fine-tuning: mean and step sizes of our species from a foundation model's restart file,
    // matched by species name; q_scaler from the foundation nep.txt.
    const NepModel f = read_nep_model(options_.fine_tune_model);
    auto fail = [&](const std::string& m) { throw InputError("fine_tune: " + m); };
    if (f.n_max_radial != skeleton_.n_max_radial || f.n_max_angular != skeleton_.n_max_angular ||
        f.basis_size_radial != skeleton_.basis_size_radial || f.basis_size_angular != skeleton_.basis_size_angular ||
        f.l_max != skeleton_.l_max || f.terms != skeleton_.terms || f.neurons1 != skeleton_.neurons1 ||
        f.neurons2 != skeleton_.neurons2 || f.version != skeleton_.version)
      fail("the architecture keywords (n_max, basis_size, l_max, neuron, version) must equal the foundation model's");
    std::ifstream in(options_.fine_tune_restart);
    if (!in) throw IOError("fine_tune: cannot open '" + options_.fine_tune_restart + "'");
    std::vector<double> fm, fs;
    double a, b;
    while (in >> a >> b) {
      if (!std::isfinite(a) || !std::isfinite(b))
        fail("'" + options_.fine_tune_restart + "' row " + std::to_string(fm.size() + 1) + " is not finite");
      fm.push_back(a), fs.push_back(b);
    }
    if (fm.size() != f.num_parameters())
      fail("'" + options_.fine_tune_restart + "' has " + std::to_string(fm.size()) + " rows; the model needs " +
           std::to_string(f.num_parameters()));
    std::vector<int> map(T);
    for (int t = 0; t < T; ++t) {
      const auto it = std::find(f.elements.begin(), f.elements.end(), options_.types[t]);
      if (it == f.elements.end()) fail("species '" + options_.types[t] + "' is not in the foundation model");
      map[t] = static_cast<int>(it - f.elements.begin());
    }
    const size_t block = skeleton_.ann_block_size();
    for (int t = 0; t < T; ++t)
      for (size_t v = 0; v < block; ++v) mu_[t * block + v] = fm[map[t] * block + v], sigma_[t * block + v] = fs[map[t] * block + v];
    const size_t fb = f.ann_size() - 1, ob = skeleton_.ann_size() - 1;
    mu_[ob] = fm[fb], sigma_[ob] = fs[fb];
    const int FT = f.num_types();
    auto copy_c = [&](size_t ours, size_t theirs, int nk) {
      for (int q = 0; q < nk; ++q)
        for (int x = 0; x < T; ++x)
          for (int y = 0; y < T; ++y) {
            const size_t o = ours + (size_t(q) * T + x) * T + y;
            const size_t s = theirs + (size_t(q) * FT + map[x]) * FT + map[y];
            mu_[o] = fm[s];
            sigma_[o] = options_.fine_tune_descriptor ? fs[s] : 0.0;
          }
    };
    copy_c(skeleton_.ann_size(), f.ann_size(), (f.n_max_radial + 1) * (f.basis_size_radial + 1));
    copy_c(skeleton_.ann_size() + skeleton_.c_radial_size(), f.ann_size() + f.c_radial_size(),
           (f.n_max_angular + 1) * (f.basis_size_angular + 1));
    q_scaler_ = f.q_scaler;
  } else if (!restored) {
    const std::string restart = path("nep.restart");
    std::ifstream in(directory_.empty() ? std::string() : restart);
    if (!directory_.empty() && in) {
      // GPUMD's restart: "mu sigma" per parameter; the generation count starts again at 0.
      std::string line;
      size_t v = 0;
      long number = 0;
      while (std::getline(in, line)) {
        ++number;
        const auto t = text::split(line);
        if (t.empty()) continue;
        if (t.size() != 2 || v >= np)
          throw FileFormatError(restart, number, "expected " + std::to_string(np) + " rows of 'mu sigma'");
        mu_[v] = parse_hex(std::string(t[0]), restart, number);
        sigma_[v] = parse_hex(std::string(t[1]), restart, number);
        ++v;
      }
      if (v != np)
        throw FileFormatError(restart, number, "has " + std::to_string(v) + " rows; the model needs " + std::to_string(np));
    } else {
      for (size_t v = 0; v < np; ++v) mu_[v] = 2.0 * rng_.uniform() - 1.0;
    }
  }
  if (options_.import_q_scaler && options_.fine_tune_model.empty()) {
    const NepModel m = read_nep_model(path("nep.txt"));
    if (m.q_scaler.size() != size_t(skeleton_.dim()))
      throw InputError("import_q_scaler: nep.txt has a different descriptor size");
    q_scaler_ = m.q_scaler;
  }
  if (q_scaler_.empty()) compute_q_scaler();
  train_eval_->set_q_scaler(q_scaler_);
  if (test_eval_) test_eval_->set_q_scaler(q_scaler_);
  s_.assign(size_t(options_.population) * np, 0.0);
  population_.assign(size_t(options_.population) * np, 0.0);
  if (!restored && !directory_.empty() && !options_.prediction) write_text(path("loss.out"), "");
}

void Trainer::compute_q_scaler() {
  // As GPUMD: every parameter set to initial_para, descriptor ranges over all training atoms.
  const std::vector<double> z(num_parameters(), options_.initial_para);
  const int D = skeleton_.dim();
  std::vector<double> lo(D, std::numeric_limits<double>::infinity()), hi(D, -std::numeric_limits<double>::infinity());
  for (size_t s = 0; s < train_.size(); ++s) {
    const auto q = train_eval_->descriptors(z.data(), static_cast<int>(s));
    for (size_t i = 0; i < train_[s].size(); ++i)
      for (int d = 0; d < D; ++d) lo[d] = std::min(lo[d], q[i * D + d]), hi[d] = std::max(hi[d], q[i * D + d]);
  }
  q_scaler_.resize(D);
  // A component that never varies (possible for a single isolated environment) gets scale 1
  // instead of GPUMD's 1/0.
  for (int d = 0; d < D; ++d) q_scaler_[d] = hi[d] > lo[d] ? 1.0 / (hi[d] - lo[d]) : 1.0;
}

NepModel Trainer::model_from(const double* z) const {
  NepModel m = skeleton_;
  const size_t a = m.ann.size(), r = m.c_radial.size();
  std::copy(z, z + a, m.ann.begin());
  std::copy(z + a, z + a + r, m.c_radial.begin());
  std::copy(z + a + r, z + a + r + m.c_angular.size(), m.c_angular.begin());
  m.q_scaler = q_scaler_;
  return m;
}

NepModel Trainer::mean_model() const { return model_from(mu_.data()); }
NepModel Trainer::best_model() const { return have_best_ ? model_from(best_.data()) : mean_model(); }

int Trainer::run(int n) {
  if (options_.prediction)
    throw InputError("Trainer: 'prediction 1' evaluates a model (predict_directory); it does not train");
  int done = 0;
  while (done < n && !finished()) {
    poll_interrupt();  // (Ctrl-C in Python: stops between two generations)
    one_generation();
    ++done;
  }
  return done;
}

std::vector<double> Trainer::batch_losses(const double* population, int P, const std::vector<int>& batch) const {
  const int T = options_.num_types();
  std::vector<StructureErrors> err(size_t(P) * batch.size());
  train_eval_->evaluate(population, P, batch, err.data());
  std::vector<double> out(size_t(3) * (T + 1) * P, 0.0);  // lambda-weighted E, F, V RMSE per [t][p]
  for (int p = 0; p < P; ++p) {
    const StructureErrors* e = &err[size_t(p) * batch.size()];
    // Energy shift of this individual on this batch.
    double num = 0.0, den = 0.0;
    for (size_t k = 0; k < batch.size(); ++k) {
      const auto& s = train_[batch[k]];
      if (!s.has_energy) continue;
      num += s.energy_weight * (e[k].energy_per_atom - s.energy / s.size());
      den += s.energy_weight;
    }
    const double shift = den > 0 ? num / den : 0.0;
    for (int t = 0; t <= T; ++t) {
      double se = 0.0, sf = 0.0, sv = 0.0;
      long ne = 0, nf = 0, nv = 0;
      for (size_t k = 0; k < batch.size(); ++k) {
        if (!contains_type_[batch[k]][t]) continue;
        const auto& s = train_[batch[k]];
        const double w2 = s.weight * s.weight;
        if (s.has_energy) {
          const double de = e[k].energy_per_atom - s.energy / s.size() - shift;
          se += w2 * s.energy_weight * de * de;
          ++ne;
        }
        if (s.has_forces) {
          sf += w2 * e[k].force_sse_weighted;
          nf += static_cast<long>(s.size());
        }
        if (s.has_virial) {
          double diag = 0.0, off = 0.0;
          for (int c = 0; c < 6; ++c) {
            const double dv = e[k].virial_per_atom[c] - s.virial[c] / s.size();
            (c < 3 ? diag : off) += dv * dv;
          }
          sv += w2 * (diag + options_.lambda_shear * options_.lambda_shear * off);
          ++nv;
        }
      }
      const size_t i = size_t(t) * P + p, stride = size_t(T + 1) * P;
      if (ne) out[i] = options_.lambda_e * std::sqrt(se / ne);
      if (nf) out[stride + i] = options_.lambda_f * std::sqrt(sf / (3.0 * nf));
      if (nv) out[2 * stride + i] = options_.lambda_v * std::sqrt(sv / (6.0 * nv));
    }
  }
  return out;
}

std::vector<double> Trainer::loss_terms(const std::vector<double>& z, int batch) const {
  const int T = options_.num_types();
  const size_t np = num_parameters();
  if (z.empty() || z.size() % np != 0)
    throw InputError("Trainer.loss_terms: expected parameter vectors of " + std::to_string(np) + " values");
  if (batch < 0 || batch >= num_batches()) throw InputError("Trainer.loss_terms: no batch " + std::to_string(batch));
  const int P = static_cast<int>(z.size() / np);
  const std::vector<double> l = batch_losses(z.data(), P, batches_[batch]);  // [term][t][p]
  std::vector<double> out(size_t(5) * (T + 1) * P), l1(T + 1), l2(T + 1);
  for (int p = 0; p < P; ++p) {
    regularisation(z.data() + p * np, l1.data(), l2.data());
    double* o = &out[size_t(5) * (T + 1) * p];
    for (int t = 0; t <= T; ++t) {
      o[5 * t + 0] = l1[t];
      o[5 * t + 1] = l2[t];
      for (int term = 0; term < 3; ++term) o[5 * t + 2 + term] = l[(size_t(term) * (T + 1) + t) * P + p];
    }
  }
  return out;
}

void Trainer::regularisation(const double* z, double* l1, double* l2) const {
  // One pass over z with an accumulator per type and one for t = T; each accumulator adds its
  // parameters in ascending order, as a pass per type would.
  const int T = options_.num_types();
  const size_t np = num_parameters();
  std::vector<double> a1(T + 1, 0.0), a2(T + 1, 0.0);
  for (size_t v = 0; v < np; ++v) {
    const int o = owner_[v];
    if (o == T) continue;
    const double x = z[v];
    a1[o] += std::abs(x), a2[o] += x * x;
    a1[T] += std::abs(x), a2[T] += x * x;
  }
  for (int t = 0; t <= T; ++t) {
    const double M = t < T ? double(np) / T : double(np);
    l1[t] = lambda_1_ * a1[t] / M;
    l2[t] = lambda_2_ * std::sqrt(a2[t] / M);
  }
}

void Trainer::one_generation() {
  const int P = options_.population, T = options_.num_types();
  const size_t np = num_parameters();
  const int g = generation_;
  // Search directions: each individual draws its normals from its own stream, seeded from the
  // trainer's generator, so the individuals are drawn in parallel and the numbers do not depend on
  // the number of threads (a restart needs only the trainer's generator state). With a GPU
  // evaluator this host work is a sizeable part of a generation.
  std::vector<uint64_t> seeds(P);
  for (uint64_t& seed : seeds) seed = rng_.bits();
#pragma omp parallel for schedule(static)
  for (int p = 0; p < P; ++p) {
    Random stream(seeds[p]);
    double* sp = &s_[size_t(p) * np];
    double* xp = &population_[size_t(p) * np];
    for (size_t v = 0; v < np; ++v) {
      const double s = stream.normal();
      sp[v] = s;
      xp[v] = mu_[v] + sigma_[v] * s;
    }
  }

  // Data loss per type (generation 0 only fixes q_scaler in GPUMD, so its data terms are 0).
  // With `batch B 1` (full batch) every batch is evaluated and each weighted RMSE term is the
  // root mean square of its per-batch values.
  std::vector<double> data(size_t(T + 1) * P, 0.0);
  if (g > 0) {
    const size_t nb = batches_.size();
    const size_t current = g % nb;
    std::vector<size_t> used{current};
    if (options_.full_batch)
      for (size_t b = 0; b < nb; ++b)
        if (b != current) used.push_back(b);
    std::vector<double> terms(size_t(3) * (T + 1) * P, 0.0);  // [term][t][p], summed squares over batches
    for (size_t b : used) {
      const std::vector<double> l = batch_losses(population_.data(), P, batches_[b]);
      for (size_t x = 0; x < terms.size(); ++x) terms[x] += l[x] * l[x];
    }
    for (size_t x = 0; x < data.size(); ++x)
      for (int term = 0; term < 3; ++term) data[x] += std::sqrt(terms[term * data.size() + x] / used.size());
  }

  // Regularisation and total loss per type, then a stable ranking per type.
  std::vector<double> total(size_t(T + 1) * P), l1(size_t(T + 1) * P), l2(size_t(T + 1) * P);
#pragma omp parallel
  {
    std::vector<double> r1(T + 1), r2(T + 1);
#pragma omp for schedule(static)
    for (int p = 0; p < P; ++p) {
      regularisation(&population_[p * np], r1.data(), r2.data());
      for (int t = 0; t <= T; ++t) {
        const size_t i = size_t(t) * P + p;
        l1[i] = r1[t];
        l2[i] = r2[t];
        total[i] = l1[i] + l2[i] + data[i];
      }
    }
  }
  std::vector<int> rank(size_t(T + 1) * P);
  for (int t = 0; t <= T; ++t) {
    int* r = &rank[size_t(t) * P];
    std::iota(r, r + P, 0);
    const double* L = &total[size_t(t) * P];
    std::stable_sort(r, r + P, [&](int a, int b) { return L[a] < L[b]; });
  }
  const int best = rank[size_t(T) * P];
  // Every output_interval generations and at the last one (so that nep.txt, the checkpoint and
  // the returned model are the end of the run whatever `generation` is).
  const bool reporting = (g + 1) % options_.output_interval == 0 || g + 1 == options_.generation;
  if (reporting) report(best, total[size_t(T) * P + best], l1[size_t(T) * P + best], l2[size_t(T) * P + best]);

  // SNES update with each parameter ranked by its owner's loss. Blocks of parameters in parallel;
  // within a block ranks outer, parameters inner: each rank's row of s is read in order
  // (cache-friendly), and each parameter still adds its terms in rank order (the same bits for
  // any number of threads).
  constexpr size_t kBlock = 512;
  const long long blocks = static_cast<long long>((np + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(static)
  for (long long blk = 0; blk < blocks; ++blk) {
    const size_t v0 = size_t(blk) * kBlock, v1 = std::min(np, v0 + kBlock);
    double gm[kBlock] = {}, gs[kBlock] = {};
    for (int k = 0; k < P; ++k) {
      const double u = utility_[k];
      for (size_t v = v0; v < v1; ++v) {
        const double s = s_[size_t(rank[size_t(owner_[v]) * P + k]) * np + v];
        gm[v - v0] += u * s;
        gs[v - v0] += u * (s * s - 1.0);
      }
    }
    for (size_t v = v0; v < v1; ++v) {
      mu_[v] += sigma_[v] * gm[v - v0];
      sigma_[v] = std::min(sigma_[v] * std::exp(eta_sigma_ * gs[v - v0]), 1.0);
    }
  }
  generation_ = g + 1;

  if (reporting && !directory_.empty()) {
    std::ostringstream r;
    char buf[80];
    for (size_t v = 0; v < np; ++v) {
      std::snprintf(buf, sizeof buf, "%15.7e %15.7e\n", mu_[v], sigma_[v]);
      r << buf;
    }
    write_text(path("nep.restart"), r.str());
    save_checkpoint(path(kCheckpointName));
    if (generation_ % options_.save_potential == 0) {
      std::string name;
      if (options_.save_potential_format == 0) {
        name = "nep_gen" + std::to_string(generation_);
      } else {
        const std::time_t now = std::time(nullptr);
        std::tm tm = *std::localtime(&now);
        std::snprintf(buf, sizeof buf, "nep_y%d_m%d_d%d_h%d_m%d_s%d_generation%d", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, generation_);
        name = buf;
      }
      write_nep_model(best_model(), path(name + ".txt"));
      if (options_.save_potential_restart) write_text(path(name + ".restart"), r.str());
    }
  }
  if (!directory_.empty() && (generation_ % 1000 == 0 || (finished() && reporting)))
    write_predictions(best_model(), false, "train");
}

void Trainer::report(int best_index, double total, double l1, double l2) {
  const size_t np = num_parameters();
  const double* z = &population_[size_t(best_index) * np];
  const std::vector<int>& batch = batches_[generation_ % batches_.size()];
  // Energy shift of the best individual on the current batch (energy weights, no w_s).
  std::vector<StructurePrediction> pred;
  double num = 0.0, den = 0.0;
  for (int k : batch) {
    pred.push_back(train_eval_->predict(z, k));
    const auto& s = train_[k];
    if (!s.has_energy) continue;
    num += s.energy_weight * (pred.back().energy - s.energy) / s.size();
    den += s.energy_weight;
  }
  const double shift = den > 0 ? num / den : 0.0;
  best_.assign(z, z + np);
  best_[skeleton_.ann_size() - 1] += shift;  // U_i = ... - b_out: every U_i decreases by shift
  have_best_ = true;

  LossRecord r;
  r.generation = generation_ + 1;
  r.total = total, r.l1 = l1, r.l2 = l2;
  auto rmse = [&](const std::vector<TrainingStructure>& set, const std::vector<int>& ids,
                  const std::vector<StructurePrediction>& pr, double e_shift, double& E, double& F, double& V) {
    double se = 0, sf = 0, sv = 0;
    long ne = 0, nf = 0, nv = 0;
    for (size_t k = 0; k < ids.size(); ++k) {
      const auto& s = set[ids[k]];
      const double n = static_cast<double>(s.size());
      if (s.has_energy) {
        const double d = (pr[k].energy - s.energy) / n - e_shift;
        se += d * d, ++ne;
      }
      if (s.has_forces) {
        for (size_t i = 0; i < 3 * s.size(); ++i) sf += (pr[k].forces[i] - s.forces[i]) * (pr[k].forces[i] - s.forces[i]);
        nf += static_cast<long>(s.size());
      }
      if (s.has_virial) {
        for (int c = 0; c < 6; ++c) {
          const double d = (pr[k].virial[c] - s.virial[c]) / n;
          sv += d * d;
        }
        ++nv;
      }
    }
    E = ne ? std::sqrt(se / ne) : 0.0;
    F = nf ? std::sqrt(sf / (3.0 * nf)) : 0.0;
    V = nv ? std::sqrt(sv / (6.0 * nv)) : 0.0;
  };
  rmse(train_, batch, pred, shift, r.energy_train, r.force_train, r.virial_train);
  if (test_eval_) {
    std::vector<int> ids(test_.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::vector<StructurePrediction> tp;
    for (int k : ids) tp.push_back(test_eval_->predict(best_.data(), k));
    rmse(test_, ids, tp, 0.0, r.energy_test, r.force_test, r.virial_test);
    if (!directory_.empty()) write_parity_files(directory_, "test", test_, tp);
  }
  history_.push_back(r);
  if (!directory_.empty()) {
    write_text(path("loss.out"), format_loss(r), true);
    write_nep_model(best_model(), path("nep.txt"));
  }
}

void Trainer::write_predictions(const NepModel& model, bool test_set, const std::string& suffix) const {
  const auto& set = test_set ? test_ : train_;
  if (directory_.empty() || set.empty()) return;
  // Rows follow the internal batch order for training data with several batches, as GPUMD.
  std::vector<TrainingStructure> ordered;
  std::vector<StructurePrediction> pred;
  const std::vector<double> z = parameter_vector(model);
  const PopulationEvaluator& ev = test_set ? *test_eval_ : *train_eval_;
  std::vector<int> ids;
  if (test_set) {
    for (size_t k = 0; k < set.size(); ++k) ids.push_back(static_cast<int>(k));
  } else {
    for (const auto& b : batches_) ids.insert(ids.end(), b.begin(), b.end());
  }
  for (int k : ids) {
    ordered.push_back(set[k]);
    pred.push_back(ev.predict(z.data(), k));
  }
  write_parity_files(directory_, suffix, ordered, pred);
}

void Trainer::save_checkpoint(const std::string& file) const {
  std::ostringstream out;
  out << "nepcg_trainer_checkpoint 2\n";
  out << "generation " << generation_ << "\n";
  out << "parameters " << num_parameters() << "\n";
  out << "population " << options_.population << "\n";
  out << "types";
  for (const auto& t : options_.types) out << " " << t;
  out << "\n";
  out << "data " << train_.size() << " " << test_.size() << " " << data_fingerprint_hex() << "\n";
  out << "rng " << rng_.state() << "\n";
  out << "q_scaler";
  for (double q : q_scaler_) out << " " << hex(q);
  out << "\n";
  out << "best " << (have_best_ ? 1 : 0) << "\n";
  for (size_t v = 0; v < num_parameters(); ++v)
    out << hex(mu_[v]) << " " << hex(sigma_[v]) << " " << (have_best_ ? hex(best_[v]) : "0") << "\n";
  const std::string tmp = file + ".tmp";
  write_text(tmp, out.str());
  if (std::rename(tmp.c_str(), file.c_str()) != 0) throw IOError("cannot replace '" + file + "'");
}

std::string Trainer::data_fingerprint_hex() const {
  char text[32];
  std::snprintf(text, sizeof text, "%016llx-%016llx",
                static_cast<unsigned long long>(training_data_fingerprint(train_, options_.zbl_flexible)),
                static_cast<unsigned long long>(training_data_fingerprint(test_)));
  return text;
}

bool Trainer::load_checkpoint(const std::string& file) {
  std::ifstream in(file);
  if (!in) return false;
  std::string line;
  long number = 0;
  auto next = [&](const char* key) {
    if (!std::getline(in, line)) throw FileFormatError(file, number + 1, "file ends early");
    ++number;
    if (line.rfind(key, 0) != 0) throw FileFormatError(file, number, std::string("expected '") + key + "'");
    return line.substr(std::string(key).size());
  };
  // Version 1 (sessions before 22) has no "data" line.
  const std::string version = next("nepcg_trainer_checkpoint");
  if (version != " 1" && version != " 2") throw FileFormatError(file, 1, "unknown checkpoint version");
  const int generation = std::stoi(next("generation "));
  const size_t np = std::stoul(next("parameters "));
  if (np != num_parameters())
    throw FileFormatError(file, number, "the checkpoint has " + std::to_string(np) +
                                            " parameters; these hyper-parameters need " +
                                            std::to_string(num_parameters()) + " (different nep.in?)");
  if (std::stoi(next("population ")) != options_.population)
    throw FileFormatError(file, number, "the checkpoint was written with a different population size");
  std::string types;
  for (const auto& t : options_.types) types += " " + t;
  if (next("types") != types) throw FileFormatError(file, number, "the checkpoint was written for other types");
  std::string data_note;
  if (version == " 2") {
    // Other data (added structures, relabelled frames) is a legitimate continuation, as GPUMD's
    // restart from nep.restart; the trainer says so instead of refusing (resume_warning()).
    std::istringstream d(next("data "));
    size_t n_train = 0, n_test = 0;
    std::string fingerprint;
    if (!(d >> n_train >> n_test >> fingerprint)) throw FileFormatError(file, number, "expected 'data N_train N_test fingerprint'");
    if (fingerprint != data_fingerprint_hex())
      data_note = "the checkpoint '" + file + "' was written for other training data (" + std::to_string(n_train) +
                  " training and " + std::to_string(n_test) + " test structures; now " +
                  std::to_string(train_.size()) + " and " + std::to_string(test_.size()) +
                  ", or the same counts with other structures, labels or zbl.in). Training continues from it with "
                  "its q_scaler; the losses before generation " + std::to_string(generation + 1) +
                  " were computed on the old data. Use resume=False (or another directory) for a fresh run.";
  }
  rng_.set_state(next("rng "));
  const std::string q_line = next("q_scaler");  // split() returns views into it
  const auto qs = text::split(q_line);
  q_scaler_.clear();
  for (auto t : qs) q_scaler_.push_back(parse_hex(std::string(t), file, number));
  if (q_scaler_.size() != size_t(skeleton_.dim())) throw FileFormatError(file, number, "wrong q_scaler size");
  have_best_ = next("best ") == "1";
  best_.assign(np, 0.0);
  for (size_t v = 0; v < np; ++v) {
    if (!std::getline(in, line)) throw FileFormatError(file, number + 1, "file ends early");
    ++number;
    const auto t = text::split(line);
    if (t.size() != 3) throw FileFormatError(file, number, "expected 'mu sigma best'");
    mu_[v] = parse_hex(std::string(t[0]), file, number);
    sigma_[v] = parse_hex(std::string(t[1]), file, number);
    best_[v] = parse_hex(std::string(t[2]), file, number);
  }
  generation_ = generation;
  resume_warning_ = data_note;
  // Keep the loss history up to the checkpoint; later lines belong to the interrupted run.
  std::ifstream lf(path("loss.out"));
  std::ostringstream kept;
  while (std::getline(lf, line)) {
    std::istringstream ls(line);
    LossRecord r;
    if (!(ls >> r.generation >> r.total >> r.l1 >> r.l2 >> r.energy_train >> r.force_train >> r.virial_train >>
          r.energy_test >> r.force_test >> r.virial_test))
      continue;
    if (r.generation > generation_) break;
    history_.push_back(r);
    kept << line << "\n";
  }
  lf.close();
  write_text(path("loss.out"), kept.str());
  return true;
}

std::vector<StructurePrediction> predict_structures(const NepModel& model, const std::vector<TrainingStructure>& data,
                                                   size_t cache_limit) {
  check_species(data, model.elements, "prediction data");
  auto ev = make_cpu_population_evaluator(model, data, {}, 0.0, cache_limit);
  const std::vector<double> z = parameter_vector(model);
  std::vector<StructurePrediction> out(data.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (long long k = 0; k < static_cast<long long>(data.size()); ++k) out[k] = ev->predict(z.data(), static_cast<int>(k));
  return out;
}

void write_parity_files(const std::string& dir, const std::string& suffix, const std::vector<TrainingStructure>& data,
                        const std::vector<StructurePrediction>& pred) {
  std::ostringstream e, f, v, s;
  char buf[512];
  for (size_t k = 0; k < data.size(); ++k) {
    const auto& d = data[k];
    const double n = static_cast<double>(d.size());
    std::snprintf(buf, sizeof buf, "%g %g\n", pred[k].energy / n, d.has_energy ? d.energy / n : kMissing);
    e << buf;
    for (size_t i = 0; i < d.size(); ++i) {
      const double* p = &pred[k].forces[3 * i];
      if (d.has_forces) {
        const double* r = &d.forces[3 * i];
        std::snprintf(buf, sizeof buf, "%g %g %g %g %g %g\n", p[0], p[1], p[2], r[0], r[1], r[2]);
      } else {
        std::snprintf(buf, sizeof buf, "%g %g %g %g %g %g\n", p[0], p[1], p[2], kMissing, kMissing, kMissing);
      }
      f << buf;
    }
    const double volume = std::abs(d.system.box.volume());
    for (int c = 0; c < 6; ++c) {
      std::snprintf(buf, sizeof buf, "%g ", pred[k].virial[c] / n);
      v << buf;
      std::snprintf(buf, sizeof buf, "%g ", pred[k].virial[c] / volume * units::kPressureToGPa);
      s << buf;
    }
    for (int c = 0; c < 6; ++c) {
      std::snprintf(buf, sizeof buf, c < 5 ? "%g " : "%g\n", d.has_virial ? d.virial[c] / n : kMissing);
      v << buf;
      std::snprintf(buf, sizeof buf, c < 5 ? "%g " : "%g\n",
                    d.has_virial ? d.virial[c] / volume * units::kPressureToGPa : kMissing);
      s << buf;
    }
  }
  const std::string base = dir.empty() ? "" : dir + "/";
  write_text(base + "energy_" + suffix + ".out", e.str());
  write_text(base + "force_" + suffix + ".out", f.str());
  write_text(base + "virial_" + suffix + ".out", v.str());
  write_text(base + "stress_" + suffix + ".out", s.str());
}

void predict_directory(const TrainingOptions& options, const std::vector<TrainingStructure>& data,
                       const std::string& directory) {
  const std::string base = directory.empty() ? "" : directory + "/";
  const NepModel model = read_nep_model(base + "nep.txt");
  const NepModel skeleton = options.model_skeleton();
  std::vector<std::string> differ;  // what differs, named as GPUMD's prediction check does
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
  };
  if (model.elements != skeleton.elements)
    differ.push_back("types (nep.in: " + join(skeleton.elements) + "; nep.txt: " + join(model.elements) + ")");
  auto compare = [&](const char* what, long in_nep_in, long in_file) {
    if (in_nep_in != in_file)
      differ.push_back(std::string(what) + " (nep.in: " + std::to_string(in_nep_in) + "; nep.txt: " + std::to_string(in_file) + ")");
  };
  compare("n_max radial", skeleton.n_max_radial, model.n_max_radial);
  compare("n_max angular", skeleton.n_max_angular, model.n_max_angular);
  compare("basis_size radial", skeleton.basis_size_radial, model.basis_size_radial);
  compare("basis_size angular", skeleton.basis_size_angular, model.basis_size_angular);
  compare("l_max", skeleton.l_max, model.l_max);
  compare("descriptor size", skeleton.dim(), model.dim());
  compare("neuron", skeleton.neurons1, model.neurons1);
  compare("second hidden layer", skeleton.neurons2, model.neurons2);
  if (differ.empty()) compare("number of parameters", long(skeleton.num_parameters()), long(model.num_parameters()));
  if (!differ.empty()) {
    std::string what;
    for (const auto& d : differ) what += (what.empty() ? "" : ", ") + d;
    throw InputError(base + "nep.txt does not match nep.in: " + what);
  }
  write_parity_files(directory, "train", data, predict_structures(model, data));
  if (options.output_descriptor == 0) return;
  auto ev = make_cpu_population_evaluator(model, data, {}, 0.0);
  const std::vector<double> z = parameter_vector(model);
  const int D = model.dim();
  std::ostringstream out;
  char buf[64];
  for (size_t s = 0; s < data.size(); ++s) {
    const auto q = ev->descriptors(z.data(), static_cast<int>(s));
    const size_t n = data[s].size();
    std::vector<double> mean(D, 0.0);
    for (size_t i = 0; i < n; ++i)
      for (int d = 0; d < D; ++d) {
        const double v = q[i * D + d] * model.q_scaler[d];
        if (options.output_descriptor == 2) {
          std::snprintf(buf, sizeof buf, d + 1 < D ? "%g " : "%g\n", v);
          out << buf;
        }
        mean[d] += v / n;
      }
    if (options.output_descriptor == 1)
      for (int d = 0; d < D; ++d) {
        std::snprintf(buf, sizeof buf, d + 1 < D ? "%g " : "%g\n", mean[d]);
        out << buf;
      }
  }
  write_text(base + "descriptor.out", out.str(), true);
}

}  // namespace nepcg
