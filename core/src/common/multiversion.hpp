// Internal: NEPCG_MULTIVERSION compiles a hot function twice, for baseline x86-64 and for
// x86-64-v3 (AVX2, FMA), and picks one at load time (GCC target_clones, Linux/glibc ifunc), so
// a portable wheel still uses FMA where the CPU has it. Results differ between the two at
// round-off (fused multiply-adds); on a given machine they are deterministic.
// Define NEPCG_NO_MULTIVERSION to build only the baseline version.
//
// The attribute must sit on a plain function: code in OpenMP parallel regions is outlined into
// functions that do not inherit it, so call the multiversioned function from inside the region.
// Callees that are not inlined run their baseline code: NEPCG_FLATTEN on the multiversioned
// function inlines its whole call tree (templates from the kernels included) into each clone.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(NEPCG_NO_MULTIVERSION)
#define NEPCG_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
// For loops written to vectorise (gathers, masks): an AVX-512 version too.
#define NEPCG_MULTIVERSION_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// For code whose data layout depends on the vector width (the trainer's lanes): one function
// compiled for AVX-512 only, called where nepcg_cpu_has_avx512() says the CPU runs it.
#define NEPCG_TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#define NEPCG_HAVE_AVX512_PATH 1
inline bool nepcg_cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define NEPCG_MULTIVERSION
#define NEPCG_MULTIVERSION_SIMD
#define NEPCG_HAVE_AVX512_PATH 0
#endif

#if defined(__GNUC__)
#define NEPCG_FLATTEN __attribute__((flatten))
#else
#define NEPCG_FLATTEN
#endif
