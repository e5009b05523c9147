// NEP model parameters and the GPUMD nep.txt format (see docs/nep.md and GPUMD's manual).
//
// Supported: potential models nep3 (legacy: one network for all types), nep4 and nep5 (an extra
// per-type energy bias), each with or without ZBL (universal, type-wise cutoff, flexible), with a
// global or per-element cutoff, one or two hidden layers, l_max up to 8 and every optional
// many-body term (4-body 222, 112, 123, 233, 134; 5-body 1111).
// Parameters are kept in file order; all arithmetic is double precision.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace nepcg {

enum class ZblKind { None, Universal, Typewise, Flexible };

/// Optional many-body descriptor terms, in the order their blocks appear in the descriptor.
enum NepTerm { kTerm222 = 0, kTerm1111, kTerm112, kTerm123, kTerm233, kTerm134, kNumNepTerms };

struct NepModel {
  int version = 4;                    ///< 3, 4 or 5
  std::vector<std::string> elements;  ///< species names in type order (line 1 of nep.txt)

  ZblKind zbl = ZblKind::None;
  double zbl_inner = 0.0, zbl_outer = 0.0;  ///< Å (universal; outer also caps the type-wise form)
  double zbl_typewise_factor = 0.0;         ///< type-wise form: r_out(i,j) = f (Rcov_i + Rcov_j)
  std::vector<double> zbl_flexible;         ///< flexible form: 10 numbers per unordered type pair

  std::vector<double> cutoff_radial, cutoff_angular;  ///< Å, one per element
  bool typewise_cutoff = false;                       ///< header lists one cutoff pair per element
  int max_neighbors_radial = 0, max_neighbors_angular = 0;  ///< MN_R, MN_A of the header

  int n_max_radial = 0, n_max_angular = 0;
  int basis_size_radial = 0, basis_size_angular = 0;
  int l_max = 4;
  std::array<int, kNumNepTerms> terms{};  ///< flags as written (f222 is written as 2 when on)
  int neurons1 = 0, neurons2 = 0;         ///< neurons2 > 0: two hidden layers

  std::vector<double> ann;        ///< network parameters in file order (all types, then biases)
  std::vector<double> c_radial;   ///< T^2 (n_max_R+1)(basis_R+1), offset ((n(K+1)+k)T+a)T+b
  std::vector<double> c_angular;  ///< T^2 (n_max_A+1)(basis_A+1)
  std::vector<double> q_scaler;   ///< one per descriptor component

  int num_types() const { return static_cast<int>(elements.size()); }
  bool has_term(NepTerm t) const { return terms[t] != 0; }
  int num_terms_enabled() const;
  int dim_radial() const { return n_max_radial + 1; }
  int dim_angular() const { return (n_max_angular + 1) * (l_max + num_terms_enabled()); }
  int dim() const { return dim_radial() + dim_angular(); }
  /// Number of network parameters of one type's block (excluding global biases).
  size_t ann_block_size() const;
  /// Total size of `ann` implied by the hyper-parameters.
  size_t ann_size() const;
  size_t c_radial_size() const;
  size_t c_angular_size() const;
  /// Trainable parameters: ann + c_radial + c_angular.
  size_t num_parameters() const { return ann_size() + c_radial_size() + c_angular_size(); }
  double max_cutoff_radial() const;
  double max_cutoff_angular() const;

  /// Checks hyper-parameter ranges and array sizes; throws InputError.
  void validate() const;
  /// The part of validate() that needs no parameter arrays (the header's hyper-parameters):
  /// checked before arrays are sized from them.
  void validate_header() const;
};

/// Reads nep.txt; throws IOError / FileFormatError (file, line, reason).
NepModel read_nep_model(const std::string& path);
/// Parses nep.txt text; `name` is used in error messages.
NepModel parse_nep_model(const std::string& text, const std::string& name = "<string>");

/// Number format of the parameter lines: Exact writes the shortest decimal that reads back to the
/// same double (bit-exact round trip); Gpumd writes C "%15.7e" as GPUMD's nep does (header reals
/// with "%g"), reproducing GPUMD's own files character for character.
enum class NepNumberFormat { Exact, Gpumd };

std::string format_nep_model(const NepModel& model, NepNumberFormat format = NepNumberFormat::Exact);
void write_nep_model(const NepModel& model, const std::string& path,
                     NepNumberFormat format = NepNumberFormat::Exact);

}  // namespace nepcg
