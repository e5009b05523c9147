// Internal: the reciprocal-space part of the Ewald sum (and the choice of alpha and the k cut-off
// from an accuracy), used by FlexibleWater. See water.hpp for the conventions.
#pragma once

#include <vector>

#include "nepcg/potential.hpp"
#include "nepcg/water.hpp"

namespace nepcg::detail {

/// alpha (1/Å) and the k cut-off for a fully periodic box with n charges, sum_q2 = ke sum q_i^2
/// (eV Å), real-space cutoff rc (Å) and an absolute RMS force accuracy (eV/Å), by the
/// Kolafa-Perram (1992) estimates. A positive `alpha` is used as given.
EwaldSetup ewald_setup(const Box& box, size_t n, double sum_q2, double rc, double accuracy, double alpha);

/// Adds the reciprocal sum, the self term and the neutralising-background term (energies,
/// forces, per-atom virials) for charges q (e) to `out`. ke in eV Å / e^2.
void ewald_reciprocal(const System& s, const std::vector<double>& q, const EwaldSetup& setup, double ke,
                      ForceResult& out);

/// Smooth PME: chooses the grid (e.grid, e.pme_error) for B-spline `order` so that the estimated
/// RMS reciprocal force error is at most `accuracy` (eV/Å); e.alpha and e.kcut must be set.
void pme_grid_setup(const Box& box, size_t n, double sum_q2, double accuracy, int order, EwaldSetup& e);
/// Estimated RMS reciprocal-space force error (eV/Å) of smooth PME on `grid`.
double pme_error_estimate(const Box& box, const std::array<int, 3>& grid, int order, double alpha, double sum_q2,
                          size_t natoms);
/// Adds the smooth-PME reciprocal sum, self and background terms (as ewald_reciprocal).
void pme_reciprocal(const System& s, const std::vector<double>& q, const EwaldSetup& setup, int order, double ke,
                    ForceResult& out);

}  // namespace nepcg::detail
