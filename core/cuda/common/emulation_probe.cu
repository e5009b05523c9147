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

// Reverses n ints through dynamic shared memory (one block; n * 4 bytes of it). Two copies, so
// that one keeps the default 48 KB limit whatever the other's attribute.
__device__ void reverse_staged(int n, const int* in, int* out) {
  NEPCG_DYNAMIC_SHARED(int, staged);
  for (int i = threadIdx.x; i < n; i += blockDim.x) staged[i] = in[i];
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = staged[n - 1 - i];
}
__global__ void reverse_through_shared(int n, const int* in, int* out) { reverse_staged(n, in, out); }
__global__ void reverse_through_shared_default(int n, const int* in, int* out) { reverse_staged(n, in, out); }

// Block 0 writes all 32 elements of a static shared array, block 1 only the first 16; each
// thread then copies its element out. The unwritten ones must read as undefined (0xff bytes).
__global__ void copy_static_shared(int* out) {
  NEPCG_STATIC_SHARED(int, part, 32);
  const int t = threadIdx.x;
  if (blockIdx.x == 0 || t < 16) part[t] = int(blockIdx.x) * 100 + t;
  __syncthreads();
  out[blockIdx.x * 32 + t] = part[t];
}

// Launches `kernel` (a pointer, as the site kernels are launched) with 96 KB of dynamic shared
// memory, after raising its limit to `limit` bytes unless limit < 0.
void launch_with_96k_shared(void (*kernel)(int, const int*, int*), int limit) {
  constexpr int n = 96 * 256;  // 96 KB of ints
  if (limit >= 0) NEPCG_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limit));
  Stream stream;
  DeviceArray<int> in(n), out(n);
  std::vector<int> host(n);
  for (int i = 0; i < n; ++i) host[i] = i;
  in.upload(host.data(), n, stream.get());
  NEPCG_LAUNCH(kernel, 1, 256, n * sizeof(int), stream.get())(n, in.data(), out.data());
  NEPCG_CUDA_LAUNCHED("reverse_through_shared");
  out.download(host.data(), n, stream.get());
  stream.synchronize();
  for (int i = 0; i < n; ++i)
    if (host[i] != n - 1 - i) throw RuntimeError("emulated CUDA probe: the shared-memory kernel's results did not arrive");
}

}  // namespace

bool cuda_emulation_probe(const std::string& what) {
  if (what == "protected") return emu::device_memory_protected();
  if (what == "shared-opt-in") {  // 96 KB of dynamic shared memory, the kernel's limit raised to it
    launch_with_96k_shared(reverse_through_shared, 96 * 1024);
    return true;
  }
  if (what == "shared-below-need") {  // its limit raised, but to 64 KB
    launch_with_96k_shared(reverse_through_shared, 64 * 1024);
    return true;
  }
  if (what == "shared-default") {  // never raised: the 48 KB every kernel starts with
    launch_with_96k_shared(reverse_through_shared_default, -1);
    return true;
  }
  if (what == "shared-attribute-too-large") {  // above the device's opt-in maximum (227 KB)
    NEPCG_CUDA_CHECK(cudaFuncSetAttribute(reverse_through_shared, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          228 * 1024));
    return true;
  }
  constexpr int n = 1024;  // 4 KiB of ints: the array ends at its guard page
  Stream stream;
  DeviceArray<int> device(n);
  std::vector<int> host(n, 0);
  if (what == "static-shared") {  // true when block 1's unwritten elements read as 0xff bytes
    NEPCG_LAUNCH(copy_static_shared, 2, 32, 0, stream.get())(device.data());
    NEPCG_CUDA_LAUNCHED("copy_static_shared");
    device.download(host.data(), n, stream.get());
    stream.synchronize();
    for (int t = 0; t < 32; ++t)
      if (host[t] != t || (t < 16 && host[32 + t] != 100 + t)) throw RuntimeError("emulated CUDA probe: wrong values");
    for (int t = 16; t < 32; ++t)
      if (host[32 + t] != -1) return false;
    return true;
  }
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
