// CUDA emulated on the CPU: the block scheduler (fibers) and the runtime API of
// cuda_emulation.hpp. Built only with NEPCG_CUDA=EMULATE.
#include "cuda_emulation.hpp"

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <deque>
#include <memory>
#include <stdexcept>

// Switching between emulated threads. On x86-64 a minimal switch (callee-saved registers, the
// stack pointer, MXCSR and the x87 control word): a GPU kernel's thread synchronises every few
// instructions, and glibc's swapcontext makes a system call (the signal mask) at every switch,
// which made the emulation ~50 times slower. Elsewhere, ucontext.
#if defined(__x86_64__) && defined(__linux__)
#define NEPCG_EMU_FAST_SWITCH 1
extern "C" void nepcg_emu_switch(void** save_sp, void* resume_sp);
asm(R"(
  .text
  .globl nepcg_emu_switch
  .type nepcg_emu_switch, @function
nepcg_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size nepcg_emu_switch, .-nepcg_emu_switch
  .pushsection .note.GNU-stack, "", @progbits
  .popsection
)");
#else
#define NEPCG_EMU_FAST_SWITCH 0
#endif

namespace nepcg::emu {
namespace {

constexpr size_t kStackBytes = 256 * 1024;  // per emulated thread (the kernels' frames are a few KB)
constexpr size_t kGuardBytes = 4096;         // an overflow faults instead of corrupting a neighbour

/// Fiber stacks of this OS thread, reused by every launch it runs.
class StackPool {
 public:
  ~StackPool() {
    for (char* s : stacks_) munmap(s, kStackBytes + kGuardBytes);
  }
  char* get(size_t k) {
    while (stacks_.size() <= k) {
      void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
      if (p == MAP_FAILED) throw RuntimeError("emulated CUDA: cannot map a thread stack");
      if (mprotect(p, kGuardBytes, PROT_NONE) != 0)  // stacks grow down, into the guard page
        throw RuntimeError("emulated CUDA: cannot protect a thread stack's guard page");
      stacks_.push_back(static_cast<char*>(p));
    }
    return stacks_[k] + kGuardBytes;
  }

