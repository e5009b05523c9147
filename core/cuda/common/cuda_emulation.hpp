// CUDA emulated on the CPU (NEPCG_CUDA=EMULATE): the subset of the CUDA runtime and device
// intrinsics that core/cuda uses, so that the backend's own sources (kernels, launches, graphs)
// compile with the host compiler and run on a machine without a GPU. It exists to test the GPU
// code where no GPU is: the kernels run as written, with their lane groups, shuffles, ballots,
// barriers and shared memory, and tests/test_gpu.py runs against it unchanged. It is slow (one
// fiber per GPU thread) and never chosen by device="auto".
//
// Execution model. A launch runs at once on the calling thread (streams are in-order queues that
// are always drained), block after block; the threads of a block are fibers (ucontext) switched
// cooperatively at each synchronisation (__syncthreads, __syncwarp, shuffles, votes). Blocks
// within a launch therefore do not overlap, which CUDA allows. Stricter than a GPU where a GPU is
// undefined, to find bugs: device memory and dynamic shared memory start filled with 0xff bytes
// (NaN doubles and floats, -1 ints); a warp-level operation whose mask names a lane that has
// exited, lies outside the block, or omits the calling lane, and synchronisations that can never
// complete (every remaining thread of the block waiting) throw nepcg::RuntimeError from the
// launch. Exited threads count as arrived at __syncthreads, as on current GPUs; lanes that meet at
// different warp operations on the same mask raise too. NEPCG_CUDA_EMULATION_ORDER=reverse runs
// threads and blocks in descending order (a missing synchronisation then usually shows). Stream
// capture records launches, copies and memsets; a graph launch replays them in order.
// Device memory is apart from host memory, as on a GPU: each allocation is a mapping of its own
// that ends (within its alignment) at an inaccessible guard page, and on CPUs with memory
// protection keys (x86 PKU) it carries a key that an OS thread can use only while it runs a
// kernel, a copy or a memset. Host code that dereferences a device pointer, or a kernel that runs
// past the end of an allocation, faults at once; the SIGSEGV handler names the allocation and the
// kind of access, prints a native backtrace, and hands the fault on (Python's faulthandler then
// prints the Python stack). Copies and memsets check their ranges and direction against the
// allocations, cudaFree checks its pointer, and a launch checks that every pointer argument is
// null or points into device memory (RuntimeError otherwise; struct arguments list their
// pointers through device_pointers, see lists_device_pointers). cudaMalloc and cudaFree on a
// thread that is capturing a stream fail (a GPU refuses cudaFree there; a captured step must not
// allocate).
// A launch asking for more than 48 KB of dynamic shared memory fails unless cudaFuncSetAttribute
// raised that kernel's limit far enough (found for kernels launched through a pointer, as the
// site kernels are: a kernel launched by name has the 48 KB limit here).
// Static shared arrays (NEPCG_STATIC_SHARED) are the block's own and start as 0xff bytes too.
// Not checked: pointers inside struct arguments that do not list them, registers per block, and
// the device's 24 KB stack (fibers have 256 KB).
#pragma once

#include <math.h>
#include <ucontext.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "nepcg/error.hpp"

// ------------------------------------------------------------------------- types and qualifiers
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Static shared arrays are written NEPCG_STATIC_SHARED(T, name, n) (below), which gives each
// block its own array, filled with 0xff bytes as a GPU's is undefined; a plain __shared__
// declaration would be one per OS thread, zero at first and then the last block's values.
#define __shared__ static_assert(false, "emulated CUDA: write __shared__ T name[n] as NEPCG_STATIC_SHARED(T, name, n)");

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}  // (implicit, as in CUDA)
};

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaLimit { cudaLimitStackSize = 0 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };
constexpr unsigned cudaStreamNonBlocking = 1;

struct cudaDeviceProp {
  char name[256];
  int major, minor, multiProcessorCount;
  size_t totalGlobalMem;
};

