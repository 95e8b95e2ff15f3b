// An emulated CUDA driver (libcuda.so.1) for the emulated-CUDA tests: the subset of the driver API that JCuda's
// binding and the diffusion4j CUDA backend call, running on the host. "Device memory" is host memory; kernels are
// kernels/*.cu compiled as C++ (emu_cuda.h) and run block after block, each thread of a block as a fiber, so that
// barriers and warp shuffles keep their meaning. Asynchronous like a GPU: launches (parameters copied at the call),
// memsets, device copies, copies to or from page-locked memory (cuMemAllocHost) and event records are queued in
// stream order and run only at synchronising calls (stream/event/context synchronise, a copy to pageable memory,
// cuMemFree, cuMemFreeHost); the cuBLAS/cuDNN stand-ins queue their work behind ours (d4jemu_enqueue). So host code
// that reads a page-locked buffer before synchronising, or reuses one while a copy from it is pending, sees the
// wrong data here too.
//
// What it checks that a GPU would also reject (so that such bugs surface here, with the call named):
//   * calls before cuInit, or without a current context on the calling thread;
//   * copies and memsets outside any live allocation, frees of unknown pointers, double frees;
//   * kernels that write past the end of an allocation (NaN guard bytes after every allocation, checked after each
//     launch), deadlock at a barrier, or shuffle with lanes that have exited (reported, like a GPU fault, by the
//     next synchronising call);
//   * event timings read before the events completed (CUDA_ERROR_NOT_READY);
//   * bad launch configurations (block > 1024 threads or above the kernel's __launch_bounds__, too much shared memory,
//     unknown kernel names).
// New allocations are filled with 0xFF bytes (NaN as float, -1 as int), so reading memory nobody wrote shows up.
// A failed launch makes the context unusable (every later call returns CUDA_ERROR_LAUNCH_FAILED), as on a GPU.
//
// What it cannot show: speed, races between blocks or warps that only real parallel execution exposes, the GPU's
// own rounding of expf/sin/cos, PTX/SASS problems in the fatbin (whose bytes are only checked for the fatbin
// magic). The device reports itself as "diffusion4j CUDA emulator (CPU, not a GPU)".
//
// Test-only: built into target/.../cudaemu by CMake and put on LD_LIBRARY_PATH by the surefire execution
// "cuda-emulated" only; never shipped.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include "emu_cuda.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

enum {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_ILLEGAL_STATE = 401,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    CUDA_ERROR_UNKNOWN = 999,
};

