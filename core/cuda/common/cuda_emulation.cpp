// CUDA emulated on the CPU: the block scheduler (fibers) and the runtime API of
// cuda_emulation.hpp. Built only with NEPCG_CUDA=EMULATE.
#include "cuda_emulation.hpp"

#include <execinfo.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
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
  std::vector<unsigned char> shared;   // dynamic shared memory
  std::vector<unsigned char> statics;  // static shared memory (kStaticSharedPerBlock, see static_shared)
  std::vector<std::pair<const void*, size_t>> static_sites;  // declarations this block reached, offsets
  size_t statics_used = 0;
  uint3 index;
  dim3 dim, grid;
  const std::function<void()>* body = nullptr;
  const char* kernel = "a kernel";  // as written at the launch (for messages)
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
  return std::string(" (") + b.kernel + ", block " + std::to_string(b.index.x) + "," + std::to_string(b.index.y) + ", thread " +
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
  b.static_sites.clear();  // (each static array is filled anew when this block reaches it)
  b.statics_used = 0;
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
                         " of " + b.kernel +
                         " wait at synchronisations that cannot complete (divergent __syncthreads / warp syncs)");
  }
}

}  // namespace

// ------------------------------------------------------------------------- device memory
// Each allocation is a mapping of its own: [map, start) unused (the alignment's slack), [start,
// start + bytes) the allocation, whose end is aligned to its alignment and lies at most that many
// bytes before a PROT_NONE guard page at map + pages. The pages before the guard carry the
// heap's protection key where the CPU has PKU: a thread can touch them only inside a
// DeviceAccess window (a kernel, a copy, a memset), as a GPU's memory is out of the host's reach.
namespace {

struct Allocation {
  char* map;
  size_t pages_bytes;  // [map, map + pages_bytes) the accessible pages, then one guard page
  char* start;
  size_t bytes;
};

constexpr size_t kPage = 4096;

class DeviceHeap {
 public:
  static DeviceHeap& get() {
    static DeviceHeap* heap = new DeviceHeap;  // (never destroyed: frees may come at exit)
    return *heap;
  }
  int key() const { return key_; }

  void* allocate(size_t bytes, size_t alignment) {
    if (alignment < 8 || (alignment & (alignment - 1)) || alignment > kPage) alignment = 256;
    const size_t padded = (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
    const size_t pages = (padded + kPage - 1) / kPage * kPage;
    void* m = mmap(nullptr, pages + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    char* map = static_cast<char*>(m);
    char* start = map + (pages - padded);
    std::memset(start, 0xff, padded);  // "undefined" contents: NaN reals, -1 integers
    mprotect(map + pages, kPage, PROT_NONE);
    if (key_ >= 0) pkey_mprotect(map, pages, PROT_READ | PROT_WRITE, key_);
    std::lock_guard<std::mutex> lock(mutex_);
    by_start_[reinterpret_cast<std::uintptr_t>(start)] = Allocation{map, pages, start, bytes};
    return start;
  }
  /// False when p is not the start of a live allocation.
  bool release(void* p) {
    Allocation a;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = by_start_.find(reinterpret_cast<std::uintptr_t>(p));
      if (it == by_start_.end()) return false;
      a = it->second;
      by_start_.erase(it);
    }
    munmap(a.map, a.pages_bytes + kPage);
    return true;
  }
  /// The allocation whose mapping (guard page included) holds address p; false if none.
  /// `blocking` false: gives up when the lock is taken (the signal handler).
  bool find(const void* p, Allocation* out, bool blocking = true) {
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    if (blocking)
      lock.lock();
    else if (!lock.try_lock())
      return false;
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    auto it = by_start_.upper_bound(addr + kPage);  // (a start lies at most a page above its map)
    while (it != by_start_.begin()) {
      --it;
      const Allocation& a = it->second;
      const auto map = reinterpret_cast<std::uintptr_t>(a.map);
      if (addr >= map && addr < map + a.pages_bytes + kPage) {
        *out = a;
        return true;
      }
      if (addr >= map + a.pages_bytes + kPage) break;  // (mappings do not overlap)
    }
    return false;
  }

 private:
  DeviceHeap() {
    // No PKU (older CPUs, some VMs, NEPCG_CUDA_EMULATION_PROTECT=0): guard pages and checks only.
    const char* v = std::getenv("NEPCG_CUDA_EMULATION_PROTECT");
    if (!(v && std::string(v) == "0")) key_ = pkey_alloc(0, PKEY_DISABLE_ACCESS);
    install_fault_handler();
  }
  static void install_fault_handler();
  std::mutex mutex_;
  std::map<std::uintptr_t, Allocation> by_start_;
  int key_ = -1;
};

/// Open windows of this OS thread (kernels, copies); the key is open while it is above 0.
thread_local int tl_device_access = 0;

/// Opens device memory to this OS thread for its lifetime (see DeviceHeap).
class DeviceAccess {
 public:
  DeviceAccess() : key_(DeviceHeap::get().key()) {
    if (tl_device_access++ == 0 && key_ >= 0) pkey_set(key_, 0);
  }
  ~DeviceAccess() {
    if (--tl_device_access == 0 && key_ >= 0) pkey_set(key_, PKEY_DISABLE_ACCESS);
  }
  DeviceAccess(const DeviceAccess&) = delete;
  DeviceAccess& operator=(const DeviceAccess&) = delete;