namespace nepcg::emu {
using Op = std::function<void()>;
}
struct CUstream_st {
  bool capturing = false;
  std::vector<nepcg::emu::Op> captured;
};
using cudaStream_t = CUstream_st*;
struct CUgraph_st {
  std::vector<nepcg::emu::Op> ops;
};
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraph_st*;
struct CUevent_st {
  double ms = 0.0;
};
using cudaEvent_t = CUevent_st*;

// ------------------------------------------------------------------------- the block scheduler
namespace nepcg::emu {

/// The emulated device: what kernels and launch heuristics see (an H100's counts, so that the
/// launch shapes are those of the real card).
constexpr int kMultiprocessors = 132;
/// Multiprocessors the emulated device reports: kMultiprocessors, or NEPCG_CUDA_EMULATION_SMS
/// (1 ... 1024, read at each query). Launch heuristics that scale with the system size relative to
/// the card (cuda::lanes_per_site) then take the shapes of a large system on a small one, so
/// that tests reach them in seconds.
int multiprocessors();
constexpr int kSharedPerBlockOptin = 227 * 1024;
/// Dynamic shared memory per block that a kernel may take before its
/// cudaFuncAttributeMaxDynamicSharedMemorySize is raised (the portable 48 KB).
constexpr int kSharedPerBlockDefault = 48 * 1024;
/// Static shared memory per block (the most a kernel's __shared__ declarations may take).
constexpr int kStaticSharedPerBlock = 48 * 1024;
constexpr int kMaxThreadsPerBlock = 1024;
const char* const kDeviceName = "CUDA emulated on the CPU (pynepcg NEPCG_CUDA=EMULATE)";

/// False (and the launch error set, for the next cudaGetLastError) when a launch's shape is one
/// a GPU refuses: among others, dynamic shared memory above the kernel's limit (48 KB unless
/// cudaFuncSetAttribute raised it). `kernel` is the launched function when the launch named a
/// pointer to it, null when it named the function (see Launch::kernel_address), and `name` the
/// kernel as written at the launch.
bool valid_launch(dim3 grid, dim3 block, size_t shared_bytes, const void* kernel = nullptr,
                  const char* name = "a kernel");
/// cudaFuncSetAttribute for a kernel's address: records the dynamic shared-memory limit of
/// cudaFuncAttributeMaxDynamicSharedMemorySize (process-wide, as on a GPU); a value outside
/// 0 ... kSharedPerBlockOptin is cudaErrorInvalidValue.
cudaError_t set_function_attribute(const void* kernel, cudaFuncAttribute attribute, int value);
/// Runs `body` as every thread of a grid (see the file comment); throws RuntimeError on a
/// launch error, a synchronisation the threads cannot pass, or an exception from a thread.
void run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body,
              const char* kernel = "a kernel");

// What a running thread sees (defined in cuda_emulation.cpp).
const uint3& thread_index();
const uint3& block_index();
const dim3& block_dim();
const dim3& grid_dim();
void* dynamic_shared();
/// The running block's array of a NEPCG_STATIC_SHARED declaration (`site`: the declaration's
/// own static, which tells declarations apart), `bytes` long and filled with 0xff when the
/// block's first thread reaches it. More than 48 KB of static shared memory, or more than the
/// opt-in maximum with the dynamic, throws RuntimeError (a GPU would not build or launch it).
void* static_shared(const void* site, size_t bytes, size_t alignment);
void sync_block();
/// What the lanes of a warp-level operation published: values (index = lane) and the ballot of
/// their predicates (valid until the caller's next operation on the same mask).
struct WarpValues {
  const std::uint64_t* value;
  unsigned ballot;
};
/// Every lane of `mask` publishes `value` and `predicate`; returns once all of them have. `mask`
/// must name the caller and only live lanes (else RuntimeError).
WarpValues warp_exchange(unsigned mask, std::uint64_t value, bool predicate, const char* what);
int lane_id();

template <class T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a value over 8 bytes");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

