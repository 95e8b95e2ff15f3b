package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Backend;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUresult;
import jcuda.driver.CUstreamCaptureMode;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.Set;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;

/**
 * CudaBackend's recordings ({@link Backend#record}): stream capture into CUDA graphs, instantiated for replay, and
 * the refusal of what a graph cannot hold (host waits, host copies, allocations) while recording. The CPU backend
 * records nothing (Backend's default: the work runs directly).
 */
final class GraphRecorder {
    private final CudaBackend cb;
    private boolean recording;
    private final Set<GraphRecording> graphs = new LinkedHashSet<>();
    private String lastRecordingFailure;

    GraphRecorder(CudaBackend cb) {
        this.cb = cb;
    }

    /** Thrown inside {@link #record} by a call that a graph cannot hold; record() then returns null. */
    private static final class NotRecordable extends RuntimeException {
        NotRecordable(String what) {
            super(what + " while recording a CUDA graph", null, false, false);
        }
    }

    boolean recording() { return recording; }

    String lastRecordingFailure() { return lastRecordingFailure; }

    void refuseWhileRecording(String what) {
        if (recording) throw new NotRecordable(what);
    }

    /** See {@link CudaBackend#record}. */
    Backend.Recording record(Runnable work) {
        cb.ensureContext();
        if (recording) throw new IllegalStateException("already recording a CUDA graph");
        boolean profiling = cb.profiling();
        if (profiling || cb.options().syncEveryLaunch()) {
            lastRecordingFailure = profiling ? "profiling" : "syncEveryLaunch";
            return null;
        }
        CudaBackend.check(cuStreamBeginCapture(cb.stream(), CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                "cuStreamBeginCapture");
        RuntimeException failure = null;
        recording = true;
        try {
            work.run();
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            recording = false;
        }
        CUgraph graph = new CUgraph();
        int r = cuStreamEndCapture(cb.stream(), graph);
        if (failure != null || r != CUresult.CUDA_SUCCESS) {
            if (r == CUresult.CUDA_SUCCESS) CudaBackend.check(cuGraphDestroy(graph), "cuGraphDestroy");
            if (failure != null && !(failure instanceof NotRecordable) && !(failure instanceof CudaException)) throw failure;
            lastRecordingFailure = failure != null ? failure.getMessage() : "cuStreamEndCapture: " + CUresult.stringFor(r);
            if (cb.options().traceSyncs()) System.err.println("CUDA graph not recorded: " + lastRecordingFailure);
            return null;
        }
        CUgraphExec exec = new CUgraphExec();
        int ri = cuGraphInstantiate(exec, graph, 0L);
        if (ri != CUresult.CUDA_SUCCESS) {
            cuGraphDestroy(graph);
            CudaBackend.check(ri, "cuGraphInstantiate");
        }
        GraphRecording g = new GraphRecording(graph, exec, cb.memoryFrees());
        graphs.add(g);
        return g;
    }

    /** Close: destroys the graphs still held. */
    void destroyAll() {
        for (GraphRecording g : new ArrayList<>(graphs)) g.destroy();
        graphs.clear();
    }

    /** An instantiated CUDA graph; stale once any device memory has been freed after it was recorded. */
    private final class GraphRecording implements Backend.Recording {
        private final CUgraph graph;
        private final CUgraphExec exec;
        private final long freesAtRecording;
        private boolean destroyed;

        GraphRecording(CUgraph graph, CUgraphExec exec, long freesAtRecording) {
            this.graph = graph;
            this.exec = exec;
            this.freesAtRecording = freesAtRecording;
        }

        @Override public boolean replay() {
            cb.ensureContext();
            if (destroyed) throw new IllegalStateException("CUDA graph replayed after close");
            if (recording) throw new IllegalStateException("a CUDA graph cannot be replayed while recording another");
            if (cb.memoryFrees() != freesAtRecording) return false;
            CudaBackend.check(cuGraphLaunch(exec, cb.stream()), "cuGraphLaunch");
            cb.countGraphLaunch();
            if (cb.options().syncEveryLaunch()) cb.syncStream("cuGraphLaunch");
            return true;
        }

        @Override public void close() {
            if (destroyed || cb.isClosed()) return;   // the backend's close destroys the graphs it still holds
            cb.ensureContext();
            destroy();
        }

        void destroy() {
            if (destroyed) return;
            destroyed = true;
            graphs.remove(this);
            CudaBackend.check(cuGraphExecDestroy(exec), "cuGraphExecDestroy");
            CudaBackend.check(cuGraphDestroy(graph), "cuGraphDestroy");
        }
    }
}