namespace d4jemu {

uint3 current_thread_idx, block_idx, block_dim, grid_dim;

namespace {

// ------------------------------------------------------------------------------------------------ kernels

struct KernelEntry {
    std::string name;
    Thunk thunk;
    std::vector<size_t> sizes;   // bytes of each parameter
    unsigned maxThreads;         // __launch_bounds__'s first argument, else 1024
};

std::map<std::string, KernelEntry>& registry() {
    static std::map<std::string, KernelEntry> r;
    return r;
}

}  // namespace

void register_kernel(const char* name, Thunk t, const size_t* sizes, int count, unsigned maxThreads) {
    registry()[name] = KernelEntry{name, t, std::vector<size_t>(sizes, sizes + count), maxThreads};
}

namespace {

// ------------------------------------------------------------------------------------------------ state

constexpr size_t GUARD = 256;             // guard bytes after every allocation
// 0xFF: read as a float, a guard word is NaN, so a kernel reading just past the end of an allocation poisons its
// results (caught by the comparisons with the CPU) while a write there is caught by the guard check
constexpr unsigned char GUARD_BYTE = 0xFF;
constexpr unsigned long long TOTAL_MEMORY = 16ull << 30;

struct Context {
    int refs = 0;
};

struct Allocation {
    size_t bytes;
};

std::recursive_mutex lock;
bool initialized = false;
CUresult sticky = CUDA_SUCCESS;        // set by a failed launch: the context is then unusable, as on a GPU
std::string stickyWhy;
Context primary;
thread_local Context* current = nullptr;
std::map<uintptr_t, Allocation> allocations;   // device allocations by start address
size_t allocatedBytes = 0;
int moduleToken;
bool verbose = getenv("D4J_CUDA_EMU_VERBOSE") != nullptr;

// The stream: work queued in order and run at synchronising calls (one queue for every stream, which is one legal
// order). A queued op that fails sets the sticky error itself; the rest of the queue is then dropped.
std::deque<std::function<void()>> queue;
std::map<uintptr_t, size_t> pinned;   // page-locked host allocations (cuMemAllocHost): copies to/from them are queued

// Stream capture (cuStreamBeginCapture .. cuStreamEndCapture): while `capture` is set, work goes into it instead of the
// queue, and becomes a graph that cuGraphLaunch queues as one item (its ops run in order; replayable, so nothing in
// them may free its own state). As on a GPU, a call that would have to wait for the stream (a synchronise, a copy to
// pageable memory, cuMemFree), an allocation or an event record fails with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and
// invalidates the capture: cuStreamEndCapture then returns CUDA_ERROR_STREAM_CAPTURE_INVALIDATED and no graph.
std::vector<std::function<void()>>* capture = nullptr;
bool captureInvalidated = false;

void push(std::function<void()> op) {
    if (capture != nullptr) capture->push_back(std::move(op));
    else queue.push_back(std::move(op));
}

CUresult fail(CUresult r, const char* call, const std::string& why);

/** Non-zero (and the capture invalidated) when a capture is under way: for calls a capture cannot hold. */
CUresult refuseWhileCapturing(const char* call) {
    if (capture == nullptr) return CUDA_SUCCESS;
    captureInvalidated = true;
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, call, "not permitted while the stream is being captured");
}

CUresult flush() {
    if (capture != nullptr) return refuseWhileCapturing("a synchronising call");
    while (!queue.empty() && sticky == CUDA_SUCCESS) {
        std::function<void()> op = std::move(queue.front());
        queue.pop_front();
        op();
    }
    if (sticky != CUDA_SUCCESS) queue.clear();
    return sticky;
}

bool isPinned(const void* p, size_t n) {
    auto it = pinned.upper_bound((uintptr_t) p);
    if (it == pinned.begin()) return false;
    --it;
    return (uintptr_t) p >= it->first && (uintptr_t) p + n <= it->first + it->second;
}

CUresult fail(CUresult r, const char* call, const std::string& why) {
    fprintf(stderr, "[cuda-emulator] %s: %s\n", call, why.c_str());
    fflush(stderr);
    return r;
}

/** The common preamble: initialised, a current context, no sticky error. */
CUresult ready(const char* call) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (sticky != CUDA_SUCCESS) return sticky;
    if (current == nullptr || current->refs == 0) {
        return fail(CUDA_ERROR_INVALID_CONTEXT, call, "no current context on this thread");
    }
    return CUDA_SUCCESS;
}

/** The allocation that holds [p, p + n), or null. */
const Allocation* find(uintptr_t p, size_t n, uintptr_t* start) {
    auto it = allocations.upper_bound(p);
    if (it == allocations.begin()) return nullptr;
    --it;
    if (p < it->first || p + n > it->first + it->second.bytes || p + n < p) return nullptr;
    if (start) *start = it->first;
    return &it->second;
}

CUresult checkRange(const char* call, CUdeviceptr p, size_t n) {
    if (find((uintptr_t) p, n, nullptr) == nullptr) {
        char b[160];
        snprintf(b, sizeof b, "device range [0x%llx, +%zu) is not inside a live allocation", p, n);
        return fail(CUDA_ERROR_INVALID_VALUE, call, b);
    }
    return CUDA_SUCCESS;
}

/** Every allocation's guard bytes intact? Names the first damaged one. */
bool guardsIntact(std::string* why) {
    for (auto& [start, a] : allocations) {
        const unsigned char* g = (const unsigned char*) start + a.bytes;
        for (size_t i = 0; i < GUARD; i++) {
            if (g[i] != GUARD_BYTE) {
                char b[160];
                snprintf(b, sizeof b, "write past the end of the %zu-byte allocation at 0x%lx (byte %zu after it)",
                         a.bytes, (unsigned long) start, i);
                *why = b;
                return false;
            }
        }
    }
    return true;
}

// ------------------------------------------------------------------------------------------------ fibers

enum FiberState { READY, WAIT_BLOCK, WAIT_WARP, DONE };

constexpr size_t STACK_BYTES = 64 * 1024;   // kernels use a few KiB (libm included); 1024 fibers reserve 64 MiB

struct Fiber {
    void* sp = nullptr;          // saved stack pointer (x86-64 switch)
#if !defined(__x86_64__)
    ucontext_t ctx;
#endif
    unsigned char* stack = nullptr;   // mmap'ed, with a guard page below
    uint3 tid{0, 0, 0};
    FiberState state = DONE;
};

std::vector<Fiber> fibers;
std::vector<uint64_t> warpSlots;
Fiber* running = nullptr;
void* schedulerSp = nullptr;
#if !defined(__x86_64__)
ucontext_t schedulerCtx;
#endif
Thunk launchThunk;
void** launchParams;
std::string blockError;            // set by a fiber that detected misuse (bad shuffle)

