// A NEP model's arrays in device memory and the kernels::NepView that points into them (internal).
#pragma once

#include <vector>

#include "../common/cuda_support.cuh"
#include "nepcg/kernels/nep_view.hpp"
#include "nepcg/nep.hpp"

namespace nepcg::cuda {

class DeviceNepModel {
 public:
  /// Copies `model` and its tables to the device (through stream s; synchronises).
  DeviceNepModel(const NepModel& model, const NepTables& tables, cudaStream_t s) {
    put(ann_, model.ann, s);
    put(c_radial_, model.c_radial, s);
    put(c_angular_, model.c_angular, s);
    put(q_scaler_, model.q_scaler, s);
    put(cutoff_radial_, model.cutoff_radial, s);
    put(cutoff_angular_, model.cutoff_angular, s);
    put(zbl_flexible_, model.zbl_flexible, s);
    put(weights_, tables.weights(), s);
    put(norms_, tables.norms(), s);
    put(many_body_, tables.many_body_terms(), s);
    put(three_j_, tables.three_j(), s);
    put(atomic_numbers_, tables.atomic_numbers(), s);
    put(zbl_radii_, tables.zbl_radii(), s);
    view_ = tables.view(model);  // scalars from the host view; pointers replaced
    view_.ann = ann_.data();
    view_.c_radial = c_radial_.data();
    view_.c_angular = c_angular_.data();
    view_.q_scaler = q_scaler_.data();
    view_.cutoff_radial = cutoff_radial_.data();
    view_.cutoff_angular = cutoff_angular_.data();
    view_.weights = weights_.data();
    view_.norms = norms_.data();
    view_.many_body = many_body_.data();
    view_.three_j = three_j_.data();
    view_.zbl_flexible = zbl_flexible_.data();
    view_.atomic_numbers = atomic_numbers_.data();
    view_.zbl_radii = zbl_radii_.data();
    NEPCG_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  const kernels::NepView& view() const { return view_; }
  /// Replaces q_scaler (same length).
  void set_q_scaler(const std::vector<double>& q, cudaStream_t s) {
    put(q_scaler_, q, s);
    view_.q_scaler = q_scaler_.data();
    NEPCG_CUDA_CHECK(cudaStreamSynchronize(s));
  }

 private:
  template <class T>
  static void put(DeviceArray<T>& d, const std::vector<T>& h, cudaStream_t s) {
    if (h.empty()) {
      d.resize(1);  // a valid pointer for kernels that never read it
      return;
    }
    d.upload(h, s);
  }
  DeviceArray<double> ann_, c_radial_, c_angular_, q_scaler_, cutoff_radial_, cutoff_angular_, weights_, norms_,
      zbl_flexible_, zbl_radii_;
  DeviceArray<kernels::ManyBodyTerm> many_body_;
  DeviceArray<kernels::ThreeJEntry> three_j_;
  DeviceArray<int> atomic_numbers_;
  kernels::NepView view_{};
};

}  // namespace nepcg::cuda
