// NepDirect: NEP evaluated on the CPU by the GPU warp kernel's algorithm, in double or single
// precision. Per atom: the pair values (kernels::pair_values) summed (the radial basis values per
// neighbour type, contracted into the radial descriptor once per atom; the angular products), the
// network (kernels::site_energy), then each partial force recomputed from the pair (kernels::
// partial_force_direct) instead of from cached terms; forces and virials gathered in double.
//
// Double: the same values as NEP to round-off (a CPU check of the GPU kernel's building blocks).
// Single: every kernel operation in float (model rounded once to float), pair vectors from double
// positions, energies, forces and virials accumulated in double: exactly the maths of GpuNEP's
// single-precision path up to summation order, so its accuracy is measured here on any machine
// (docs/gpu.md states the tolerance). Not a fast path: no pair-term cache and no SIMD.
#pragma once

#include <memory>
#include <string>

#include "nepcg/nep.hpp"

namespace nepcg {

enum class NepPrecision { Double, Single };

/// "double" or "single" (throws InputError otherwise).
NepPrecision parse_nep_precision(const std::string& name);
std::string to_string(NepPrecision p);

/// Throws InputError unless the single-precision kernels take `model` (one hidden layer,
/// 1 <= l_max <= 4: the GPU warp kernel's models).
void require_direct_kernel_model(const NepModel& model, const std::string& who);

class NepDirect : public Potential {
 public:
  NepDirect(NepModel model, NepPrecision precision);
  ~NepDirect() override;

  const NepModel& model() const { return nep_.model(); }
  NepPrecision precision() const { return precision_; }
  /// The double-precision cached-terms evaluator of the same model (descriptors, checks).
  const NEP& reference() const { return nep_; }
  std::string name() const override { return precision_ == NepPrecision::Single ? "NEP (single)" : "NEP (direct)"; }
  double cutoff() const override { return nep_.cutoff(); }
  double secondary_cutoff() const override { return nep_.secondary_cutoff(); }
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override;

  struct Arrays;

 private:
  NEP nep_;
  NepPrecision precision_;
  std::unique_ptr<Arrays> arrays_;
};

}  // namespace nepcg