#if defined(__x86_64__)
extern "C" void d4jemu_switch(void** saveSp, void* toSp);
asm(R"(
    .text
    .p2align 4
    .type d4jemu_switch,@function
d4jemu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size d4jemu_switch, .-d4jemu_switch
)");
#endif

void toScheduler() {
#if defined(__x86_64__)
    d4jemu_switch(&running->sp, schedulerSp);
#else
    swapcontext(&running->ctx, &schedulerCtx);
#endif
}

void toFiber(Fiber* f) {
    running = f;
    current_thread_idx = f->tid;
#if defined(__x86_64__)
    d4jemu_switch(&schedulerSp, f->sp);
#else
    swapcontext(&schedulerCtx, &f->ctx);
#endif
}

void fiberMain() {
    launchThunk(launchParams);
    running->state = DONE;
    toScheduler();
    abort();   // a finished fiber is never resumed
}

void startFiber(Fiber* f) {
    if (f->stack == nullptr) {
        void* m = mmap(nullptr, STACK_BYTES + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (m == MAP_FAILED) {
            fprintf(stderr, "[cuda-emulator] cannot map a fiber stack\n");
            abort();
        }
        mprotect(m, 4096, PROT_NONE);   // stack overflow faults instead of corrupting memory
        f->stack = (unsigned char*) m + 4096;
    }
    f->state = READY;
#if defined(__x86_64__)
    // Layout read by d4jemu_switch: six callee-saved registers, then the "return address" fiberMain, entered
    // with rsp = 8 (mod 16) as after a call.
    uintptr_t top = ((uintptr_t) (f->stack + STACK_BYTES)) & ~(uintptr_t) 15;
    void** sp = (void**) top;
    *--sp = nullptr;                      // fiberMain's own (never used) return address slot
    *--sp = (void*) &fiberMain;
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    f->sp = sp;
#else
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = STACK_BYTES;
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, fiberMain, 0);
#endif
}

/** Runs one block to completion; returns false (with blockError) on deadlock or misuse. */
bool runBlock(unsigned nthreads) {
    if (fibers.size() < nthreads) fibers.resize(nthreads);
    if (warpSlots.size() < nthreads) warpSlots.resize(nthreads);
    unsigned bx = block_dim.x, by = block_dim.y;
    for (unsigned t = 0; t < nthreads; t++) {
        Fiber* f = &fibers[t];
        f->tid = uint3{t % bx, (t / bx) % by, t / (bx * by)};
        startFiber(f);
    }
    unsigned done = 0;
    for (;;) {
        // run every ready fiber until it waits or exits; high thread indices first, so that code which only
        // works when lower threads ran first (a missing barrier) fails here rather than by luck
        for (unsigned k = nthreads; k-- > 0;) {
            Fiber* f = &fibers[k];
            if (f->state != READY) continue;
            toFiber(f);
            if (!blockError.empty()) return false;
            if (f->state == DONE) done++;
        }
        if (done == nthreads) return true;
        bool released = false;
        // warps whose live lanes all wait at a shuffle go on
        for (unsigned w0 = 0; w0 < nthreads; w0 += 32) {
            unsigned w1 = w0 + 32 < nthreads ? w0 + 32 : nthreads;
            unsigned waiting = 0, exited = 0, other = 0;
            for (unsigned t = w0; t < w1; t++) {
                FiberState s = fibers[t].state;
                if (s == WAIT_WARP) waiting++;
                else if (s == DONE) exited++;
                else other++;
            }
            if (waiting == 0) continue;
            if (exited > 0 || w1 - w0 < 32) {
                char b[160];
                snprintf(b, sizeof b, "warp shuffle in warp %u with %u lane(s) exited or absent (block of %u threads)",
                         w0 / 32, exited + (32 - (w1 - w0)), nthreads);
                blockError = b;
                return false;
            }
            if (other == 0) {
                for (unsigned t = w0; t < w1; t++) fibers[t].state = READY;
                released = true;
            }
        }
        if (released) continue;
        // everyone left waits at __syncthreads: release them
        unsigned atBarrier = 0;
        for (unsigned t = 0; t < nthreads; t++) atBarrier += fibers[t].state == WAIT_BLOCK;
        if (atBarrier == nthreads - done) {
            for (unsigned t = 0; t < nthreads; t++) {
                if (fibers[t].state == WAIT_BLOCK) fibers[t].state = READY;
            }
            continue;
        }
        char b[200];
        snprintf(b, sizeof b, "deadlock: %u thread(s) at __syncthreads, %u at a warp shuffle, %u exited", atBarrier,
                 nthreads - done - atBarrier, done);
        blockError = b;
        return false;
    }
}

}  // namespace

