// NEP potential on the CPU (double precision, OpenMP): the reference implementation that the
// CUDA backend and the trainer are checked against. Energies, forces and per-atom virials follow
// GPUMD's conventions exactly (see potential.hpp for units and signs).
#pragma once

#include <string>
#include <vector>

#include "nepcg/kernels/nep_view.hpp"
#include "nepcg/nep_model.hpp"
#include "nepcg/potential.hpp"

namespace nepcg {

/// Tables derived from a NepModel that the kernels need (angular weights, Wigner-3j products,
/// atomic numbers for ZBL). Owns the memory a kernels::NepView points into.
class NepTables {
 public:
  explicit NepTables(const NepModel& model);
  /// A view of `model` (which must outlive the view) with these tables.
  kernels::NepView view(const NepModel& model) const;

  // The tables themselves (a backend copies them to its own memory).
  const std::vector<double>& weights() const { return weights_; }
  const std::vector<double>& norms() const { return norms_; }
  const std::vector<kernels::ManyBodyTerm>& many_body_terms() const { return terms_; }
  const std::vector<kernels::ThreeJEntry>& three_j() const { return three_j_; }
  const std::vector<int>& atomic_numbers() const { return atomic_numbers_; }
  const std::vector<double>& zbl_radii() const { return zbl_radii_; }

 private:
  std::vector<double> weights_, norms_;
  std::vector<kernels::ManyBodyTerm> terms_;
  std::vector<kernels::ThreeJEntry> three_j_;
  std::vector<int> atomic_numbers_;
  std::vector<double> zbl_radii_;
  int block_1111_ = -1;
};

class NEP : public Potential {
 public:
  /// Reads a GPUMD nep.txt (throws IOError / FileFormatError).
  explicit NEP(const std::string& path);
  explicit NEP(NepModel model);

  const NepModel& model() const { return model_; }
  std::string name() const override { return "NEP"; }
  double cutoff() const override { return model_.max_cutoff_radial(); }
  double secondary_cutoff() const override { return model_.max_cutoff_angular(); }
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;

  /// Descriptor of every atom, (N, D) row-major; multiplied by q_scaler when `scaled`
  /// (the network input, as GPUMD's descriptor.out).
  std::vector<double> descriptors(const System& system, const NeighborList& list, bool scaled = false) const;
  std::vector<double> descriptors(const System& system, bool scaled = false) const;

  /// Model type of each system type (matched by species name); throws InputError when the
  /// system has a species the model does not have.
  std::vector<int> type_map(const System& system) const;
  /// Throws InputError unless `list` was built for `system` with at least the radial cutoff.
  void check_list(const System& system, const NeighborList& list) const;
  kernels::NepView view() const { return tables_.view(model_); }
  const NepTables& tables() const { return tables_; }

 private:
  NepModel model_;
  NepTables tables_;
};

/// Wigner 3j symbol (j1 j2 j3; m1 m2 m3) for integer arguments (Racah's formula).
double wigner_3j(int j1, int j2, int j3, int m1, int m2, int m3);

}  // namespace nepcg
