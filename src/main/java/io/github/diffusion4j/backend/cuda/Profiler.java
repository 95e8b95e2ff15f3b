package io.github.diffusion4j.backend.cuda;

import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;

/**
 * GPU time per operation for CudaBackend ({@code bench --profile}): while active, every kernel launch and
 * cuBLAS/cuDNN call is bracketed by a pair of events ({@link #begin} / {@link #end}), summed per label by
 * {@link #stop}. No CPU counterpart (the CPU backend is timed on the host).
 */
final class Profiler {
    private final CudaBackend cb;
    /** Read before every launch: one boolean test when not profiling. */
    boolean active;
    private final List<CUevent> profileEvents = new ArrayList<>();   // a pool, grown on demand, kept until close
    private final List<String> profileLabels = new ArrayList<>();
    private int profileCount;

    Profiler(CudaBackend cb) {
        this.cb = cb;
    }

    /** See {@link CudaBackend#startProfile}. */
    void start() {
        cb.ensureContext();
        if (active) throw new IllegalStateException("already profiling");
        if (cb.recording()) throw new IllegalStateException("cannot profile while recording a CUDA graph");
        active = true;
        profileCount = 0;
        profileLabels.clear();
    }

    void begin() {
        CUevent e;
        if (profileCount < profileEvents.size()) {
            e = profileEvents.get(profileCount);
        } else {
            e = new CUevent();
            CudaBackend.check(cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            profileEvents.add(e);
            cb.trackEvent(e);   // destroyed with the others on close
        }
        CudaBackend.check(cuEventRecord(e, cb.stream()), "cuEventRecord");
        profileCount++;
    }

    void end(String label) {
        begin();
        profileLabels.add(label);
    }

    /** See {@link CudaBackend#stopProfile}. */
    List<CudaBackend.OpTime> stop() {
        if (!active) throw new IllegalStateException("not profiling");
        active = false;
        cb.syncStream("cuStreamSynchronize (profile)");
        Map<String, double[]> byOp = new HashMap<>();
        float[] ms = {0f};
        double idle = 0;
        for (int i = 0; i < profileLabels.size(); i++) {
            CudaBackend.check(cuEventElapsedTime(ms, profileEvents.get(2 * i), profileEvents.get(2 * i + 1)),
                    "cuEventElapsedTime");
            double[] acc = byOp.computeIfAbsent(profileLabels.get(i), k -> new double[2]);
            acc[0]++;
            acc[1] += ms[0];
            if (i > 0) {
                CudaBackend.check(cuEventElapsedTime(ms, profileEvents.get(2 * i - 1), profileEvents.get(2 * i)),
                        "cuEventElapsedTime");
                idle += ms[0];
            }
        }
        List<CudaBackend.OpTime> out = new ArrayList<>();
        byOp.forEach((op, acc) -> out.add(new CudaBackend.OpTime(op, (long) acc[0], acc[1])));
        out.sort((x, y) -> Double.compare(y.millis(), x.millis()));
        out.add(new CudaBackend.OpTime("(GPU idle between operations)", Math.max(0, profileLabels.size() - 1), idle));
        return out;
    }

    /** Close: the events were destroyed with the backend's others. */
    void forgetEvents() {
        profileEvents.clear();
    }
}
