// The CUDA device-code vocabulary that kernels/*.cu use, for compiling them as ordinary C++ on the host: the
// emulated driver (emu_driver.cpp) runs every thread of a block as a fiber, so __syncthreads and warp shuffles
// have their real meaning (a thread waits until the others arrive), block-shared memory is shared by the
// block's threads, and a kernel that deadlocks or shuffles with exited lanes is reported instead of hanging.
//
// Test-only: used by the emulated-CUDA tests (libcuda.so.1 built from src/test/native/cudaemu/), never shipped.
#pragma once
#define D4J_CUDA_EMULATION 1

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
// One block runs at a time, so a function-local static is exactly the block's shared memory: every fiber of the
// block sees the same object, and the next block reuses it (on a GPU its contents are then undefined too).
#define __shared__ static

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };
struct float4 { float x, y, z, w; };
struct uint4 { unsigned x, y, z, w; };
struct uint2 { unsigned x, y; };
struct float2 { float x, y; };
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }

namespace d4jemu {

/** The running fiber's thread index (set by the scheduler before it switches to a fiber). */
extern uint3 current_thread_idx;
extern uint3 block_idx, block_dim, grid_dim;

/** __syncthreads: waits until every thread of the block that has not exited arrives. */
void sync_block();

/** Exchanges one 64-bit word within the warp: every live lane of the warp must call it. */
uint64_t warp_exchange(uint64_t mine, int source_lane_xor);

/** A kernel as the driver calls it: the kernelParams array of cuLaunchKernel. */
typedef void (*Thunk)(void** params);
/** sizes[k]: bytes of parameter k (the driver copies the parameter values at launch, as a GPU driver does). */
void register_kernel(const char* name, Thunk thunk, const size_t* sizes, int count, unsigned maxThreads);

template <typename... A>
struct ParamSizes {
    static constexpr size_t value[sizeof...(A) + 1] = {
        sizeof(typename std::remove_cv<typename std::remove_reference<A>::type>::type)..., 0};
};
template <typename... A>
inline const size_t* param_sizes(void (*)(A...)) { return ParamSizes<A...>::value; }
template <typename... A>
inline int param_count(void (*)(A...)) { return (int) sizeof...(A); }

template <typename... A, size_t... I>
inline void call_with(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_cv<typename std::remove_reference<A>::type>::type*>(p[I])...);
}

/** Calls kernel f with its parameters read from kernelParams, each by its declared type (as the driver does). */
template <typename... A>
inline void call(void (*f)(A...), void** p) { call_with(f, p, std::index_sequence_for<A...>{}); }

struct Registrar {
    Registrar(const char* name, Thunk t, const size_t* sizes, int count, unsigned maxThreads) {
        register_kernel(name, t, sizes, count, maxThreads);
    }
};

}  // namespace d4jemu

/** Makes an extern "C" kernel known to the emulated cuModuleGetFunction (the build generates one per kernel). */
#define D4J_EMU_KERNEL(name) D4J_EMU_KERNEL_BOUNDED(name, 1024)
/** The same for a kernel declared with __launch_bounds__(maxThreads, ...): larger blocks fail to launch, as on a GPU. */
#define D4J_EMU_KERNEL_BOUNDED(name, maxThreads) \
    static ::d4jemu::Registrar d4jemu_registrar_##name(#name, [](void** p) { ::d4jemu::call(&name, p); }, \
                                                       ::d4jemu::param_sizes(&name), ::d4jemu::param_count(&name), \
                                                       (maxThreads));

#define threadIdx (::d4jemu::current_thread_idx)
#define blockIdx (::d4jemu::block_idx)
#define blockDim (::d4jemu::block_dim)
#define gridDim (::d4jemu::grid_dim)
#define __syncthreads() ::d4jemu::sync_block()

template <typename T>
static inline T __shfl_xor_sync(unsigned /*mask: every kernel here passes the full warp*/, T v, int laneMask,
                                int /*width*/ = 32) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 64 bits");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    bits = ::d4jemu::warp_exchange(bits, laneMask);
    T r;
    memcpy(&r, &bits, sizeof(T));
    return r;
}

// Fibers never run at the same time (a thread only yields at a barrier), so a read-modify-write is atomic.
static inline int atomicOr(int* p, int v) { int old = *p; *p = old | v; return old; }
static inline unsigned atomicOr(unsigned* p, unsigned v) { unsigned old = *p; *p = old | v; return old; }
static inline int atomicAdd(int* p, int v) { int old = *p; *p = old + v; return old; }

static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned) (((uint64_t) a * b) >> 32); }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
// the round-to-nearest intrinsics that nvcc never contracts into an FMA (built with -ffp-contract=off, so the same here)
static inline float __fadd_rn(float a, float b) { return a + b; }

// CUDA's integer min/max overloads (mixed widths promote as in C++)
template <typename A, typename B>
static inline typename std::common_type<A, B>::type min(A a, B b) {
    typedef typename std::common_type<A, B>::type T;
    return (T) b < (T) a ? (T) b : (T) a;
}
template <typename A, typename B>
static inline typename std::common_type<A, B>::type max(A a, B b) {
    typedef typename std::common_type<A, B>::type T;
    return (T) a < (T) b ? (T) b : (T) a;
}
