// The CUDA runtime for core/cuda: NVIDIA's, or the CPU emulation (NEPCG_CUDA=EMULATE; see
// cuda_emulation.hpp). Kernel launches and shared memory arrays go through macros so that the
// same sources compile both ways.
#pragma once

#ifdef NEPCG_CUDA_EMULATION
#include "cuda_emulation.hpp"
#else
#include <cuda_runtime.h>
/// kernel<<<grid, block, shared bytes, stream>>>(args) as NEPCG_LAUNCH(kernel, grid, block, shared bytes, stream)(args).
#define NEPCG_LAUNCH(kernel, ...) kernel<<<__VA_ARGS__>>>
/// The launch's dynamic shared memory as an array `name` of T.
#define NEPCG_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
/// A static shared array of the block, `__shared__ T name[n]` (the emulation gives each block its
/// own, filled with 0xff bytes, so that a read of an element no thread wrote shows).
#define NEPCG_STATIC_SHARED(T, name, n) __shared__ T name[n]
#endif
