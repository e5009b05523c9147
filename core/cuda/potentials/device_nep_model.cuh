// A NEP model's arrays in device memory, in real type R, and the kernels::NepViewT<R> that points
// into them (internal). Built from NepArrays<R> (the model rounded to R on the host).
#pragma once

#include <vector>

#include "../common/cuda_support.cuh"
#include "nepcg/kernels/nep_view.hpp"
#include "nepcg/nep.hpp"
#include "nepcg/nep_arrays.hpp"

namespace nepcg::cuda {

template <class R>
class DeviceNepModelT {
 public:
  /// Copies `model` and its tables, rounded to R, to the device (through stream s; synchronises).
  DeviceNepModelT(const NepModel& model, const NepTables& tables, cudaStream_t s)
      : DeviceNepModelT(NepArrays<R>(model, tables), s) {}

  DeviceNepModelT(const NepArrays<R>& h, cudaStream_t s) {
    put(ann_, h.ann, s);
    put(c_radial_, h.c_radial, s);
    put(c_angular_, h.c_angular, s);
    put(q_scaler_, h.q_scaler, s);
    put(cutoff_radial_, h.cutoff_radial, s);
    put(cutoff_angular_, h.cutoff_angular, s);
    put(zbl_flexible_, h.zbl_flexible, s);
    put(weights_, h.weights, s);
    put(norms_, h.norms, s);
    put(many_body_, h.many_body, s);
    put(three_j_, h.three_j, s);
    put(atomic_numbers_, h.atomic_numbers, s);
    put(zbl_radii_, h.zbl_radii, s);
    view_ = h.scalars;
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

  const kernels::NepViewT<R>& view() const { return view_; }
  /// Replaces q_scaler (same length).
  void set_q_scaler(const std::vector<double>& q, cudaStream_t s) {
    put(q_scaler_, std::vector<R>(q.begin(), q.end()), s);
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
    NEPCG_CUDA_CHECK(cudaStreamSynchronize(s));  // h may be a temporary
  }
  DeviceArray<R> ann_, c_radial_, c_angular_, q_scaler_, cutoff_radial_, cutoff_angular_, weights_, norms_,
      zbl_flexible_, zbl_radii_;
  DeviceArray<kernels::ManyBodyTerm> many_body_;
  DeviceArray<kernels::ThreeJEntryT<R>> three_j_;
  DeviceArray<int> atomic_numbers_;
  kernels::NepViewT<R> view_{};
};

using DeviceNepModel = DeviceNepModelT<double>;

}  // namespace nepcg::cuda
