// A NEP model's arrays in device memory, in real type R, and the kernels::NepViewT<R> that points
// into them (internal). Built from NepArrays<R> (the model rounded to R on the host).
#pragma once

#include <vector>

#include "../common/cuda_support.cuh"
#include "nepcg/kernels/nep_view.hpp"
#include "nepcg/nep.hpp"
#include "nepcg/nep_arrays.hpp"

#ifdef NEPCG_CUDA_EMULATION  // (the launch's pointer check; cuda_emulation.hpp)
namespace nepcg::kernels {
template <class R>
auto device_pointers(const NepViewT<R>& p) {
  return NEPCG_EMU_POINTERS(p.ann, p.c_radial, p.c_angular, p.q_scaler, p.cutoff_radial, p.cutoff_angular, p.weights,
                            p.norms, p.many_body, p.three_j, p.zbl_flexible, p.atomic_numbers, p.zbl_radii,
                            p.w0_transposed);
}
static_assert(::nepcg::emu::lists_device_pointers<NepViewT<double>>::value, "launch check of NepViewT");
}  // namespace nepcg::kernels
#endif

namespace nepcg::cuda {

template <class R>
class DeviceNepModelT {
 public:
  /// Copies `model` and its tables, rounded to R, to the device (through stream s; synchronises).
  DeviceNepModelT(const NepModel& model, const NepTables& tables, cudaStream_t s)
      : DeviceNepModelT(NepArrays<R>(model, tables), s) {}

  DeviceNepModelT(const NepArrays<R>& h, cudaStream_t s) {
    put(d_.ann, h.ann, s);
    put(d_.c_radial, h.c_radial, s);
    put(d_.c_angular, h.c_angular, s);
    put(d_.q_scaler, h.q_scaler, s);
    put(d_.cutoff_radial, h.cutoff_radial, s);
    put(d_.cutoff_angular, h.cutoff_angular, s);
    put(d_.weights, h.weights, s);
    put(d_.norms, h.norms, s);
    put(d_.many_body, h.many_body, s);
    put(d_.three_j, h.three_j, s);
    put(d_.zbl_flexible, h.zbl_flexible, s);
    put(d_.atomic_numbers, h.atomic_numbers, s);
    put(d_.zbl_radii, h.zbl_radii, s);
    view_ = NepArrays<R>::point_view_at(h.scalars, d_);
    put(w0_transposed_, transposed_first_layer(h), s);
  }

  const kernels::NepViewT<R>& view() const { return view_; }
  /// view() with w0_transposed set (for kernels that read the first layer one neuron per lane).
  kernels::NepViewT<R> view_with_transposed_w0() const {
    kernels::NepViewT<R> v = view_;
    v.w0_transposed = w0_transposed_.data();
    return v;
  }
  /// Replaces q_scaler (same length).
  void set_q_scaler(const std::vector<double>& q, cudaStream_t s) {
    put(d_.q_scaler, std::vector<R>(q.begin(), q.end()), s);
    view_.q_scaler = d_.q_scaler.data();
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
  // W0 of every ann block (one for NEP3, one per type otherwise) as [block][d][mu].
  static std::vector<R> transposed_first_layer(const NepArrays<R>& h) {
    const kernels::NepViewT<R>& p = h.scalars;
    const int blocks = p.version == 3 ? 1 : p.num_types, N1 = p.neurons1, D = p.dim;
    std::vector<R> t(size_t(blocks) * N1 * D);
    for (int b = 0; b < blocks; ++b)
      for (int mu = 0; mu < N1; ++mu)
        for (int d = 0; d < D; ++d)
          t[(size_t(b) * D + d) * N1 + mu] = h.ann[size_t(b) * p.ann_block + size_t(mu) * D + d];
    return t;
  }
  DeviceArray<R> w0_transposed_;
  struct Arrays {  // the members of NepArrays<R>, in device memory
    DeviceArray<R> ann, c_radial, c_angular, q_scaler, cutoff_radial, cutoff_angular, weights, norms, zbl_flexible,
        zbl_radii;
    DeviceArray<kernels::ManyBodyTerm> many_body;
    DeviceArray<kernels::ThreeJEntryT<R>> three_j;
    DeviceArray<int> atomic_numbers;
  } d_;
  kernels::NepViewT<R> view_{};
};

using DeviceNepModel = DeviceNepModelT<double>;

}  // namespace nepcg::cuda
