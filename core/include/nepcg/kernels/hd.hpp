// NEPCG_HD marks maths shared by the CPU reference and the CUDA backend: plain inline functions
// for a C++ compiler, __host__ __device__ functions for nvcc.
#pragma once

#if defined(__CUDACC__)
#define NEPCG_HD __host__ __device__ inline
#else
#define NEPCG_HD inline
#endif