// The last error of a CUDA call on this thread, and its text.
void set_error(cudaError_t e, std::string message);
cudaError_t take_error();
const char* error_text(cudaError_t e);

/// Whether device memory carries a protection key (host access faults; see the file comment).
bool device_memory_protected();
/// Whether [p, p + bytes) lies inside one device allocation (an end pointer, bytes = 0 at the end
/// of an allocation, counts).
bool in_device_memory(const void* p, size_t bytes = 0);
/// Throws RuntimeError unless the launch argument `index` of `kernel` (its member `member`, for a
/// struct argument) is null or a device pointer (a kernel cannot read host memory on a GPU).
void check_pointer_argument(const void* p, int index, const char* kernel, const char* member = nullptr);

/// A pointer member of a struct that kernels take by value, with its name (device_pointers).
struct NamedPointer {
  std::string name;
  const void* pointer;
};
/// Pointers named by the comma-separated text of their expressions (NEPCG_EMU_POINTERS).
std::vector<NamedPointer> name_pointers(const char* names, std::initializer_list<const void*> pointers);
template <class... P>
std::vector<NamedPointer> named_pointers(const char* names, const P&... p) {
  return name_pointers(names, {static_cast<const void*>(p)...});
}
/// A struct that kernels take by value and that holds pointers lists them, for the launch's
/// check, by a function `device_pointers(const T&)` beside it (found by argument-dependent
/// lookup; emulation builds only), written `return NEPCG_EMU_POINTERS(v.a, v.b);`.
template <class T, class = void>
struct lists_device_pointers : std::false_type {};
template <class T>
struct lists_device_pointers<T, std::void_t<decltype(device_pointers(std::declval<const T&>()))>> : std::true_type {};

/// A kernel launch: `body(args...)` calls the kernel; arguments are copied once, as CUDA copies
/// a kernel's parameters, and each thread receives its own copies.
template <class Body>
struct Launch {
  Body body;
  const char* name;  // the kernel as written at the launch (for messages)
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  /// The launched function when the launch names a pointer variable, else null. NEPCG_LAUNCH's
  /// body `[=](auto&... a) { kernel(a...); }` captures `kernel` when it is a variable (a
  /// function pointer, its only possible capture) and nothing when it names a function, which
  /// may be a template that only the call's arguments select (no address to take here).
  const void* kernel_address() const {
    using Pointer = void (*)();
    if constexpr (sizeof(Body) == sizeof(Pointer) && std::is_trivially_copyable_v<Body>) {
      Pointer f = nullptr;
      std::memcpy(&f, &body, sizeof f);
      return reinterpret_cast<const void*>(f);
    } else {
      return nullptr;
    }
  }
  template <class... A>
  void operator()(A&&... a) const {
    // (at the launch, also while capturing)
    if (!valid_launch(grid, block, shared_bytes, kernel_address(), name)) return;
    int index = 0;
    (check_argument(a, index++), ...);
    Op op = [body = body, args = std::make_tuple(std::decay_t<A>(a)...), grid = grid, block = block,
             bytes = shared_bytes, name = name]() mutable {
      run_grid(grid, block, bytes, [&] { std::apply(body, args); }, name);
    };
    if (stream && stream->capturing)
      stream->captured.push_back(std::move(op));
    else
      op();
  }
  template <class A>
  void check_argument(const A& a, int index) const {
    using T = std::decay_t<A>;
    if constexpr (std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>) {
      check_pointer_argument(static_cast<const void*>(a), index, name);
    } else if constexpr (lists_device_pointers<T>::value) {
      for (const NamedPointer& member : device_pointers(a))
        check_pointer_argument(member.pointer, index, name, member.name.c_str());
    }
  }
};
template <class Body>
Launch<Body> make_launch(Body body, const char* name, dim3 grid, dim3 block, size_t shared_bytes = 0,
                         cudaStream_t s = nullptr) {
  return Launch<Body>{std::move(body), name, grid, block, shared_bytes, s};
}

}  // namespace nepcg::emu