 private:
  int key_;
};

struct sigaction g_previous_segv;

void write_text(const char* s) {
  ssize_t ignored = write(STDERR_FILENO, s, std::strlen(s));
  (void)ignored;
}
void write_number(unsigned long long v, int base) {
  char buf[32];
  int k = sizeof(buf);
  buf[--k] = '\0';
  do {
    buf[--k] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v && k > 2);
  if (base == 16) {
    buf[--k] = 'x';
    buf[--k] = '0';
  }
  write_text(buf + k);
}

/// SIGSEGV: if the address is device memory, says what went wrong and where (a native backtrace),
/// then hands the fault to the handler that was there before (or the default: the process ends).
void on_segv(int sig, siginfo_t* info, void* context) {
  Allocation a;
  if (info && DeviceHeap::get().find(info->si_addr, &a, false)) {
    const char* addr = static_cast<const char*>(info->si_addr);
    write_text("\nemulated CUDA: ");
    write_text(tl_device_access > 0 ? "device code (a kernel, copy or memset)" : "host code");
    if (addr < a.start) {
      write_text(" accessed ");
      write_number(a.start - addr, 10);
      write_text(" bytes before the start of a device allocation of ");
    } else {
      write_text(" accessed byte ");
      write_number(addr - a.start, 10);
      write_text(" of a device allocation of ");
    }
    write_number(a.bytes, 10);
    write_text(" bytes at ");
    write_number(reinterpret_cast<std::uintptr_t>(a.start), 16);
    if (addr >= a.start + a.bytes)
      write_text(", past its end\n");
    else if (addr >= a.start)
      write_text(": on a GPU, host code cannot read or write device memory\n");
    else
      write_text("\n");
    write_text("native backtrace (addr2line -f -C -e <library> <offset> names the functions):\n");
    void* frames[48];
    backtrace_symbols_fd(frames, backtrace(frames, 48), STDERR_FILENO);
  }
  if ((g_previous_segv.sa_flags & SA_SIGINFO) && g_previous_segv.sa_sigaction) {
    g_previous_segv.sa_sigaction(sig, info, context);
  } else if (g_previous_segv.sa_handler != SIG_DFL && g_previous_segv.sa_handler != SIG_IGN) {
    g_previous_segv.sa_handler(sig);
  } else {
    signal(SIGSEGV, SIG_DFL);  // the access repeats on return and ends the process
  }
}

void DeviceHeap::install_fault_handler() {
  void* frames[1];
  backtrace(frames, 1);  // (loads libgcc now: backtrace() may allocate the first time)
  struct sigaction action {};
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, &g_previous_segv);
}

/// The direction of a copy against the allocations: cudaErrorInvalidValue with the reason when
/// a device range is not inside one allocation or a host range is device memory.
cudaError_t check_range(const void* p, size_t bytes, bool device, const char* what, const char* call) {
  if (bytes == 0) return cudaSuccess;
  if (device ? in_device_memory(p, bytes) : !in_device_memory(p)) return cudaSuccess;
  char where[32];
  std::snprintf(where, sizeof where, "%p", p);
  set_error(cudaErrorInvalidValue,
            std::string("emulated CUDA: ") + call + ": the " + what + " (" + where + ", " + std::to_string(bytes) +
                " bytes) " +
                (device ? "is not inside one device allocation" : "is device memory, where the copy's kind says host"));
  return cudaErrorInvalidValue;
}

}  // namespace

