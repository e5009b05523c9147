// Compile-time limits of the NEP kernels (local arrays are sized by them).
#pragma once

#include "nepcg/kernels/hd.hpp"

namespace nepcg::kernels {

constexpr int kMaxN = 20;           // n_max + 1
constexpr int kMaxK = 20;           // basis_size + 1
constexpr int kMaxL = 8;            // l_max
constexpr int kMaxLm = (kMaxL + 1) * (kMaxL + 1) - 1;  // real harmonics for l = 1 ... kMaxL
constexpr int kMaxDim = 400;        // descriptor size
constexpr int kMaxNeurons = 200;    // neurons per hidden layer

}  // namespace nepcg::kernels
