package io.github.diffusion4j.bench;

import io.github.diffusion4j.backend.cuda.CudaBackend;
import io.github.diffusion4j.tensor.Backend;

/**
 * Times a piece of queued work in milliseconds, including the wait for it to finish: on a GPU between two CUDA events
 * recorded on the backend's stream ({@link CudaBackend#elapsedMillis}); elsewhere with {@link System#nanoTime()}
 * around the work and {@link Backend#synchronize()}.
 */
public interface BenchTimer {
    double millis(Runnable work);

    /** "cuda events" or "System.nanoTime". */
    String method();

    static BenchTimer forBackend(Backend b) {
        if (b instanceof CudaBackend cuda) {
            return new BenchTimer() {
                @Override public double millis(Runnable work) {
                    cuda.synchronize();   // nothing earlier may land inside the interval
                    return cuda.elapsedMillis(work);
                }

                @Override public String method() { return "cuda events"; }
            };
        }
        return new BenchTimer() {
            @Override public double millis(Runnable work) {
                b.synchronize();
                long t0 = System.nanoTime();
                work.run();
                b.synchronize();
                return (System.nanoTime() - t0) / 1e6;
            }

            @Override public String method() { return "System.nanoTime"; }
        };
    }
}