void sync_block() {
    running->state = WAIT_BLOCK;
    toScheduler();
}

uint64_t warp_exchange(uint64_t mine, int laneXor) {
    unsigned t = (unsigned) (running - fibers.data());
    unsigned lane = t & 31, src = (t & ~31u) | ((lane ^ (unsigned) laneXor) & 31u);
    warpSlots[t] = mine;
    running->state = WAIT_WARP;   // everyone writes before anyone reads
    toScheduler();
    uint64_t v = warpSlots[src];
    running->state = WAIT_WARP;   // everyone reads before anyone writes again
    toScheduler();
    return v;
}

}  // namespace d4jemu

using namespace d4jemu;

namespace {

/** Runs one queued launch: every block, then the guard-byte check; a failure makes the context's error sticky. */
void runLaunch(const KernelEntry* fn, uint3 grid, uint3 block, std::vector<uint64_t> slots) {
    std::vector<void*> params(slots.size());
    for (size_t k = 0; k < slots.size(); k++) params[k] = &slots[k];
    launchThunk = fn->thunk;
    launchParams = params.data();
    block_dim = block;
    grid_dim = grid;
    unsigned long long threads = (unsigned long long) block.x * block.y * block.z;
    unsigned long long blocks = (unsigned long long) grid.x * grid.y * grid.z;
    const char* call = fn->name.c_str();
    // blocks run last to first (see runBlock for why)
    for (unsigned long long b = blocks; b-- > 0;) {
        block_idx = uint3{(unsigned) (b % grid.x), (unsigned) ((b / grid.x) % grid.y),
                          (unsigned) (b / ((unsigned long long) grid.x * grid.y))};
        blockError.clear();
        if (!runBlock((unsigned) threads)) {
            char where[96];
            snprintf(where, sizeof where, " (block %u,%u,%u of grid %u,%u,%u)", block_idx.x, block_idx.y, block_idx.z,
                     grid.x, grid.y, grid.z);
            sticky = CUDA_ERROR_LAUNCH_FAILED;
            stickyWhy = blockError + where;
            fail(CUDA_ERROR_LAUNCH_FAILED, call, stickyWhy);
            return;
        }
    }
    std::string why;
    if (!guardsIntact(&why)) {
        sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
        stickyWhy = why;
        fail(CUDA_ERROR_ILLEGAL_ADDRESS, call, why);
    }
}

}  // namespace

// ------------------------------------------------------------------------------------------------ driver API

