// NEP training with GPUMD's separable natural evolution strategy (SNES) and loss.
//
// The algorithm (population sampling, type-wise ranking, utilities, learning rates, L1/L2
// regularisation, energy shift, batches, q_scaler, report schedule) follows GPUMD's `nep` as
// specified in docs/training.md; all arithmetic is double precision and every random number
// comes from one seeded generator, so a seeded run is reproducible and a run resumed from its
// checkpoint continues bit-identically.
//
// The hot loop (every individual of the population on every structure of a batch) sits behind
// PopulationEvaluator, so a GPU backend can replace the CPU one without touching the algorithm.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nepcg/nep_direct.hpp"
#include "nepcg/nep_model.hpp"
#include "nepcg/random.hpp"
#include "nepcg/training/dataset.hpp"
#include "nepcg/training/nep_in.hpp"

namespace nepcg {

/// Errors of one parameter vector on one structure (what the loss needs).
struct StructureErrors {
  double energy_per_atom = 0.0;     ///< predicted sum_i U_i / N (eV/atom)
  double force_sse_weighted = 0.0;  ///< sum_i tau_{t_i}^2 rho_i |F_i - F_i^ref|^2 ((eV/Å)^2)
  double force_sse = 0.0;           ///< sum_i |F_i - F_i^ref|^2
  double virial_per_atom[6] = {0, 0, 0, 0, 0, 0};  ///< predicted total virial / N, xx yy zz xy yz zx
};

/// Full prediction of one model on one structure.
struct StructurePrediction {
  double energy = 0.0;              ///< eV, total
  std::vector<double> energies;     ///< per atom, eV
  std::vector<double> forces;       ///< 3N, eV/Å
  double virial[6] = {0, 0, 0, 0, 0, 0};  ///< total, eV, xx yy zz xy yz zx
};

/// Evaluates parameter vectors (nep.txt order: ann, c_radial, c_angular) of one model architecture
/// on a fixed set of structures. Structures are indexed as given to the constructor.
class PopulationEvaluator {
 public:
  virtual ~PopulationEvaluator() = default;
  /// out[p * structures.size() + k] = errors of individual p on structure structures[k].
  virtual void evaluate(const double* population, int count, const std::vector<int>& structures,
                        StructureErrors* out) const = 0;
  virtual StructurePrediction predict(const double* parameters, int structure) const = 0;
  /// Unscaled descriptors of every atom of a structure, (N, D) row-major.
  virtual std::vector<double> descriptors(const double* parameters, int structure) const = 0;
  virtual void set_q_scaler(const std::vector<double>& q_scaler) = 0;
};

/// The CPU (OpenMP) evaluator: neighbour lists and pair vectors are built once, and the
/// parameter-independent basis functions, harmonics and ZBL terms are cached (in double, plus a
/// float copy for Single) when the cache needs at most `cache_limit` bytes (otherwise they are
/// recomputed per individual).
/// `type_weight` (per model type, empty = 1) and `force_delta` enter StructureErrors::force_sse_weighted.
/// `precision`: Double evaluates 8 individuals per SIMD pack in double; Single 16 per pack in
/// float (parameters and cached terms rounded to float, every operation and sum of a structure
/// in float; about twice the throughput). Single applies to evaluate() on the cached path; the
/// uncached fallback and predict() (the reported errors and parity files) stay in double.
constexpr size_t kDefaultTrainingCacheLimit = size_t(8) << 30;
std::unique_ptr<PopulationEvaluator> make_cpu_population_evaluator(
    const NepModel& skeleton, const std::vector<TrainingStructure>& data, const std::vector<double>& type_weight,
    double force_delta, size_t cache_limit = kDefaultTrainingCacheLimit,
    NepPrecision precision = NepPrecision::Double);

namespace detail {
/// The CPU trainer's lane-wise tanh (the code the trainer runs on this CPU; float lanes with
/// `single`, each x rounded to float first) applied to every value of x: exposed for its
/// accuracy test against std::tanh.
std::vector<double> training_lanes_tanh(const std::vector<double>& x, bool single = false);
}  // namespace detail

/// Makes the evaluator for a data set (skeleton model, structures, type weights, force_delta);
/// the Trainer's default is make_cpu_population_evaluator. A GPU backend passes its own.
using EvaluatorFactory = std::function<std::unique_ptr<PopulationEvaluator>(
    const NepModel&, const std::vector<TrainingStructure>&, const std::vector<double>&, double)>;

/// One line of loss.out (RMSEs unweighted; train: current batch, energy-shifted; test: all, unshifted).
struct LossRecord {
  int generation = 0;  ///< g + 1
  double total = 0, l1 = 0, l2 = 0;
  double energy_train = 0, force_train = 0, virial_train = 0;  ///< eV/atom, eV/Å, eV/atom
  double energy_test = 0, force_test = 0, virial_test = 0;
};

class Trainer {
 public:
  /// `directory`: where GPUMD's output files go ("" = write nothing). When `resume` and the
  /// directory holds a checkpoint (nepcg.checkpoint), training continues from it; otherwise a
  /// GPUMD nep.restart there, if present, gives the initial mean and step sizes (as GPUMD).
  /// `evaluator`: how to evaluate the population (default: the CPU evaluator).
  Trainer(TrainingOptions options, std::vector<TrainingStructure> train, std::vector<TrainingStructure> test,
          std::string directory = "", bool resume = true, const EvaluatorFactory& evaluator = {});
  ~Trainer();