 private:
  std::vector<char*> stacks_;
};

struct Thread {
#if NEPCG_EMU_FAST_SWITCH
  void* sp = nullptr;  // saved stack pointer while switched out
#else
  ucontext_t ctx;
#endif
  uint3 index;
  int linear = 0;
  bool done = false;
  // While blocked: the generation counter of the barrier it waits at, and the value at arrival
  // (the scheduler resumes it only once the counter has moved on).
  const unsigned long* wait_on = nullptr;
  unsigned long wait_generation = 0;
};

/// The barrier of one mask within a warp, with the values its lanes publish. Values go to the
/// buffer of the generation's parity: a lane can publish for the next generation before every lane
/// has read this one, but not for the one after (that needs every lane to have arrived again).
struct WarpBarrier {
  unsigned mask;
  int participants;
  const char* operation = nullptr;  // of the generation under way (all lanes must call the same)
  int arrived = 0;
  unsigned long generation = 0;
  unsigned ballot_pending = 0, ballot = 0;  // (ballot: of the last completed generation)
  std::uint64_t slot[2][32] = {};
};

struct Warp {
  unsigned live = 0;                 // lanes that exist and have not exited
  std::deque<WarpBarrier> barriers;  // (a deque: references stay valid while it grows)
  WarpBarrier& barrier(unsigned mask) {
    for (WarpBarrier& b : barriers)
      if (b.mask == mask) return b;
    barriers.push_back(WarpBarrier{mask, __builtin_popcount(mask)});
    return barriers.back();
  }
};

/// The block being run on this OS thread.
struct Block {
#if NEPCG_EMU_FAST_SWITCH
  void* scheduler = nullptr;
#else
  ucontext_t scheduler;
#endif
  std::vector<Thread> threads;
  std::vector<Warp> warps;
  std::vector<unsigned char> shared;
  uint3 index;
  dim3 dim, grid;
  const std::function<void()>* body = nullptr;
  Thread* current = nullptr;
  int live = 0;
  int barrier_arrived = 0;
  unsigned long barrier_generation = 0;
  std::exception_ptr error;
};

thread_local Block* tl_block = nullptr;
thread_local StackPool tl_stacks;
thread_local cudaError_t tl_error = cudaSuccess;
thread_local cudaError_t tl_message_error = cudaSuccess;  // the error tl_message describes
thread_local std::string tl_message;

Block& block() {
  if (!tl_block) throw RuntimeError("emulated CUDA: a device function was called outside a kernel");
  return *tl_block;
}

/// Blocks the current thread until *generation differs from `seen`.
void wait_until_changed(const unsigned long* generation, unsigned long seen) {
  Block& b = block();
  b.current->wait_on = generation;
  b.current->wait_generation = seen;
#if NEPCG_EMU_FAST_SWITCH
  nepcg_emu_switch(&b.current->sp, b.scheduler);
#else
  swapcontext(&b.current->ctx, &b.scheduler);
#endif
  b.current->wait_on = nullptr;
}

void fail(const std::string& what) { throw RuntimeError("emulated CUDA: " + what); }

std::string where(const Block& b) {
  const Thread& t = *b.current;
  return " (block " + std::to_string(b.index.x) + "," + std::to_string(b.index.y) + ", thread " +
         std::to_string(t.index.x) + ")";
}

void thread_entry() {
  Block& b = *tl_block;
  Thread& t = *b.current;
  try {
    (*b.body)();
  } catch (...) {
    if (!b.error) b.error = std::current_exception();
  }
  t.done = true;
  --b.live;
  Warp& w = b.warps[t.linear / 32];
  const unsigned bit = 1u << (t.linear % 32);
  w.live &= ~bit;
  for (const WarpBarrier& wb : w.barriers)
    if (wb.arrived > 0 && (wb.mask & bit) && !b.error)
      b.error = std::make_exception_ptr(RuntimeError(
          "emulated CUDA: a lane exited while the lanes of its warp-sync mask waited for it" + where(b)));
  // threads that have exited count as arrived at __syncthreads (as on the GPU)
  if (b.barrier_arrived > 0 && b.barrier_arrived == b.live) {
    b.barrier_arrived = 0;
    ++b.barrier_generation;
  }
  // returning switches to uc_link, the scheduler (ucontext), or thread_start switches back
}

#if NEPCG_EMU_FAST_SWITCH
[[noreturn]] void thread_start() {
  thread_entry();
  Block& b = *tl_block;
  nepcg_emu_switch(&b.current->sp, b.scheduler);  // never resumed
  __builtin_unreachable();
}

/// A stack whose first switch "returns" into thread_start (the frame nepcg_emu_switch pops).
void* initial_stack(char* base, size_t bytes) {
  auto top = reinterpret_cast<std::uintptr_t>(base + bytes) & ~std::uintptr_t(15);
  auto* slot = reinterpret_cast<std::uint64_t*>(top);
  *--slot = 0;                                                    // fake return address of thread_start
  *--slot = reinterpret_cast<std::uint64_t>(&thread_start);      // popped by ret
  for (int r = 0; r < 6; ++r) *--slot = 0;                        // rbp rbx r12 r13 r14 r15
  std::uint32_t control[2] = {0x1f80u, 0x037fu};                   // default MXCSR, x87 control word
  __asm__ volatile("stmxcsr %0" : "=m"(control[0]));
  __asm__ volatile("fnstcw %0" : "=m"(control[1]));
  *--slot = std::uint64_t(control[0]) | (std::uint64_t(control[1] & 0xffffu) << 32);
  return slot;
}
#endif

/// NEPCG_CUDA_EMULATION_ORDER=reverse runs the threads of a block, and the blocks of a grid, in
/// descending order: code that is right on a GPU gives the same results either way, while a
/// missing synchronisation (or a dependence on the order of atomics) usually shows.
bool reverse_order() {
  static const bool reverse = [] {
    const char* v = std::getenv("NEPCG_CUDA_EMULATION_ORDER");
    return v && std::string(v) == "reverse";
  }();
  return reverse;
}

void run_block(Block& b) {
  const int n = static_cast<int>(b.dim.x * b.dim.y * b.dim.z);
  b.threads.resize(n);
  b.warps.assign((n + 31) / 32, Warp{});
  for (int k = 0; k < n; ++k) {
    Thread& t = b.threads[k];
    t.linear = k;
    t.done = false;
    t.wait_on = nullptr;
    t.index = uint3{k % b.dim.x, (k / b.dim.x) % b.dim.y, k / (b.dim.x * b.dim.y)};
    b.warps[k / 32].live |= 1u << (k % 32);
#if NEPCG_EMU_FAST_SWITCH
    t.sp = initial_stack(tl_stacks.get(k), kStackBytes);
#else
    getcontext(&t.ctx);
    t.ctx.uc_stack.ss_sp = tl_stacks.get(k);
    t.ctx.uc_stack.ss_size = kStackBytes;
    t.ctx.uc_link = &b.scheduler;
    makecontext(&t.ctx, thread_entry, 0);
#endif
  }
  std::fill(b.shared.begin(), b.shared.end(), static_cast<unsigned char>(0xff));
  b.live = n;
  b.barrier_arrived = 0;
  while (b.live > 0) {
    bool resumed = false;
    for (int k = 0; k < n; ++k) {
      Thread& t = b.threads[reverse_order() ? n - 1 - k : k];
      if (t.done || (t.wait_on && *t.wait_on == t.wait_generation)) continue;
      resumed = true;
      b.current = &t;
#if NEPCG_EMU_FAST_SWITCH
      nepcg_emu_switch(&b.scheduler, t.sp);
#else
      swapcontext(&b.scheduler, &t.ctx);
#endif
      if (b.error) std::rethrow_exception(b.error);
    }
    if (!resumed && b.live > 0)
      throw RuntimeError("emulated CUDA: deadlock: " + std::to_string(b.live) +
                         " threads of block " + std::to_string(b.index.x) + "," + std::to_string(b.index.y) +
                         " wait at synchronisations that cannot complete (divergent __syncthreads / warp syncs)");
  }
}

}  // namespace

int multiprocessors() {
  const char* v = std::getenv("NEPCG_CUDA_EMULATION_SMS");
  if (!v || !*v) return kMultiprocessors;
  char* end = nullptr;
  const long sms = std::strtol(v, &end, 10);
  if (*end != '\0' || sms < 1 || sms > 1024)
    throw std::invalid_argument("NEPCG_CUDA_EMULATION_SMS must be an integer from 1 to 1024 (multiprocessors of the "
                                "emulated device); got '" + std::string(v) + "'");
  return static_cast<int>(sms);
}

bool valid_launch(dim3 grid, dim3 block_dim, size_t shared_bytes) {
  const unsigned long long threads = 1ull * block_dim.x * block_dim.y * block_dim.z;
  if (grid.x > 0 && grid.y > 0 && grid.z > 0 && grid.y <= 65535 && grid.z <= 65535 && threads > 0 &&
      threads <= kMaxThreadsPerBlock && block_dim.z <= 64 && shared_bytes <= size_t(kSharedPerBlockOptin))
    return true;
  set_error(cudaErrorInvalidConfiguration,
            "invalid configuration argument (grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
                std::to_string(grid.z) + ", block of " + std::to_string(threads) + " threads, " +
                std::to_string(shared_bytes) + " bytes of shared memory)");
  return false;  // reported by the next cudaGetLastError (NEPCG_CUDA_LAUNCHED), as on the GPU
}

void run_grid(dim3 grid, dim3 block_dim, size_t shared_bytes, const std::function<void()>& body) {
  if (!valid_launch(grid, block_dim, shared_bytes)) return;
  if (tl_block) throw RuntimeError("emulated CUDA: a kernel launched from a kernel");
  Block b;
  b.dim = block_dim;
  b.grid = grid;
  b.body = &body;
  b.shared.resize(shared_bytes);
  tl_block = &b;
  try {
    const unsigned long long blocks = 1ull * grid.x * grid.y * grid.z;
    for (unsigned long long k = 0; k < blocks; ++k) {
      const unsigned long long id = reverse_order() ? blocks - 1 - k : k;
      b.index = uint3{static_cast<unsigned>(id % grid.x), static_cast<unsigned>(id / grid.x % grid.y),
                      static_cast<unsigned>(id / (1ull * grid.x * grid.y))};
      b.error = nullptr;
      run_block(b);
    }
  } catch (...) {
    tl_block = nullptr;
    throw;
  }
  tl_block = nullptr;
}

const uint3& thread_index() { return block().current->index; }
const uint3& block_index() { return block().index; }
const dim3& block_dim() { return block().dim; }
const dim3& grid_dim() { return block().grid; }
void* dynamic_shared() { return block().shared.data(); }
int lane_id() { return block().current->linear % 32; }

void sync_block() {
  Block& b = block();
  const unsigned long generation = b.barrier_generation;
  if (++b.barrier_arrived == b.live) {
    b.barrier_arrived = 0;
    ++b.barrier_generation;
    return;
  }
  wait_until_changed(&b.barrier_generation, generation);
}

WarpValues warp_exchange(unsigned mask, std::uint64_t value, bool predicate, const char* what) {
  Block& b = block();
  Thread& t = *b.current;
  Warp& w = b.warps[t.linear / 32];
  const int lane = t.linear % 32;
  if (!(mask >> lane & 1u))
    fail(std::string(what) + " called by lane " + std::to_string(lane) + ", which its mask does not name" + where(b));
  if (mask & ~w.live)
    fail(std::string(what) + ": the mask names lanes that have exited or do not exist" + where(b));
  WarpBarrier& wb = w.barrier(mask);
  if (wb.arrived == 0)
    wb.operation = what;
  else if (std::strcmp(wb.operation, what) != 0)
    fail(std::string(what) + " met " + wb.operation + " of other lanes on the same mask" + where(b));
  const unsigned long generation = wb.generation;
  const int parity = static_cast<int>(generation & 1);
  wb.slot[parity][lane] = value;
  if (predicate) wb.ballot_pending |= 1u << lane;
  if (++wb.arrived == wb.participants) {
    wb.arrived = 0;
    wb.ballot = wb.ballot_pending;
    wb.ballot_pending = 0;
    ++wb.generation;
  } else {
    wait_until_changed(&wb.generation, generation);
  }
  // (wb.ballot is that of this generation: the next cannot complete before this lane arrives)
  return WarpValues{wb.slot[parity], wb.ballot};
}

void set_error(cudaError_t e, std::string message) {
  tl_error = e;
  tl_message_error = e;
  tl_message = std::move(message);
}
cudaError_t take_error() {
  const cudaError_t e = tl_error;
  tl_error = cudaSuccess;
  return e;
}
const char* error_text(cudaError_t e) {
  if (e != cudaSuccess && e == tl_message_error) return tl_message.c_str();  // (the launch's own words)
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "unspecified launch failure";
  }
}

}  // namespace nepcg::emu