namespace {
struct ErrorName {
    CUresult code;
    const char* name;
    const char* text;
};
const ErrorName ERROR_NAMES[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready"},
    {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {CUDA_ERROR_ILLEGAL_STATE, "CUDA_ERROR_ILLEGAL_STATE", "the operation is not permitted in the current state"},
    {CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
     "operation not permitted when stream is capturing"},
    {CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
     "operation failed due to a previous error during capture"},
    {CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

struct Stream { int token; };
struct Event {
    std::chrono::steady_clock::time_point t;
    bool recorded = false;   // a record has completed
    int pending = 0;         // records queued and not yet run
    unsigned flags;
};
}  // namespace

EXPORT CUresult cuGetErrorName(CUresult e, const char** s) {
    for (const ErrorName& n : ERROR_NAMES) if (n.code == e) { *s = n.name; return CUDA_SUCCESS; }
    *s = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuGetErrorString(CUresult e, const char** s) {
    for (const ErrorName& n : ERROR_NAMES) if (n.code == e) { *s = n.text; return CUDA_SUCCESS; }
    *s = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuInit(unsigned flags) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    initialized = true;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDriverGetVersion(int* v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = 13000;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int* n) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!n) return CUDA_ERROR_INVALID_VALUE;
    *n = 1;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice* d, int ordinal) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t) len, "%s", "diffusion4j CUDA emulator (CPU, not a GPU)");
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    switch (attr) {
        case 1: *v = 1024; return CUDA_SUCCESS;          // MAX_THREADS_PER_BLOCK
        case 2: *v = 1024; return CUDA_SUCCESS;          // MAX_BLOCK_DIM_X
        case 3: case 4: *v = 1024; return CUDA_SUCCESS;  // MAX_BLOCK_DIM_Y/Z (Z is 64 on GPUs; unused here)
        case 5: *v = 2147483647; return CUDA_SUCCESS;    // MAX_GRID_DIM_X
        case 6: case 7: *v = 65535; return CUDA_SUCCESS; // MAX_GRID_DIM_Y/Z
        case 8: *v = 48 * 1024; return CUDA_SUCCESS;     // MAX_SHARED_MEMORY_PER_BLOCK
        case 10: *v = 32; return CUDA_SUCCESS;           // WARP_SIZE
        case 13: *v = 1000000; return CUDA_SUCCESS;      // CLOCK_RATE (kHz)
        case 16: *v = 1; return CUDA_SUCCESS;            // MULTIPROCESSOR_COUNT
        case 36: *v = 1000000; return CUDA_SUCCESS;      // MEMORY_CLOCK_RATE (kHz)
        case 37: *v = 64; return CUDA_SUCCESS;           // GLOBAL_MEMORY_BUS_WIDTH
        case 75: *v = 9; return CUDA_SUCCESS;            // COMPUTE_CAPABILITY_MAJOR
        case 76: *v = 0; return CUDA_SUCCESS;            // COMPUTE_CAPABILITY_MINOR
        default: *v = 0; return CUDA_SUCCESS;
    }
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = TOTAL_MEMORY;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(Context** ctx, CUdevice d) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    primary.refs++;
    *ctx = &primary;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (primary.refs == 0) return fail(CUDA_ERROR_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease", "not retained");
    if (--primary.refs == 0) {
        flush();
        queue.clear();
        // the context is destroyed: its memory goes with it
        if (!allocations.empty() && verbose) {
            fprintf(stderr, "[cuda-emulator] primary context destroyed with %zu allocation(s) live\n", allocations.size());
        }
        for (auto& [start, a] : allocations) free((void*) start);
        allocations.clear();
        allocatedBytes = 0;
        sticky = CUDA_SUCCESS;
        stickyWhy.clear();
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSetCurrent(Context* ctx) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx != nullptr && ctx != &primary) return CUDA_ERROR_INVALID_CONTEXT;
    current = ctx;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetCurrent(Context** ctx) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    *ctx = current;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetDevice(CUdevice* d) {
    CUresult r = ready("cuCtxGetDevice");
    if (r) return r;
    *d = 0;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSynchronize(void) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuCtxSynchronize");
    return r ? r : flush();
}

EXPORT CUresult cuStreamCreate(Stream** s, unsigned flags) {
    CUresult r = ready("cuStreamCreate");
    if (r) return r;
    if (flags > 1) return CUDA_ERROR_INVALID_VALUE;
    *s = new Stream{0};
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamDestroy_v2(Stream* s) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuStreamDestroy");
    if (r || (r = flush())) return r;
    if (!s) return CUDA_ERROR_INVALID_HANDLE;
    delete s;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(Stream*) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuStreamSynchronize");
    return r ? r : flush();
}

EXPORT CUresult cuEventCreate(Event** e, unsigned flags) {
    CUresult r = ready("cuEventCreate");
    if (r) return r;
    *e = new Event();
    (*e)->flags = flags;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventDestroy_v2(Event* e) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuEventDestroy");
    if (r || (r = flush())) return r;
    if (!e) return CUDA_ERROR_INVALID_HANDLE;
    delete e;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuEventRecord(Event* e, Stream*) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuEventRecord");
    if (r) return r;
    if (!e) return CUDA_ERROR_INVALID_HANDLE;
    if ((r = refuseWhileCapturing("cuEventRecord"))) return r;
    e->pending++;
    push([e] {
        e->t = std::chrono::steady_clock::now();
        e->recorded = true;
        e->pending--;
    });
    return CUDA_SUCCESS;
}

// One queue runs every stream's work in the order it was queued, so a stream waiting for an event recorded on
// another (the data-parallel communication stream, NcclAllReduce) is already ordered after it: only the handles
// are checked.
EXPORT CUresult cuStreamWaitEvent(Stream* s, Event* e, unsigned flags) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuStreamWaitEvent");
    if (r) return r;
    if (!e) return CUDA_ERROR_INVALID_HANDLE;
    return flags == 0 || flags == 1 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuEventSynchronize(Event* e) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuEventSynchronize");
    if (r) return r;
    return e ? flush() : CUDA_ERROR_INVALID_HANDLE;
}

EXPORT CUresult cuEventQuery(Event* e) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuEventQuery");
    if (r) return r;
    if (!e) return CUDA_ERROR_INVALID_HANDLE;
    return e->pending > 0 ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;   // work is only done when someone synchronises
}