/// kernel<<<grid, block, shared, stream>>>(args) becomes NEPCG_LAUNCH(kernel, grid, block, shared, stream)(args).
#define NEPCG_LAUNCH(kernel, ...) ::nepcg::emu::make_launch([=](auto&... a) { kernel(a...); }, #kernel, __VA_ARGS__)
/// The pointer members of a struct argument, for its device_pointers (see lists_device_pointers).
#define NEPCG_EMU_POINTERS(...) ::nepcg::emu::named_pointers(#__VA_ARGS__, __VA_ARGS__)
/// extern __shared__ T name[] (the launch's dynamic shared memory).
#define NEPCG_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::nepcg::emu::dynamic_shared())
/// __shared__ T name[n] (a static shared array of the block; see static_shared).
#define NEPCG_STATIC_SHARED(T, name, n) \
  static char name##_site;              \
  T* const name = static_cast<T*>(::nepcg::emu::static_shared(&name##_site, sizeof(T) * (n), alignof(T)))

#define threadIdx (::nepcg::emu::thread_index())
#define blockIdx (::nepcg::emu::block_index())
#define blockDim (::nepcg::emu::block_dim())
#define gridDim (::nepcg::emu::grid_dim())

// ------------------------------------------------------------------------- device intrinsics
inline void __syncthreads() { nepcg::emu::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { nepcg::emu::warp_exchange(mask, 0, false, "__syncwarp"); }
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = nepcg::emu::lane_id();
  const int src = (lane & ~(width - 1)) | ((lane ^ lane_mask) & (width - 1));
  if (!(mask >> src & 1u))
    throw nepcg::RuntimeError("emulated CUDA: __shfl_xor_sync reads lane " + std::to_string(src) + " outside its mask");
  return nepcg::emu::from_bits<T>(
      nepcg::emu::warp_exchange(mask, nepcg::emu::to_bits(v), false, "__shfl_xor_sync").value[src]);
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  const int lane = nepcg::emu::lane_id();
  const int src = (lane & ~(width - 1)) | (src_lane & (width - 1));
  if (!(mask >> src & 1u))
    throw nepcg::RuntimeError("emulated CUDA: __shfl_sync reads lane " + std::to_string(src) + " outside its mask");
  return nepcg::emu::from_bits<T>(
      nepcg::emu::warp_exchange(mask, nepcg::emu::to_bits(v), false, "__shfl_sync").value[src]);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return nepcg::emu::warp_exchange(mask, 0, predicate != 0, "__ballot_sync").ballot;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) == mask; }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(unsigned v) { return __builtin_ffs(static_cast<int>(v)); }
// The SM's cycle counter: here nanoseconds of a steady clock (rises monotonically on a thread, as
// on a GPU; what a lane measures includes the other fibers that ran in between).
inline long long clock64() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
// Threads of a launch run on one OS thread, one at a time between synchronisations: plain
// read-modify-writes are atomic here.
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
inline int atomicMax(int* p, int v) {
  const int old = *p;
  if (v > old) *p = v;
  return old;
}
inline int atomicMin(int* p, int v) {
  const int old = *p;
  if (v < old) *p = v;
  return old;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }

// ------------------------------------------------------------------------- runtime API
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceGetLimit(size_t* value, cudaLimit limit);
cudaError_t cudaDeviceSetLimit(cudaLimit limit, size_t value);
template <class F>
cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute attribute, int value) {
  return nepcg::emu::set_function_attribute(reinterpret_cast<const void*>(kernel), attribute, value);
}
/// Device memory whose end is aligned to `alignment` bytes and lies at a guard page (see the file
/// comment); cudaMalloc<T> aligns to T (at least 8 bytes).
cudaError_t cudaMallocBytes(void** p, size_t bytes, size_t alignment = 256);
template <class T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  void* v = nullptr;
  const cudaError_t e = cudaMallocBytes(&v, bytes, alignof(T) > 8 ? alignof(T) : 8);
  *p = static_cast<T*>(v);
  return e;
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);
