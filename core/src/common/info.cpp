#include "nepcg/info.hpp"

#include <sstream>

#include "nepcg/config.hpp"
#if NEPCG_HAVE_CUDA_BUILD
#include "nepcg/detail/cuda_runtime_info.hpp"
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace nepcg {

void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
#else
  (void)n;
#endif
}

int get_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

BuildInfo build_info() {
  BuildInfo info;
  info.version = NEPCG_VERSION;
#ifdef _OPENMP
  info.openmp = true;
  info.max_threads = omp_get_max_threads();
#endif
#if NEPCG_HAVE_CUDA_BUILD
  info.cuda_compiled = true;
  info.cuda_status = cuda::query_devices(info.cuda_runtime_version, info.cuda_driver_version, info.gpus);
#else
  info.cuda_status = "CUDA backend not compiled (built without nvcc or with NEPCG_CUDA=OFF)";
#endif
  return info;
}

std::string build_info_text() {
  const BuildInfo b = build_info();
  std::ostringstream out;
  out << "nepcg " << b.version << "\n";
  out << "  OpenMP: " << (b.openmp ? "yes (" + std::to_string(b.max_threads) + " threads)" : std::string("no")) << "\n";
  out << "  CUDA backend: ";
  if (b.cuda_compiled && NEPCG_CUDA_EMULATION_BUILD)
    out << "compiled as a CPU emulation (NEPCG_CUDA=EMULATE: for testing; device=\"auto\" never picks it)\n";
  else if (b.cuda_compiled)
    out << "compiled (runtime " << b.cuda_runtime_version / 1000 << "." << (b.cuda_runtime_version % 1000) / 10
        << ")\n";
  else
    out << "not compiled\n";
  if (b.gpus.empty()) {
    out << "  GPUs: none (" << b.cuda_status << "); running on the CPU\n";
  } else {
    for (size_t i = 0; i < b.gpus.size(); ++i) out << "  GPU " << i << ": " << b.gpus[i] << "\n";
  }
  return out.str();
}

}  // namespace nepcg
