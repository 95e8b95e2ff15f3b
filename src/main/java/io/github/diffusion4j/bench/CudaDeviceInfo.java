package io.github.diffusion4j.bench;

import io.github.diffusion4j.backend.cuda.CudaBackend;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Facts about the GPU of a running {@link CudaBackend} that the backend does not keep: the maximum SM and memory
 * clocks (driver attributes) and the device memory in use as the driver sees it (context, libraries and our
 * allocations together). Only touched when the backend is CUDA, so JCuda's native library is never loaded on the CPU
 * path. A value the driver does not give is left out.
 */
final class CudaDeviceInfo {
    private CudaDeviceInfo() {}

    /** Must run on a thread where the backend's context is current (the bench's thread, after any CUDA call). */
    static Map<String, Object> query(CudaBackend cuda) {
        Map<String, Object> m = new LinkedHashMap<>();
        String d = cuda.description();
        int paren = d.indexOf(" (");
        m.put("name", paren > 0 ? d.substring(0, paren) : d);
        m.put("description", d);
        try {
            CUdevice dev = new CUdevice();
            if (JCudaDriver.cuCtxGetDevice(dev) != CUresult.CUDA_SUCCESS) return m;
            int[] v = {0};
            if (JCudaDriver.cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_CLOCK_RATE, dev) == CUresult.CUDA_SUCCESS && v[0] > 0) {
                m.put("sm_clock_max_mhz", v[0] / 1000);
            }
            if (JCudaDriver.cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, dev) == CUresult.CUDA_SUCCESS && v[0] > 0) {
                m.put("mem_clock_max_mhz", v[0] / 1000);
            }
            m.putAll(memory());
        } catch (RuntimeException | LinkageError e) {
            m.put("info_error", String.valueOf(e.getMessage()));
        }
        return m;
    }

    /** {"driver_used_bytes": total - free, "driver_total_bytes": total}, or empty. */
    static Map<String, Object> memory() {
        Map<String, Object> m = new LinkedHashMap<>();
        long[] free = {0}, total = {0};
        if (JCudaDriver.cuMemGetInfo(free, total) == CUresult.CUDA_SUCCESS) {
            m.put("driver_used_bytes", total[0] - free[0]);
            m.put("driver_total_bytes", total[0]);
        }
        return m;
    }
}
