// Host build of kernels/philox.cuh, driven by PhiloxHostCheckTest: compiled with a plain C++ compiler (no CUDA),
// it runs the device code's Philox rounds, (seed, index) mapping and per-block store logic on the CPU, so that
// the Java test can compare them with Philox.java bit for bit.
//
// usage: philox_host_check (n|u) seed offset count [(n|u) seed offset count ...]
//   seed and offset are signed 64-bit decimal numbers (Java longs); for each group one output line holds the
//   count floats as 8-digit hex bit patterns, produced exactly like the d4j_randn / d4j_rand kernels do:
//   one "thread" per Philox block from offset >> 2, each storing its in-range lanes.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "philox.cuh"

int main(int argc, char** argv) {
    if (argc < 5 || (argc - 1) % 4 != 0) {
        std::fprintf(stderr, "usage: %s (n|u) seed offset count ...\n", argv[0]);
        return 2;
    }
    for (int a = 1; a + 3 < argc; a += 4) {
        bool normal = std::strcmp(argv[a], "n") == 0;
        unsigned long long seed = (unsigned long long) std::strtoll(argv[a + 1], nullptr, 10);
        unsigned long long offset = (unsigned long long) std::strtoll(argv[a + 2], nullptr, 10);
        long long n = std::strtoll(argv[a + 3], nullptr, 10);
        std::vector<float> out((size_t) n, -1.0f);
        unsigned long long first = offset >> 2;
        for (long long k = 0; k < d4j::block_count(n, offset); k++) {
            unsigned long long b = first + (unsigned long long) k;
            float4 v = normal ? d4j::philox_normal4(seed, b) : d4j::philox_uniform4(seed, b);
            d4j::store_block(out.data(), n, offset, b, v);
        }
        for (long long i = 0; i < n; i++) {
            unsigned int bits;
            std::memcpy(&bits, &out[(size_t) i], 4);
            std::printf(i == 0 ? "%08x" : " %08x", bits);
        }
        std::printf("\n");
    }
    return 0;
}
