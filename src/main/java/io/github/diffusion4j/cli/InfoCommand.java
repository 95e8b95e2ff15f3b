package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.backend.cpu.Parallel;
import io.github.diffusion4j.backend.cuda.CudaAvailability;
import io.github.diffusion4j.backend.cuda.CudaBackend;
import io.github.diffusion4j.backend.cuda.CudaOptions;
import io.github.diffusion4j.backend.cuda.LibraryInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code info}: the machine, and which backend {@code --device auto} would pick and why. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show Java, OS, cores, and which backend --device auto would use (and why).")
public final class InfoCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Spec CommandSpec spec;

    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        CudaAvailability cuda = CudaAvailability.probe();
        boolean vector = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("java", System.getProperty("java.vm.name") + " " + Runtime.version());
            m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
            m.put("cores", Runtime.getRuntime().availableProcessors());
            m.put("max_heap_mib", Runtime.getRuntime().maxMemory() >> 20);
            m.put("vector_api", vector);
            m.put("cpu_backend", CpuBackend.get().description());
            m.put("cpu_threads", Parallel.threads());
            m.put("auto_backend", cuda.autoBackend());
            m.put("reason", Backends.cudaUnavailableReason());
            m.put("cuda_available", cuda.available());
            m.put("cuda_problems", cuda.problems());
            m.put("driver", lib(cuda.driver()));
            m.put("cublas", lib(cuda.cublas()));
            m.put("cudnn", lib(cuda.cudnn()));
            m.put("gpu", cuda.deviceDescription());
            m.put("cuda_defaults", CudaOptions.defaults(0).summary());
            m.put("precision", Precision.SUMMARY);
            m.put("mpi", io.github.diffusion4j.dist.Mpi.describe());
            m.put("nccl", lib(io.github.diffusion4j.backend.cuda.Nccl.probe()));
            m.put("launcher_processes", io.github.diffusion4j.dist.World.launcherSize(System.getenv()));
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(m));
        } else {
            out.println("java:    " + System.getProperty("java.vm.name") + " " + Runtime.version());
            out.println("os:      " + System.getProperty("os.name") + " " + System.getProperty("os.version") + " ("
                    + System.getProperty("os.arch") + ")");
            out.println("cores:   " + Runtime.getRuntime().availableProcessors() + ", max heap "
                    + (Runtime.getRuntime().maxMemory() >> 20) + " MiB");
            out.println("cpu:     " + CpuBackend.get().description()
                    + (vector ? "" : " (run java with --add-modules jdk.incubator.vector for SIMD)"));
            out.println(Backends.autoSummary());
            for (String line : cuda.details().subList(1, cuda.details().size())) out.println("  " + line);
            out.println("cuda defaults: " + CudaOptions.defaults(0).summary()
                    + " (options --tf32, --[no-]cudnn-deterministic, --sync-launches change them)");
            out.println("precision: " + Precision.SUMMARY);
            LibraryInfo nccl = io.github.diffusion4j.backend.cuda.Nccl.probe();
            out.println("data-parallel (mpirun/srun, see README 'Many GPUs'): launcher started "
                    + io.github.diffusion4j.dist.World.launcherSize(System.getenv()) + " process(es)");
            out.println("  mpi:  " + io.github.diffusion4j.dist.Mpi.describe());
            out.println("  nccl: " + nccl.describe());
        }
        out.flush();
        return 0;
    }

    private static Map<String, Object> lib(LibraryInfo l) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", l.name());
        m.put("status", l.status());
        m.put("path", l.path());
        m.put("version", l.version());
        return m;
    }
}