EXPORT CUresult cuEventElapsedTime(float* ms, Event* a, Event* b) {
    CUresult r = ready("cuEventElapsedTime");
    if (r) return r;
    if (!a || !b) return CUDA_ERROR_INVALID_HANDLE;
    if ((a->flags | b->flags) & 2) return CUDA_ERROR_INVALID_HANDLE;   // CU_EVENT_DISABLE_TIMING
    if (a->pending > 0 || b->pending > 0) {
        return fail(CUDA_ERROR_NOT_READY, "cuEventElapsedTime", "an event's record has not completed (synchronise first)");
    }
    if (!a->recorded || !b->recorded) return CUDA_ERROR_INVALID_HANDLE;
    *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemGetInfo_v2(size_t* freeBytes, size_t* total) {
    CUresult r = ready("cuMemGetInfo");
    if (r) return r;
    *total = TOTAL_MEMORY;
    *freeBytes = TOTAL_MEMORY - allocatedBytes;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuMemAlloc");
    if (r) return r;
    if (!p || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    if ((r = refuseWhileCapturing("cuMemAlloc"))) return r;
    if (bytes > TOTAL_MEMORY - allocatedBytes) return CUDA_ERROR_OUT_OF_MEMORY;
    void* m = nullptr;
    if (posix_memalign(&m, 256, bytes + GUARD) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
    memset(m, 0xFF, bytes);                       // NaN / -1: reads of memory nobody wrote show up
    memset((char*) m + bytes, GUARD_BYTE, GUARD);
    allocations[(uintptr_t) m] = Allocation{bytes};
    allocatedBytes += bytes;
    *p = (CUdeviceptr) (uintptr_t) m;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr p) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuMemFree");
    if (r) return r;
    if (p == 0) return CUDA_SUCCESS;
    if ((r = flush())) return r;   // as cudaFree: queued work that may use the memory finishes first
    auto it = allocations.find((uintptr_t) p);
    if (it == allocations.end()) {
        char b[96];
        snprintf(b, sizeof b, "0x%llx is not the start of a live allocation (double free?)", p);
        return fail(CUDA_ERROR_INVALID_VALUE, "cuMemFree", b);
    }
    std::string why;
    if (!guardsIntact(&why)) return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "cuMemFree", why);
    allocatedBytes -= it->second.bytes;
    free((void*) it->first);
    allocations.erase(it);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
    CUresult r = ready("cuMemAllocHost");
    if (r) return r;
    if (!p || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::recursive_mutex> g(lock);
    if (posix_memalign(p, 4096, bytes) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
    memset(*p, 0xFF, bytes);
    pinned[(uintptr_t) *p] = bytes;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemFreeHost(void* p) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuMemFreeHost");
    if (r || (r = flush())) return r;
    if (p == nullptr) return CUDA_SUCCESS;
    if (pinned.erase((uintptr_t) p) == 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemFreeHost", "not a cuMemAllocHost pointer");
    free(p);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, Stream*) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuMemcpyHtoDAsync");
    if (r) return r;
    if (n == 0) return CUDA_SUCCESS;
    if ((r = checkRange("cuMemcpyHtoDAsync (destination)", dst, n))) return r;
    if (!src) return CUDA_ERROR_INVALID_VALUE;
    void* d = (void*) (uintptr_t) dst;
    if (isPinned(src, n)) {
        push([d, src, n] { memcpy(d, src, n); });   // page-locked source: read when the copy runs
    } else {
        if ((r = refuseWhileCapturing("cuMemcpyHtoDAsync from pageable memory"))) return r;
        // pageable source: the driver stages it before returning, so the caller may reuse it at once
        std::shared_ptr<std::vector<char>> copy = std::make_shared<std::vector<char>>((const char*) src, (const char*) src + n);
        push([d, copy] { memcpy(d, copy->data(), copy->size()); });
    }
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, Stream*) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuMemcpyDtoHAsync");
    if (r) return r;
    if (n == 0) return CUDA_SUCCESS;
    if ((r = checkRange("cuMemcpyDtoHAsync (source)", src, n))) return r;
    if (!dst) return CUDA_ERROR_INVALID_VALUE;
    const void* sp = (const void*) (uintptr_t) src;
    if (isPinned(dst, n)) {
        push([dst, sp, n] { memcpy(dst, sp, n); });   // lands when the stream gets there
        return CUDA_SUCCESS;
    }
    if ((r = flush())) return r;   // to pageable memory the copy is synchronous
    memcpy(dst, sp, n);
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, Stream*) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuMemcpyDtoDAsync");
    if (r) return r;
    if (n == 0) return CUDA_SUCCESS;
    if ((r = checkRange("cuMemcpyDtoDAsync (destination)", dst, n))) return r;
    if ((r = checkRange("cuMemcpyDtoDAsync (source)", src, n))) return r;
    push([dst, src, n] { memmove((void*) (uintptr_t) dst, (const void*) (uintptr_t) src, n); });
    return CUDA_SUCCESS;
}

/** cuMemsetD8/D16/D32Async: count elements of W bytes set to value (the destination aligned to W, as the driver asks). */
template <typename W>
static CUresult memsetAsync(const char* call, CUdeviceptr dst, W value, size_t count) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready(call);
    if (r) return r;
    if (count == 0) return CUDA_SUCCESS;
    if (dst % sizeof(W) != 0) return fail(CUDA_ERROR_INVALID_VALUE, call, "destination not aligned to the element size");
    if ((r = checkRange(call, dst, count * sizeof(W)))) return r;
    push([dst, value, count] {
        W* d = (W*) (uintptr_t) dst;
        for (size_t i = 0; i < count; i++) d[i] = value;
    });
    return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, Stream*) {
    return memsetAsync<unsigned>("cuMemsetD32Async", dst, value, count);
}