bool device_memory_protected() { return DeviceHeap::get().key() >= 0; }

bool in_device_memory(const void* p, size_t bytes) {
  Allocation a;
  if (!p || !DeviceHeap::get().find(p, &a)) return false;
  const char* c = static_cast<const char*>(p);
  return c >= a.start && c + bytes <= a.start + a.bytes;
}

void check_pointer_argument(const void* p, int index, const char* kernel, const char* member) {
  if (p == nullptr || in_device_memory(p)) return;
  char where[32];
  std::snprintf(where, sizeof where, "%p", p);
  throw RuntimeError(std::string("emulated CUDA: argument ") + std::to_string(index) +
                     (member ? std::string(" (its member ") + member + ")" : std::string()) + " of the launch of " +
                     kernel + " is a host pointer (" + where + "), which a kernel cannot read on a GPU");
}

std::vector<NamedPointer> name_pointers(const char* names, std::initializer_list<const void*> pointers) {
  std::vector<NamedPointer> out;
  std::string text(names);
  size_t from = 0;
  for (const void* p : pointers) {
    const size_t comma = text.find(',', from);
    std::string name = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    name.erase(0, name.find_first_not_of(' '));
    out.push_back(NamedPointer{name, p});
    from = comma == std::string::npos ? text.size() : comma + 1;
  }
  return out;
}

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

namespace {
// Kernels' dynamic shared-memory limits raised by cudaFuncSetAttribute (kSharedPerBlockDefault
// for the others). Host threads may set them while others launch.
std::mutex function_limits_mutex;
std::map<const void*, int> function_limits;

int dynamic_shared_limit(const void* kernel) {
  std::lock_guard<std::mutex> lock(function_limits_mutex);
  const auto it = kernel ? function_limits.find(kernel) : function_limits.end();
  return it == function_limits.end() ? kSharedPerBlockDefault : it->second;
}
}  // namespace

cudaError_t set_function_attribute(const void* kernel, cudaFuncAttribute attribute, int value) {
  if (!kernel || attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      value > kSharedPerBlockOptin) {
    set_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: invalid argument (the emulation knows "
                                     "cudaFuncAttributeMaxDynamicSharedMemorySize, 0 to " +
                                         std::to_string(kSharedPerBlockOptin) + " bytes; got " +
                                         std::to_string(value) + ")");
    return cudaErrorInvalidValue;
  }
  std::lock_guard<std::mutex> lock(function_limits_mutex);
  function_limits[kernel] = value;
  return cudaSuccess;
}

