// Deliberate errors for the CUDA emulation's own tests (nepcg/detail/cuda_emulation_probe.hpp).
// Built only with NEPCG_CUDA=EMULATE: on a GPU these would be real faults.
#include "nepcg/detail/cuda_emulation_probe.hpp"

#include <stdexcept>
#include <vector>

#include "cuda_support.cuh"

namespace nepcg::cuda {
namespace {

__global__ void write_indices(int n, int* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i;
}

// A struct argument with a pointer member, listed for the launch's check.
struct IntSpan {
  int* data;
  int n;
};
inline auto device_pointers(const IntSpan& s) { return NEPCG_EMU_POINTERS(s.data); }

__global__ void write_span(IntSpan s) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < s.n) s.data[i] = i;
}

}  // namespace

bool cuda_emulation_probe(const std::string& what) {
  if (what == "protected") return emu::device_memory_protected();
  constexpr int n = 1024;  // 4 KiB of ints: the array ends at its guard page
  Stream stream;
  DeviceArray<int> device(n);
  std::vector<int> host(n, 0);
  if (what == "kernel") {
    NEPCG_LAUNCH(write_indices, blocks_for(n, 64), 64, 0, stream.get())(n / 2, device.data());
    NEPCG_LAUNCH(write_span, blocks_for(n, 64), 64, 0, stream.get())(IntSpan{device.data() + n / 2, n - n / 2});
    NEPCG_CUDA_LAUNCHED("write_indices, write_span");
    device.download(host.data(), n, stream.get());
    stream.synchronize();
    for (int i = 0; i < n; ++i)
      if (host[i] != (i < n / 2 ? i : i - n / 2)) throw RuntimeError("emulated CUDA probe: the kernel's results did not arrive");
  } else if (what == "host-read") {
    volatile int* p = device.data();
    host[0] = p[n / 2];  // a host dereference of device memory
  } else if (what == "kernel-overrun") {
    NEPCG_LAUNCH(write_indices, 1, 32, 0, stream.get())(32, device.data() + (n - 31));  // (lane 31: one past)
    stream.synchronize();
  } else if (what == "host-argument") {
    NEPCG_LAUNCH(write_indices, 1, 32, 0, stream.get())(n, host.data());
  } else if (what == "host-member") {
    NEPCG_LAUNCH(write_span, 1, 32, 0, stream.get())(IntSpan{host.data(), 32});
  } else if (what == "copy-kind") {
    NEPCG_CUDA_CHECK(cudaMemcpyAsync(host.data(), host.data() + 1, 4, cudaMemcpyDeviceToHost, stream.get()));
  } else if (what == "copy-overrun") {
    NEPCG_CUDA_CHECK(cudaMemcpyAsync(device.data() + 1, host.data(), n * sizeof(int), cudaMemcpyHostToDevice,
                                     stream.get()));
  } else if (what == "free-host") {
    NEPCG_CUDA_CHECK(cudaFree(host.data()));
  } else {
    throw std::invalid_argument("cuda_emulation_probe: unknown probe '" + what + "'");
  }
  return true;
}

}  // namespace nepcg::cuda
