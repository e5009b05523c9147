// Minimal complex arithmetic usable on host and device, in the kernels' real type R.
#pragma once

#include "nepcg/kernels/hd.hpp"

namespace nepcg::kernels {

template <class R>
struct CplxT {
  R re, im;
};
using Cplx = CplxT<double>;

template <class R>
NEPCG_HD CplxT<R> operator+(CplxT<R> a, CplxT<R> b) {
  return {a.re + b.re, a.im + b.im};
}
template <class R>
NEPCG_HD CplxT<R> operator*(CplxT<R> a, CplxT<R> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <class R>
NEPCG_HD CplxT<R> operator*(R s, CplxT<R> a) {
  return {s * a.re, s * a.im};
}

}  // namespace nepcg::kernels