using nepcg::emu::set_error;

namespace {
cudaError_t run_or_capture(cudaStream_t s, nepcg::emu::Op op) {
  if (s && s->capturing) {
    s->captured.push_back(std::move(op));
  } else {
    op();
  }
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaGetLastError() { return nepcg::emu::take_error(); }
cudaError_t cudaPeekAtLastError() {
  const cudaError_t e = nepcg::emu::take_error();
  if (e != cudaSuccess) set_error(e, nepcg::emu::error_text(e));
  return e;
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    default: return "cudaErrorLaunchFailure";
  }
}
const char* cudaGetErrorString(cudaError_t e) { return nepcg::emu::error_text(e); }
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 0;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  std::memset(prop, 0, sizeof(*prop));
  std::strncpy(prop->name, nepcg::emu::kDeviceName, sizeof(prop->name) - 1);
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = nepcg::emu::multiprocessors();
  prop->totalGlobalMem = size_t(16) << 30;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = nepcg::emu::multiprocessors(); return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = nepcg::emu::kSharedPerBlockOptin; return cudaSuccess;
  }
  return cudaErrorInvalidValue;
}
namespace {
std::atomic<size_t> g_stack_limit{1024};
}
cudaError_t cudaDeviceGetLimit(size_t* value, cudaLimit) {
  *value = g_stack_limit;
  return cudaSuccess;
}
cudaError_t cudaDeviceSetLimit(cudaLimit, size_t value) {
  g_stack_limit = value;
  return cudaSuccess;
}
cudaError_t cudaMallocBytes(void** p, size_t bytes) {
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xff, bytes);  // "undefined" contents: NaN reals, -1 integers
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t s) {
  return run_or_capture(s, [=] { std::memcpy(dst, src, bytes); });
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s) {
  return run_or_capture(s, [=] { std::memset(p, value, bytes); });
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (s && s->capturing) {  // as on a GPU: not allowed while capturing, and the capture is lost
    s->capturing = false;
    s->captured.clear();
    set_error(cudaErrorInvalidValue, "cudaStreamSynchronize on a stream that is being captured");
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (!s || s->capturing) return cudaErrorInvalidValue;
  s->capturing = true;
  s->captured.clear();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (!s || !s->capturing) return cudaErrorInvalidValue;
  s->capturing = false;
  *graph = new CUgraph_st{std::move(s->captured)};
  s->captured.clear();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  *exec = new CUgraph_st{graph->ops};
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (s && s->capturing) return cudaErrorInvalidValue;
  nepcg::emu::take_error();  // (report what the replay does, not an error left before it)
  try {
    for (const nepcg::emu::Op& op : exec->ops) op();
  } catch (const std::exception& e) {
    set_error(cudaErrorLaunchFailure, e.what());
    return cudaErrorLaunchFailure;
  }
  return nepcg::emu::take_error();  // a launch error inside the graph
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  *ms = static_cast<float>(stop->ms - start->ms);
  return cudaSuccess;
}
