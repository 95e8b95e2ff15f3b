package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Backend;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;

import java.util.ArrayList;
import java.util.List;

import static io.github.diffusion4j.backend.cuda.CudaBackend.check;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;

/** The CUDA backend's {@link Backend.Timeline}: an event recorded on the stream per mark, read as GPU times. */
final class CudaTimeline implements Backend.Timeline {
    private final CudaBackend backend;
    private final List<CUevent> events = new ArrayList<>();

    CudaTimeline(CudaBackend backend) { this.backend = backend; }

    @Override public void mark() {
        CUevent e = new CUevent();
        check(cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
        events.add(e);
        check(cuEventRecord(e, backend.stream()), "cuEventRecord");
    }

    @Override public double[] millis() {
        double[] ms = new double[events.size()];
        if (events.isEmpty()) return ms;
        backend.syncEvent(events.get(events.size() - 1), "cuEventSynchronize");
        float[] v = {0f};
        for (int i = 1; i < ms.length; i++) {
            check(cuEventElapsedTime(v, events.get(0), events.get(i)), "cuEventElapsedTime");
            ms[i] = v[0];
        }
        return ms;
    }

    @Override public void close() {
        for (CUevent e : events) check(cuEventDestroy(e), "cuEventDestroy");
        events.clear();
    }
}
