// Device discovery for the CUDA backend.
#include "cuda_api.hpp"

#include "nepcg/detail/cuda_runtime_info.hpp"

namespace nepcg::cuda {

std::string query_devices(int& runtime_version, int& driver_version, std::vector<std::string>& names) {
  names.clear();
  runtime_version = 0;
  driver_version = 0;
  cudaRuntimeGetVersion(&runtime_version);
  cudaDriverGetVersion(&driver_version);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not affected
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, d) == cudaSuccess) {
      names.push_back(std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                      ", " + std::to_string(prop.totalGlobalMem >> 20) + " MiB)");
    }
  }
  return count == 0 ? "no CUDA device found" : "";
}

}  // namespace nepcg::cuda
