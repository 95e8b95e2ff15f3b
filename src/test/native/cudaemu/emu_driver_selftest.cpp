// Checks of the emulated CUDA driver itself (emu_driver.cpp), run by CudaEmulatorSelfTest: that it computes
// what a GPU computes for kernels with barriers and shuffles, and that it rejects what a GPU rejects. Linked
// against the emulated libcuda.so.1; takes the fatbin's path (only its magic is read) as the only argument.
// Prints one line per check and exits non-zero when one fails.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
extern "C" {
CUresult cuInit(unsigned);
CUresult cuDeviceGet(int*, int);
CUresult cuDevicePrimaryCtxRetain(void**, int);
CUresult cuDevicePrimaryCtxRelease_v2(int);
CUresult cuCtxSetCurrent(void*);
CUresult cuMemAlloc_v2(CUdeviceptr*, size_t);
CUresult cuMemFree_v2(CUdeviceptr);
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr, const void*, size_t, void*);
CUresult cuMemcpyDtoHAsync_v2(void*, CUdeviceptr, size_t, void*);
CUresult cuModuleLoadData(void**, const void*);
CUresult cuModuleGetFunction(void**, void*, const char*);
CUresult cuCtxSynchronize(void);
CUresult cuMemAllocHost_v2(void**, size_t);
CUresult cuMemFreeHost(void*);
CUresult cuEventCreate(void**, unsigned);
CUresult cuEventRecord(void*, void*);
CUresult cuEventSynchronize(void*);
CUresult cuEventElapsedTime(float*, void*, void*);
CUresult cuLaunchKernel(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**,
                        void**);
}

static int failures = 0;