  /// Runs up to `n` generations (stops at options.generation). Returns the generations run.
  int run(int n);
  bool finished() const { return generation_ >= options_.generation; }
  int generation() const { return generation_; }  ///< generations completed
  const TrainingOptions& options() const { return options_; }
  size_t num_parameters() const { return owner_.size(); }
  int num_batches() const { return static_cast<int>(batches_.size()); }

  const std::vector<LossRecord>& history() const { return history_; }
  /// Best individual of the last report, energy-shifted (what nep.txt holds). Before the first
  /// report: the mean of the search distribution.
  NepModel best_model() const;
  /// The mean of the search distribution as a model (with the current q_scaler).
  NepModel mean_model() const;
  const std::vector<double>& mean() const { return mu_; }
  const std::vector<double>& step_sizes() const { return sigma_; }
  const std::vector<double>& q_scaler() const { return q_scaler_; }
  /// The last generation's individuals z_p = mu + sigma s_p and their noise s_p (P x N_par).
  const std::vector<double>& population() const { return population_; }
  const std::vector<double>& noise() const { return s_; }
  /// Owner type of each parameter (T = the global bias), as GPUMD's type-wise ranking.
  const std::vector<int>& parameter_owner() const { return owner_; }

  /// Loss terms of parameter vector z on batch `batch`, as the ranking uses them: for each type
  /// t = 0 ... T (T = all) the five values L1, L2, lambda_e RMSE_E, lambda_f RMSE_F, lambda_v RMSE_V.
  /// z may hold P vectors one after another (evaluated together, as a population): P x (T+1) x 5.
  std::vector<double> loss_terms(const std::vector<double>& z, int batch) const;
  /// Structures (indices into the training set) of each batch, in GPUMD's order.
  const std::vector<std::vector<int>>& batches() const { return batches_; }

  /// Empty, or why a resumed run may not be what the caller expects: the checkpoint was written
  /// for other training or test data (the run continues from it; the Python Trainer warns).
  const std::string& resume_warning() const { return resume_warning_; }

  /// Writes the checkpoint that `resume` reads (also done at every report when a directory is set).
  void save_checkpoint(const std::string& path) const;
  /// Writes energy/force/virial/stress_<suffix>.out of `model` on the training (or test) set.
  void write_predictions(const NepModel& model, bool test_set, const std::string& suffix) const;

 private:
  void initialise(bool resume);
  void compute_q_scaler();
  void one_generation();
  /// lambda-weighted energy, force and virial RMSEs of the population on one batch, [term][type][individual].
  std::vector<double> batch_losses(const double* population, int count, const std::vector<int>& batch) const;
  void report(int best_index, double total, double l1, double l2);
  /// lambda_1- and lambda_2-weighted norms of parameter vector z for each type t < T (its own
  /// parameters) and t = T (every parameter but the shared output bias): l1[t], l2[t].
  void regularisation(const double* z, double* l1, double* l2) const;
  bool load_checkpoint(const std::string& path);
  /// Fingerprints of the training and the test data, as the checkpoint's "data" line holds them.
  std::string data_fingerprint_hex() const;
  NepModel model_from(const double* parameters) const;
  std::string path(const std::string& name) const;

  TrainingOptions options_;
  std::vector<TrainingStructure> train_, test_;
  std::string directory_;
  std::string resume_warning_;
  NepModel skeleton_;
  double lambda_1_ = 0, lambda_2_ = 0, eta_sigma_ = 0;
  std::unique_ptr<PopulationEvaluator> train_eval_, test_eval_;
  std::vector<std::vector<int>> batches_;
  std::vector<std::vector<char>> contains_type_;  // [structure][type]
  std::vector<int> owner_;
  std::vector<double> mu_, sigma_, s_, population_, utility_, q_scaler_, best_;
  bool have_best_ = false;
  Random rng_;
  int generation_ = 0;
  std::vector<LossRecord> history_;
};

/// Evaluates a model on structures (for prediction mode and parity files).
/// `cache_limit` as make_cpu_population_evaluator (0: never cache).
std::vector<StructurePrediction> predict_structures(const NepModel& model, const std::vector<TrainingStructure>& data,
                                                   size_t cache_limit = kDefaultTrainingCacheLimit);

/// Writes GPUMD's energy_<suffix>.out, force_<suffix>.out, virial_<suffix>.out and
/// stress_<suffix>.out for predictions of `data` into `directory`.
void write_parity_files(const std::string& directory, const std::string& suffix,
                        const std::vector<TrainingStructure>& data, const std::vector<StructurePrediction>& predictions);

/// GPUMD's prediction mode: evaluates `directory`/nep.txt on `data` and writes *_train.out (and
/// descriptor.out when options.output_descriptor is 1 (per-structure mean) or 2 (per atom)).
void predict_directory(const TrainingOptions& options, const std::vector<TrainingStructure>& data,
                       const std::string& directory);

}  // namespace nepcg
