// CUDA plumbing shared by the backend: error checks that throw nepcg::RuntimeError (never abort),
// RAII device arrays and streams. Internal to core/cuda (not installed).
#pragma once

#include "cuda_api.hpp"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "nepcg/error.hpp"

namespace nepcg::cuda {

/// Throws RuntimeError "CUDA: <call> failed (<file>:<line>): <name>: <message>" when err is not
/// cudaSuccess. The sticky error state is cleared first so the process can go on.
inline void check(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return;
  cudaGetLastError();
  throw RuntimeError(std::string("CUDA: ") + call + " failed (" + file + ":" + std::to_string(line) +
                     "): " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

}  // namespace nepcg::cuda

#define NEPCG_CUDA_CHECK(call) ::nepcg::cuda::check((call), #call, __FILE__, __LINE__)
/// After a kernel launch: reports launch errors (bad configuration, no device) at once.
#define NEPCG_CUDA_LAUNCHED(name) ::nepcg::cuda::check(cudaGetLastError(), "launch of " name, __FILE__, __LINE__)

namespace nepcg::cuda {

/// A stream owned by one engine (Simulator or potential): every kernel and copy of that engine
/// goes through it, so engines on one GPU do not serialise on the legacy default stream.
class Stream {
 public:
  Stream() { NEPCG_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { NEPCG_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

/// Device memory for n values of T (cudaMalloc; freed by the destructor). Contents are undefined
/// after resize(); copies go through the given stream.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t n) { resize(n); }
  ~DeviceArray() { release(); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }

  /// Reallocates when the size changes (old contents are lost).
  void resize(size_t n) {
    if (n == n_) return;
    release();
    if (n > 0) NEPCG_CUDA_CHECK(cudaMalloc(&p_, n * sizeof(T)));
    n_ = n;
  }
  /// Grows to at least n (never shrinks).
  void reserve(size_t n) {
    if (n > n_) resize(n);
  }
  void upload(const T* host, size_t n, cudaStream_t s) {
    resize(n);
    if (n) NEPCG_CUDA_CHECK(cudaMemcpyAsync(p_, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
  }
  void upload(const std::vector<T>& host, cudaStream_t s) { upload(host.data(), host.size(), s); }
  /// Copies the first n values to host (asynchronous: synchronise the stream before reading).
  void download(T* host, size_t n, cudaStream_t s) const {
    if (n) NEPCG_CUDA_CHECK(cudaMemcpyAsync(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
  void copy_from(const DeviceArray& o, cudaStream_t s) {
    resize(o.n_);
    if (n_) NEPCG_CUDA_CHECK(cudaMemcpyAsync(p_, o.p_, n_ * sizeof(T), cudaMemcpyDeviceToDevice, s));
  }
  void fill_zero(cudaStream_t s) {
    if (n_) NEPCG_CUDA_CHECK(cudaMemsetAsync(p_, 0, n_ * sizeof(T), s));
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  void release() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  size_t n_ = 0;
};

/// A CUDA graph of the kernels that `record()` launches on stream s (captured once, replayed by
/// launch()). Replaying a captured MD step costs one launch instead of one per kernel, which is
/// most of a step's time in small systems. The captured launches must not depend on host state
/// that changes between replays (per-step values live in device memory).
class CapturedGraph {
 public:
  template <class Record>
  CapturedGraph(cudaStream_t s, Record&& record) {
    NEPCG_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    cudaGraph_t graph = nullptr;
    try {
      record();
    } catch (...) {
      cudaStreamEndCapture(s, &graph);  // leave the stream usable, then report the first error
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();
      throw;
    }
    NEPCG_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    const cudaError_t instantiated = cudaGraphInstantiate(&exec_, graph, 0);
    cudaGraphDestroy(graph);
    NEPCG_CUDA_CHECK(instantiated);
  }
  ~CapturedGraph() {
    if (exec_) cudaGraphExecDestroy(exec_);
  }
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  void launch(cudaStream_t s) const { NEPCG_CUDA_CHECK(cudaGraphLaunch(exec_, s)); }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

/// Throws RuntimeError when no usable CUDA device is visible (with the driver's reason).
void require_device();

inline unsigned blocks_for(size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

/// Streaming multiprocessors of the current device.
int multiprocessors();

/// Fewest lanes per site of the "group" kernels. The lists are atom-major (row i holds atom i's
/// entries, i * capacity + k), so a group of G lanes reads G consecutive entries of a row: with 8
/// lanes a load fills whole 32-byte sectors (8 ints, or 2 sectors of 4 doubles), where one lane per
/// site would make every load of a warp touch 32 rows, a sector each, used to an eighth or a
/// quarter (the large-system path before session 20; issue #8's 262k-bead case used it).
constexpr int kMinLanesPerSite = 8;

/// Lanes per site for the "group" kernels that split one atom's neighbour loop over G lanes of a
/// warp (G a power of two, 8 ... 32): the smallest G >= kMinLanesPerSite that gives about
/// `threads_per_sm` threads per multiprocessor for n sites. Small systems then fill the GPU (a
/// 1,000-site system on one thread per site would use 8 of the H100's 132 multiprocessors' 64
/// warps); large ones keep kMinLanesPerSite lanes, for coalesced reads of the atom-major rows.
inline int lanes_per_site(long n, int sms, int threads_per_sm = 1024) {
  int g = kMinLanesPerSite;
  while (g < 32 && n * g < static_cast<long>(sms) * threads_per_sm) g *= 2;
  return g;
}

#if defined(__CUDACC__) || defined(NEPCG_CUDA_EMULATION)
/// Sum over the `group` lanes (a power of two dividing 32) that share a site, by xor shuffles
/// in a fixed order (deterministic); every lane of the warp must call it.
__device__ inline double group_sum(double v, int group) {
  for (int offset = group / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
#endif

}  // namespace nepcg::cuda