static void check(bool ok, const char* what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static void* module;

static void* fn(const char* name) {
    void* f = nullptr;
    if (cuModuleGetFunction(&f, module, name) != 0) {
        printf("FAIL cuModuleGetFunction(%s)\n", name);
        exit(1);
    }
    return f;
}

static CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p = 0;
    if (cuMemAlloc_v2(&p, bytes) != 0) {
        printf("FAIL cuMemAlloc\n");
        exit(1);
    }
    return p;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: emu_driver_selftest FATBIN\n");
        return 2;
    }
    FILE* f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    std::vector<char> image(1 << 20);
    image.resize(fread(image.data(), 1, image.size(), f));
    fclose(f);

    CUdeviceptr p = 0;
    check(cuMemAlloc_v2(&p, 16) == 3, "cuMemAlloc before cuInit: CUDA_ERROR_NOT_INITIALIZED");
    check(cuInit(0) == 0, "cuInit");
    check(cuMemAlloc_v2(&p, 16) == 201, "cuMemAlloc without a current context: CUDA_ERROR_INVALID_CONTEXT");
    int dev;
    void* ctx;
    check(cuDeviceGet(&dev, 0) == 0 && cuDevicePrimaryCtxRetain(&ctx, dev) == 0 && cuCtxSetCurrent(ctx) == 0,
          "primary context");
    char junk[64] = {0};
    check(cuModuleLoadData(&module, junk) == 200, "cuModuleLoadData of a non-fatbin: CUDA_ERROR_INVALID_IMAGE");
    check(cuModuleLoadData(&module, image.data()) == 0, "cuModuleLoadData of the fatbin");
    void* none = nullptr;
    check(cuModuleGetFunction(&none, module, "d4j_no_such_kernel") == 500, "unknown kernel: CUDA_ERROR_NOT_FOUND");

    // fresh memory reads as 0xFF bytes (NaN), so a kernel reading memory nobody wrote shows it
    const int n = 1000;
    CUdeviceptr x = alloc(n * 4);
    std::vector<float> h(n);
    check(cuMemcpyDtoHAsync_v2(h.data(), x, n * 4, nullptr) == 0 && isnan(h[0]) && isnan(h[n - 1]),
          "fresh allocation reads as NaN");

    // grid-stride scale (in place, as Backend.scale allows) with a grid smaller than the data
    long long nn = n;
    float value = 2.0f;
    for (int i = 0; i < n; i++) h[i] = 1.25f;
    cuMemcpyHtoDAsync_v2(x, h.data(), n * 4, nullptr);
    void* scaleArgs[] = {&x, &x, &nn, &value};
    check(cuLaunchKernel(fn("d4j_scale"), 3, 1, 1, 64, 1, 1, 0, nullptr, scaleArgs, nullptr) == 0, "d4j_scale launch");
    cuMemcpyDtoHAsync_v2(h.data(), x, n * 4, nullptr);
    bool all = true;
    for (int i = 0; i < n; i++) all &= h[i] == 2.5f;
    check(all, "d4j_scale (grid 3 x 64 over 1000 elements) wrote every element");

    // block reductions with 32 warps (block_sum: shuffles, shared memory, two barriers)
    for (int i = 0; i < n; i++) h[i] = (float) ((i * 7919) % 1009) - 500.0f;
    cuMemcpyHtoDAsync_v2(x, h.data(), n * 4, nullptr);
    CUdeviceptr partials = alloc(3 * 8);
    int squares = 1;
    void* sumArgs[] = {&partials, &x, &nn, &squares};
    check(cuLaunchKernel(fn("d4j_sum_partials"), 3, 1, 1, 1024, 1, 1, 0, nullptr, sumArgs, nullptr) == 0,
          "d4j_sum_partials launch (3 blocks of 1024)");
    double part[3], want = 0;
    cuMemcpyDtoHAsync_v2(part, partials, sizeof part, nullptr);
    for (int i = 0; i < n; i++) want += (double) h[i] * h[i];
    check(part[0] + part[1] + part[2] == want, "d4j_sum_partials: the block sums add up to the sum of squares");

    // softmax rows with block_max + block_sum, 4 warps, a row longer than the block
    const int rows = 3, cols = 300;
    CUdeviceptr sx = alloc(rows * cols * 4), sy = alloc(rows * cols * 4);
    cuMemcpyHtoDAsync_v2(sx, h.data(), rows * cols * 4, nullptr);
    long long r = rows;
    int c = cols;
    void* smArgs[] = {&sy, &sx, &r, &c};
    check(cuLaunchKernel(fn("d4j_softmax"), rows, 1, 1, 128, 1, 1, 0, nullptr, smArgs, nullptr) == 0, "d4j_softmax launch");
    std::vector<float> y(rows * cols);
    cuMemcpyDtoHAsync_v2(y.data(), sy, rows * cols * 4, nullptr);
    double worst = 0;
    for (int i = 0; i < rows; i++) {
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < cols; j++) mx = fmax(mx, h[i * cols + j]);
        for (int j = 0; j < cols; j++) s += exp(h[i * cols + j] - mx);
        for (int j = 0; j < cols; j++) worst = fmax(worst, fabs(y[i * cols + j] - exp(h[i * cols + j] - mx) / s));
    }
    check(worst < 1e-6, "d4j_softmax matches a direct softmax");

    // asynchronous like a GPU: work runs at synchronising calls, parameters are copied at launch, copies into
    // page-locked memory land only when the stream gets there
    void* pinnedHost = nullptr;
    check(cuMemAllocHost_v2(&pinnedHost, n * 4) == 0, "cuMemAllocHost");
    float* ph = (float*) pinnedHost;
    for (int i = 0; i < n; i++) ph[i] = -7.0f;
    float half = 0.5f;
    void* halfArgs[] = {&x, &x, &nn, &half};
    void *e0 = nullptr, *e1 = nullptr;
    cuEventCreate(&e0, 0);
    cuEventCreate(&e1, 0);
    cuEventRecord(e0, nullptr);
    check(cuLaunchKernel(fn("d4j_scale"), 4, 1, 1, 256, 1, 1, 0, nullptr, halfArgs, nullptr) == 0,
          "d4j_scale by 0.5 queued");
    half = 2.0f;   // too late to change the launch
    cuEventRecord(e1, nullptr);
    float ms = -1;
    check(cuEventElapsedTime(&ms, e0, e1) == 600, "elapsed time of events not yet reached: CUDA_ERROR_NOT_READY");
    check(cuMemcpyDtoHAsync_v2(ph, x, n * 4, nullptr) == 0 && ph[0] == -7.0f && ph[n - 1] == -7.0f,
          "a copy into page-locked memory has not landed before synchronising");
    check(cuEventSynchronize(e1) == 0 && cuEventElapsedTime(&ms, e0, e1) == 0 && ms >= 0, "events after synchronising");
    check(ph[0] == 0.5f * h[0] && ph[n - 1] == 0.5f * h[n - 1] && h[0] != 0.0f && h[n - 1] != 0.0f,
          "after synchronising: the copy landed, with the value set at launch time");
    check(cuMemFreeHost(pinnedHost) == 0, "cuMemFreeHost");
    cuMemcpyHtoDAsync_v2(x, h.data(), n * 4, nullptr);

    // copies outside an allocation are refused
    check(cuMemcpyDtoHAsync_v2(h.data(), x + 4, n * 4, nullptr) == 1, "copy past the end: CUDA_ERROR_INVALID_VALUE");
    check(cuMemFree_v2(x + 4) == 1, "free of an interior pointer: CUDA_ERROR_INVALID_VALUE");

    // a kernel reading one float past the end of its allocation gets NaN (the guard bytes), so its results show it
    CUdeviceptr src100 = alloc(100 * 4), dst101 = alloc(101 * 4);
    cuMemcpyHtoDAsync_v2(src100, h.data(), 100 * 4, nullptr);
    long long n101 = 101;
    float unit = 1.0f;
    void* readArgs[] = {&dst101, &src100, &n101, &unit};
    std::vector<float> r101(101);
    check(cuLaunchKernel(fn("d4j_scale"), 1, 1, 1, 128, 1, 1, 0, nullptr, readArgs, nullptr) == 0
              && cuMemcpyDtoHAsync_v2(r101.data(), dst101, 101 * 4, nullptr) == 0 && r101[99] == h[99] && isnan(r101[100]),
          "a kernel reading one float past the end reads NaN");

    // a kernel writing past the end of its allocation is caught (and the context is then unusable)
    CUdeviceptr small = alloc(100 * 4);
    long long tooMany = 101;
    // reads 101 finite floats of x, writes one past the end of small (a finite value: guard bytes read as NaN)
    void* oobArgs[] = {&small, &x, &tooMany, &value};
    check(cuLaunchKernel(fn("d4j_scale"), 1, 1, 1, 128, 1, 1, 0, nullptr, oobArgs, nullptr) == 0
              && cuCtxSynchronize() == 700,
          "a kernel writing one float past the end: CUDA_ERROR_ILLEGAL_ADDRESS at the next synchronisation");
    CUdeviceptr q = 0;
    check(cuMemAlloc_v2(&q, 16) == 700, "after a faulting kernel the context stays broken (sticky error)");
    check(cuDevicePrimaryCtxRelease_v2(dev) == 0 && cuDevicePrimaryCtxRetain(&ctx, dev) == 0
              && cuCtxSetCurrent(ctx) == 0 && cuMemAlloc_v2(&q, 16) == 0,
          "releasing the last reference resets the context");

    check(cuLaunchKernel(fn("d4j_scale"), 1, 1, 1, 2048, 1, 1, 0, nullptr, oobArgs, nullptr) != 0,
          "a 2048-thread block is refused");
    // d4j_group_norm_backward is declared __launch_bounds__(256, 4): a 512-thread block is refused before it runs
    // (nothing is read, so the arguments need not make sense)
    void* gnArgs[14] = {&q, &q, &q, &q, &q, &q, &q, &q, &q, &nn, &nn, &nn, &nn, &nn};
    check(cuLaunchKernel(fn("d4j_group_norm_backward"), 1, 1, 1, 512, 1, 1, 0, nullptr, gnArgs, nullptr) == 701,
          "a block above the kernel's __launch_bounds__ is refused (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES)");

    // block_sum needs whole warps: a 48-thread block shuffles with absent lanes, which a GPU does not define
    cuModuleLoadData(&module, image.data());
    CUdeviceptr x2 = alloc(n * 4);
    cuMemcpyHtoDAsync_v2(x2, h.data(), n * 4, nullptr);
    CUdeviceptr partials2 = alloc(8);
    void* badArgs[] = {&partials2, &x2, &nn, &squares};
    check(cuLaunchKernel(fn("d4j_sum_partials"), 1, 1, 1, 48, 1, 1, 0, nullptr, badArgs, nullptr) == 0
              && cuCtxSynchronize() == 719,
          "block_sum in a 48-thread block (a partial warp): CUDA_ERROR_LAUNCH_FAILED");

    printf("%d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
