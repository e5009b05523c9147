// Minimal complex arithmetic usable on host and device.
#pragma once

#include "nepcg/kernels/hd.hpp"

namespace nepcg::kernels {

struct Cplx {
  double re, im;
};
NEPCG_HD Cplx operator+(Cplx a, Cplx b) { return {a.re + b.re, a.im + b.im}; }
NEPCG_HD Cplx operator*(Cplx a, Cplx b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
NEPCG_HD Cplx operator*(double s, Cplx a) { return {s * a.re, s * a.im}; }

}  // namespace nepcg::kernels
