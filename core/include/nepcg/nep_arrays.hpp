// A NEP model's parameters and tables copied into one real type R (double or float), with the
// kernels::NepViewT<R> that points into them. The single-precision path (CPU check evaluator
// NepDirect and the GPU's float kernel) rounds the double model once, here; a device backend
// uploads these vectors and swaps the pointers.
#pragma once

#include <vector>

#include "nepcg/kernels/nep_view.hpp"
#include "nepcg/nep.hpp"

namespace nepcg {

template <class R>
struct NepArrays {
  std::vector<R> ann, c_radial, c_angular, q_scaler, cutoff_radial, cutoff_angular, weights, norms, zbl_flexible,
      zbl_radii;
  std::vector<kernels::ManyBodyTerm> many_body;
  std::vector<kernels::ThreeJEntryT<R>> three_j;
  std::vector<int> atomic_numbers;
  kernels::NepViewT<R> scalars{};  // the view's sizes, flags and scalars (pointers unset)

  NepArrays(const NepModel& model, const NepTables& tables) {
    const kernels::NepView v = tables.view(model);
    scalars.version = v.version;
    scalars.num_types = v.num_types;
    scalars.n_max_radial = v.n_max_radial;
    scalars.n_max_angular = v.n_max_angular;
    scalars.basis_radial = v.basis_radial;
    scalars.basis_angular = v.basis_angular;
    scalars.l_max = v.l_max;
    scalars.dim_radial = v.dim_radial;
    scalars.dim = v.dim;
    scalars.num_lm = v.num_lm;
    scalars.neurons1 = v.neurons1;
    scalars.neurons2 = v.neurons2;
    scalars.ann_block = v.ann_block;
    scalars.block_1111 = v.block_1111;
    scalars.num_many_body = v.num_many_body;
    scalars.zbl = v.zbl;
    scalars.zbl_inner = R(v.zbl_inner);
    scalars.zbl_outer = R(v.zbl_outer);
    scalars.zbl_factor = R(v.zbl_factor);
    ann = convert(model.ann);
    c_radial = convert(model.c_radial);
    c_angular = convert(model.c_angular);
    q_scaler = convert(model.q_scaler);
    cutoff_radial = convert(model.cutoff_radial);
    cutoff_angular = convert(model.cutoff_angular);
    weights = convert(tables.weights());
    norms = convert(tables.norms());
    zbl_flexible = convert(model.zbl_flexible);
    zbl_radii = convert(tables.zbl_radii());
    many_body = tables.many_body_terms();
    for (const auto& e : tables.three_j()) three_j.push_back({e.k1, e.k2, e.k3, R(e.coef)});
    atomic_numbers = tables.atomic_numbers();
  }

  /// The view of these (host) arrays.
  kernels::NepViewT<R> view() const { return point_view_at(scalars, *this); }

  /// `p` with its pointers set to the arrays of `a`: these vectors, or a backend's copies held
  /// under the same member names (anything with data()).
  template <class Arrays>
  static kernels::NepViewT<R> point_view_at(kernels::NepViewT<R> p, const Arrays& a) {
    p.ann = a.ann.data();
    p.c_radial = a.c_radial.data();
    p.c_angular = a.c_angular.data();
    p.q_scaler = a.q_scaler.data();
    p.cutoff_radial = a.cutoff_radial.data();
    p.cutoff_angular = a.cutoff_angular.data();
    p.weights = a.weights.data();
    p.norms = a.norms.data();
    p.many_body = a.many_body.data();
    p.three_j = a.three_j.data();
    p.zbl_flexible = a.zbl_flexible.data();
    p.atomic_numbers = a.atomic_numbers.data();
    p.zbl_radii = a.zbl_radii.data();
    return p;
  }

 private:
  static std::vector<R> convert(const std::vector<double>& v) { return std::vector<R>(v.begin(), v.end()); }
};

}  // namespace nepcg
