package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every kernel launch written in backend/cuda (CudaBackend.java and its op families, GroupNormOps.java ...) passes its parameters in the order and kinds of the kernel's
 * signature. KernelArgs checks this at run time, but the run time is on a GPU; this reads the launch chains
 * ({@code kFoo.begin().ptr(..).i64(..)...launch(..)}) from the source so that a wrong launcher fails here, without
 * one. Together with KernelSignatureTest (signatures vs kernels/*.cu) it ties every launch to the CUDA source.
 */
class LauncherCallSiteTest {
    static final Path SOURCES = Path.of("src/main/java/io/github/diffusion4j/backend/cuda");

    @Test void everyLaunchMatchesItsKernelSignature() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(SOURCES), "sources not found (tests not run from the project root)");
        List<Path> files;
        try (var s = Files.list(SOURCES)) {
            files = s.filter(f -> f.toString().endsWith(".java")).sorted().toList();
        }
        Set<String> declared = new HashSet<>(), launched = new HashSet<>();
        int chains = 0;
        for (Path file : files) chains += checkFile(file, declared, launched);
        assertTrue(declared.size() >= 30, "launcher fields found: " + declared.size());
        System.out.println(chains + " launch sites checked in " + files.size() + " files, " + launched.size()
                + " kernels launched");
        // every kernel the backend looks up is launched somewhere
        assertEquals(declared, launched);
    }

    /** The launch chains of one source file against the kernel(...) fields it declares; returns how many. */
    private static int checkFile(Path file, Set<String> declared, Set<String> launched) throws Exception {
        String src = Files.readString(file);
        Map<String, String> fieldToKernel = new HashMap<>();
        Matcher decl = Pattern.compile("(k\\w+) = (?:\\w+\\.)?kernel\\(Kernels\\.(\\w+)\\)").matcher(src);
        while (decl.find()) {
            String kernel = (String) Kernels.class.getField(decl.group(2)).get(null);
            fieldToKernel.put(decl.group(1), kernel);
        }
        declared.addAll(fieldToKernel.values());
        // a typed launcher (cb.typedKernel) holds d4j_NAME and d4j_NAME_bf16, which share one signature; its
        // launches pick one by dtype (kFoo.of(t).begin()) and count for both
        Matcher typed = Pattern.compile("(k\\w+) = (?:\\w+\\.)?typedKernel\\(Kernels\\.(\\w+)\\)").matcher(src);
        Map<String, String> typedFields = new HashMap<>();
        while (typed.find()) {
            String kernel = (String) Kernels.class.getField(typed.group(2)).get(null);
            typedFields.put(typed.group(1), kernel);
            fieldToKernel.put(typed.group(1), kernel);
            declared.add(kernel);
            declared.add(Kernels.bf16(kernel));
        }

        Pattern setter = Pattern.compile("\\.(ptr|i64|i32|f32|f64|launch)\\(");
        Matcher chain = Pattern.compile("\\b(k\\w+)(?:\\.of\\([^()]*(?:\\([^()]*\\)[^()]*)*\\))?\\.begin\\(\\)").matcher(src);
        int chains = 0;
        while (chain.find()) {
            String field = chain.group(1);
            String kernel = fieldToKernel.get(field);
            assertTrue(kernel != null, file.getFileName() + ": launch of " + field + ", which is not a kernel(...) field");
            StringBuilder sig = new StringBuilder();
            Matcher m = setter.matcher(src);
            m.region(chain.end(), src.length());
            boolean ended = false;
            while (m.find()) {
                String s = m.group(1);
                if (s.equals("launch")) {
                    ended = true;
                    break;
                }
                sig.append(switch (s) {
                    case "ptr" -> 'p';
                    case "i64" -> 'j';
                    case "i32" -> 'i';
                    case "f64" -> 'd';
                    default -> 'f';
                });
            }
            assertTrue(ended, "launch chain of " + field + " never launches");
            int line = src.substring(0, chain.start()).split("\n", -1).length;
            assertEquals(Kernels.SIGNATURES.get(kernel), sig.toString(),
                    file.getFileName() + " line " + line + ": parameters passed to " + kernel);
            launched.add(kernel);
            if (typedFields.containsKey(field)) launched.add(Kernels.bf16(kernel));
            chains++;
        }
        return chains;
    }
}
