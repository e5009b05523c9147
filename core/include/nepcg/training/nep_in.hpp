// Training hyper-parameters and GPUMD's nep.in format.
//
// Every keyword of GPUMD's `nep` for potential models is accepted with GPUMD's syntax, defaults
// and limits (see docs/training.md); keywords for other model kinds (dipole, polarizability,
// qNEP charges, vdW) are recognised and rejected with a clear error. One extension: `seed S`
// makes a run reproducible (GPUMD seeds from the clock). Cutoffs in Å.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "nepcg/nep_model.hpp"

namespace nepcg {

struct TrainingOptions {
  std::vector<std::string> types;  ///< `type`: species names in model order (mandatory)
  int version = 4;                 ///< only 4 is trained (as GPUMD)
  bool prediction = false;         ///< evaluate ./nep.txt on the data instead of training
  std::vector<double> type_weight; ///< per-type force weight (empty: all 1)
  double zbl_outer = 0.0;          ///< universal ZBL outer cutoff r_out (0: off); r_in = r_out/2
  double zbl_typewise_factor = 0.0;  ///< `use_typewise_cutoff_zbl f` (0: off)
  /// Flexible ZBL from `zbl.in` (GPUMD: read when `zbl` is set; r_out and the type-wise factor
  /// are then ignored): 10 numbers per unordered type pair, r1 r2 alpha1 beta1 ... alpha4 beta4,
  /// pairs (0,0), (0,1), ..., (T-1,T-1). Empty: universal or type-wise ZBL (or none).
  std::vector<double> zbl_flexible;
  std::vector<double> cutoff_radial{8.0}, cutoff_angular{4.0};  ///< one value or one per type
  int n_max_radial = 6, n_max_angular = 6;
  int basis_size_radial = 6, basis_size_angular = 6;
  int l_max = 4;
  std::array<int, kNumNepTerms> terms{1, 0, 0, 0, 0, 0};  ///< f222 f1111 f112 f123 f233 f134
  int neurons1 = 30, neurons2 = 0;
  double lambda_1 = -1.0, lambda_2 = -1.0;  ///< < 0: GPUMD's default sqrt(N_par / T) / 1000
  double lambda_e = 1.0, lambda_f = 1.0, lambda_v = 0.1, lambda_shear = 1.0;
  double force_delta = 0.0;
  int batch = 1000;
  bool full_batch = false;
  int population = 50;
  int generation = 100000;
  int output_interval = 100;
  int save_potential = 100000, save_potential_format = 1;
  bool save_potential_restart = false;
  int output_descriptor = 0;
  bool import_q_scaler = false;
  std::string fine_tune_model, fine_tune_restart;  ///< `fine_tune` (both empty: off)
  bool fine_tune_descriptor = true;
  double initial_para = 1.0, sigma0 = 0.1;
  bool has_seed = false;
  uint64_t seed = 0;

  int num_types() const { return static_cast<int>(types.size()); }
  /// The model these hyper-parameters define, with zero-filled parameters and q_scaler.
  NepModel model_skeleton() const;
  /// λ1, λ2 with GPUMD's defaults resolved for a model with `num_parameters` parameters.
  double resolved_lambda_1(size_t num_parameters) const;
  double resolved_lambda_2(size_t num_parameters) const;
  /// Checks ranges and consistency (limits of GPUMD's nep); throws InputError.
  void validate() const;
};

/// Parses nep.in text (`name` for error messages); throws FileFormatError(file, line, reason).
TrainingOptions parse_nep_in(const std::string& text, const std::string& name = "nep.in");
/// Reads nep.in and, when it sets `zbl`, a `zbl.in` in the same folder (GPUMD reads both from
/// its working folder).
TrainingOptions read_nep_in(const std::string& path);
/// zbl.in text: T(T+1)/2 lines of 10 numbers (GPUMD's flexible ZBL parameters); throws
/// FileFormatError(file, line, reason).
std::vector<double> parse_zbl_in(const std::string& text, const std::string& name, int num_types);
/// Sets options.zbl_flexible from the file `path` when it exists and `zbl` is set; returns whether
/// it did. A zbl.in without `zbl` is ignored, as GPUMD does.
bool load_zbl_in(TrainingOptions& options, const std::string& path);
/// nep.in text with every keyword that differs from GPUMD's default (plus `type`).
std::string format_nep_in(const TrainingOptions& options);

}  // namespace nepcg