EXPORT CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value, size_t count, Stream*) {
    return memsetAsync<unsigned short>("cuMemsetD16Async", dst, value, count);
}

EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t count, Stream*) {
    return memsetAsync<unsigned char>("cuMemsetD8Async", dst, value, count);
}

EXPORT CUresult cuModuleLoadData(void** module, const void* image) {
    CUresult r = ready("cuModuleLoadData");
    if (r) return r;
    if (!module || !image) return CUDA_ERROR_INVALID_VALUE;
    uint32_t magic;
    memcpy(&magic, image, 4);
    if (magic != 0xBA55ED50u) {
        return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData", "not a fatbin (no 0xBA55ED50 magic)");
    }
    *module = &moduleToken;   // the kernels themselves are this library's host-compiled kernels/*.cu
    return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleUnload(void* module) {
    CUresult r = ready("cuModuleUnload");
    if (r) return r;
    return module == &moduleToken ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EXPORT CUresult cuModuleGetFunction(const KernelEntry** fn, void* module, const char* name) {
    CUresult r = ready("cuModuleGetFunction");
    if (r) return r;
    if (module != &moduleToken) return CUDA_ERROR_INVALID_HANDLE;
    auto it = registry().find(name);
    if (it == registry().end()) return CUDA_ERROR_NOT_FOUND;
    *fn = &it->second;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuLaunchKernel(const KernelEntry* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned sharedBytes, Stream*, void** params, void** extra) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuLaunchKernel");
    if (r) return r;
    if (!fn) return CUDA_ERROR_INVALID_HANDLE;
    const char* call = fn->name.c_str();
    if (extra != nullptr) return fail(CUDA_ERROR_NOT_SUPPORTED, call, "the emulator takes kernelParams, not extra");
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || gy > 65535 || gz > 65535 || bz > 64
        || gx > 2147483647u) {
        return fail(CUDA_ERROR_INVALID_VALUE, call, "bad grid or block dimensions");
    }
    unsigned long long threads = (unsigned long long) bx * by * bz;
    if (threads > 1024) return fail(CUDA_ERROR_INVALID_VALUE, call, "more than 1024 threads per block");
    if (threads > fn->maxThreads) {
        return fail(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, call,
                    "more threads per block than the kernel's __launch_bounds__ (" + std::to_string(fn->maxThreads) + ")");
    }
    if (sharedBytes > 48 * 1024) return fail(CUDA_ERROR_INVALID_VALUE, call, "more than 48 KiB of dynamic shared memory");
    if (sharedBytes != 0) return fail(CUDA_ERROR_NOT_SUPPORTED, call, "dynamic shared memory is not emulated");
    if (!params) return fail(CUDA_ERROR_INVALID_VALUE, call, "kernelParams is null");

    // the parameter values are copied now, as the driver does: the caller may change its buffers right after
    std::vector<uint64_t> slots(fn->sizes.size());
    for (size_t k = 0; k < fn->sizes.size(); k++) {
        if (params[k] == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, call, "a kernelParams entry is null");
        memcpy(&slots[k], params[k], fn->sizes[k]);
    }
    push([fn, gx, gy, gz, bx, by, bz, slots] { runLaunch(fn, uint3{gx, gy, gz}, uint3{bx, by, bz}, slots); });
    if (verbose) fprintf(stderr, "[cuda-emulator] %s grid %u block %u queued\n", call, gx, bx);
    return CUDA_SUCCESS;
}

// ------------------------------------------------------------------------------------------------ graphs

namespace {
struct Graph {
    std::shared_ptr<std::vector<std::function<void()>>> ops;
};
struct GraphExec {
    std::shared_ptr<std::vector<std::function<void()>>> ops;
};
}  // namespace

EXPORT CUresult cuStreamBeginCapture_v2(Stream* s, int mode) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuStreamBeginCapture");
    if (r) return r;
    if (!s) return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture", "the legacy default stream cannot be captured");
    if (mode < 0 || mode > 2) return CUDA_ERROR_INVALID_VALUE;
    if (capture != nullptr) return fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamBeginCapture", "a capture is already under way");
    capture = new std::vector<std::function<void()>>();
    captureInvalidated = false;
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamEndCapture(Stream* s, Graph** graph) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (!graph) return CUDA_ERROR_INVALID_VALUE;
    *graph = nullptr;
    if (capture == nullptr) return fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamEndCapture", "the stream is not being captured");
    std::shared_ptr<std::vector<std::function<void()>>> ops(capture);
    capture = nullptr;
    if (captureInvalidated) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    CUresult r = ready("cuStreamEndCapture");
    if (r) return r;
    *graph = new Graph{ops};
    return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamIsCapturing(Stream*, int* status) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuStreamIsCapturing");
    if (r) return r;
    if (!status) return CUDA_ERROR_INVALID_VALUE;
    *status = capture == nullptr ? 0 : captureInvalidated ? 2 : 1;   // CU_STREAM_CAPTURE_STATUS_NONE / ACTIVE / INVALIDATED
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphInstantiateWithFlags(GraphExec** exec, Graph* graph, unsigned long long flags) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuGraphInstantiate");
    if (r) return r;
    if (!exec || !graph) return CUDA_ERROR_INVALID_VALUE;
    if ((r = refuseWhileCapturing("cuGraphInstantiate"))) return r;
    *exec = new GraphExec{graph->ops};   // a graph is immutable here, so the executable shares its ops
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphLaunch(GraphExec* exec, Stream*) {
    std::lock_guard<std::recursive_mutex> g(lock);
    CUresult r = ready("cuGraphLaunch");
    if (r) return r;
    if (!exec) return CUDA_ERROR_INVALID_HANDLE;
    if ((r = refuseWhileCapturing("cuGraphLaunch"))) return r;
    std::shared_ptr<std::vector<std::function<void()>>> ops = exec->ops;
    push([ops] {
        for (std::function<void()>& op : *ops) {
            if (sticky != CUDA_SUCCESS) return;   // a failed op made the context unusable: the rest is dropped
            op();
        }
    });
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphExecDestroy(GraphExec* exec) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (!exec) return CUDA_ERROR_INVALID_HANDLE;
    delete exec;   // launches still queued hold the ops themselves
    return CUDA_SUCCESS;
}

EXPORT CUresult cuGraphDestroy(Graph* graph) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (!graph) return CUDA_ERROR_INVALID_HANDLE;
    delete graph;
    return CUDA_SUCCESS;
}