namespace {
// A launch shape a GPU takes from any kernel (up to the opt-in shared memory per block).
bool valid_shape(dim3 grid, dim3 block_dim, size_t shared_bytes) {
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
}  // namespace

bool valid_launch(dim3 grid, dim3 block_dim, size_t shared_bytes, const void* kernel, const char* name) {
  if (shared_bytes > size_t(kSharedPerBlockDefault) && shared_bytes <= size_t(kSharedPerBlockOptin)) {
    const int limit = dynamic_shared_limit(kernel);
    if (shared_bytes > size_t(limit)) {
      set_error(cudaErrorInvalidValue,
                std::string("invalid argument (the launch of ") + name + " asks for " +
                    std::to_string(shared_bytes) + " bytes of dynamic shared memory, above the kernel's limit of " +
                    std::to_string(limit) + " bytes: cudaFuncSetAttribute(kernel, "
                    "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) raises it" +
                    (kernel ? "" : "; the emulation finds the limit only of kernels launched through a pointer") + ")");
      return false;  // (reported by the next cudaGetLastError)
    }
  }
  return valid_shape(grid, block_dim, shared_bytes);
}

void run_grid(dim3 grid, dim3 block_dim, size_t shared_bytes, const std::function<void()>& body,
              const char* kernel) {
  if (!valid_shape(grid, block_dim, shared_bytes)) return;  // (the kernel's limits: checked by the launch)
  if (tl_block) throw RuntimeError("emulated CUDA: a kernel launched from a kernel");
  DeviceAccess access;
  Block b;
  b.dim = block_dim;
  b.grid = grid;
  b.body = &body;
  b.kernel = kernel;
  b.shared.resize(shared_bytes);
  b.statics.resize(kStaticSharedPerBlock);  // (never resized during the launch: arrays stay put)
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
void* static_shared(const void* site, size_t bytes, size_t alignment) {
  Block& b = block();
  for (const auto& [declared, offset] : b.static_sites)
    if (declared == site) return b.statics.data() + offset;
  const size_t offset = (b.statics_used + alignment - 1) / alignment * alignment;
  if (offset + bytes > b.statics.size() || offset + bytes + b.shared.size() > size_t(kSharedPerBlockOptin))
    throw RuntimeError(std::string("emulated CUDA: ") + b.kernel + " declares " + std::to_string(offset + bytes) +
                       " bytes of static shared memory (at most " + std::to_string(b.statics.size()) +
                       ", and with the launch's " + std::to_string(b.shared.size()) + " dynamic bytes at most " +
                       std::to_string(kSharedPerBlockOptin) + ")");
  std::memset(b.statics.data() + offset, 0xff, bytes);  // undefined until written, as on a GPU
  b.static_sites.emplace_back(site, offset);
  b.statics_used = offset + bytes;
  return b.statics.data() + offset;
}
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
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
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
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
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
namespace {
/// Streams this OS thread is capturing. A GPU refuses cudaFree during a capture (it synchronises
/// the device), and cudaMalloc is allowed only in relaxed mode; here both are errors while the
/// calling thread captures, so that no allocation can hide inside a captured step.
thread_local int tl_capturing = 0;
cudaError_t refuse_while_capturing(const char* call) {
  if (tl_capturing == 0) return cudaSuccess;
  set_error(cudaErrorStreamCaptureUnsupported,
            std::string("emulated CUDA: ") + call + " while this thread captures a stream (operation not permitted "
            "when stream is capturing: size device buffers before the capture)");
  return cudaErrorStreamCaptureUnsupported;
}
}  // namespace
cudaError_t cudaMallocBytes(void** p, size_t bytes, size_t alignment) {
  *p = nullptr;
  if (const cudaError_t e = refuse_while_capturing("cudaMalloc")) return e;
  *p = nepcg::emu::DeviceHeap::get().allocate(bytes, alignment);
  if (!*p) {
    set_error(cudaErrorMemoryAllocation, "out of memory (emulated device: " + std::to_string(bytes) + " bytes)");
    return cudaErrorMemoryAllocation;
  }
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (const cudaError_t e = refuse_while_capturing("cudaFree")) return e;  // (the memory stays allocated)
  if (!p || nepcg::emu::DeviceHeap::get().release(p)) return cudaSuccess;
  set_error(cudaErrorInvalidValue, "emulated CUDA: cudaFree of a pointer that is not a live device allocation");
  return cudaErrorInvalidValue;
}
namespace {
/// The ranges of a copy checked against its kind (see check_range).
cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* call) {
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  cudaError_t e = nepcg::emu::check_range(dst, bytes, dst_device, "destination", call);
  if (e == cudaSuccess) e = nepcg::emu::check_range(src, bytes, src_device, "source", call);
  return e;
}
}  // namespace
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (const cudaError_t e = check_copy(dst, src, bytes, kind, "cudaMemcpyAsync")) return e;
  return run_or_capture(s, [=] {
    nepcg::emu::DeviceAccess access;
    std::memcpy(dst, src, bytes);
  });
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (const cudaError_t e = check_copy(dst, src, bytes, kind, "cudaMemcpy")) return e;
  nepcg::emu::DeviceAccess access;
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s) {
  if (const cudaError_t e = nepcg::emu::check_range(p, bytes, true, "memory", "cudaMemsetAsync")) return e;
  return run_or_capture(s, [=] {
    nepcg::emu::DeviceAccess access;
    std::memset(p, value, bytes);
  });
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
    --tl_capturing;
    set_error(cudaErrorInvalidValue, "cudaStreamSynchronize on a stream that is being captured");
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (!s || s->capturing) return cudaErrorInvalidValue;
  s->capturing = true;
  s->captured.clear();
  ++tl_capturing;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (!s || !s->capturing) return cudaErrorInvalidValue;
  s->capturing = false;
  --tl_capturing;
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