// ------------------------------------------------------------------------------------------------ for the stand-ins
// cuBLAS / cuDNN stand-ins (cublas_emu.c, cudnn_emu.c) find these with dlopen("libcuda.so.1", RTLD_NOLOAD) and
// queue their work behind ours, so that a GEMM or convolution sees the results of the kernels launched before it.

EXPORT int d4jemu_enqueue(void (*fn)(void*), void* arg, void (*freeArg)(void*)) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (sticky != CUDA_SUCCESS) {
        if (freeArg) freeArg(arg);
        return sticky;
    }
    if (capture != nullptr) {   // replayed by every launch of the graph: freed with the graph, not after a run
        std::shared_ptr<void> held(arg, [freeArg](void* a) { if (freeArg) freeArg(a); });
        capture->push_back([fn, held] { fn(held.get()); });
        return 0;
    }
    push([fn, arg, freeArg] {
        fn(arg);
        if (freeArg) freeArg(arg);
    });
    return 0;
}

EXPORT int d4jemu_flush(void) {
    std::lock_guard<std::recursive_mutex> g(lock);
    return flush();
}

EXPORT int d4jemu_check_range(const void* p, size_t bytes, const char* what) {
    std::lock_guard<std::recursive_mutex> g(lock);
    if (bytes == 0 || find((uintptr_t) p, bytes, nullptr) != nullptr) return 0;
    char b[200];
    snprintf(b, sizeof b, "%s: device range [%p, +%zu) is not inside a live allocation", what ? what : "library call", p,
             bytes);
    sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
    stickyWhy = b;
    fail(CUDA_ERROR_ILLEGAL_ADDRESS, "library call", b);
    return CUDA_ERROR_ILLEGAL_ADDRESS;
}
