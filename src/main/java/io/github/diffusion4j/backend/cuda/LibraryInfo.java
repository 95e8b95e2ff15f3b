package io.github.diffusion4j.backend.cuda;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the shim found when it opened one NVIDIA library: the name asked for, whether it was found (and usable),
 * the file the loader picked, its version, and any further fields (for the driver: device count, device 0 name,
 * compute capability and memory).
 *
 * @param name    the soname or path asked for, e.g. "libcudnn.so.9"
 * @param status  "ok", "missing" (dlopen failed) or "error" (opened, but not usable)
 * @param fields  every key=value line of the probe (see native/probe.c), in order
 */
public record LibraryInfo(String name, String status, Map<String, String> fields) {

    public LibraryInfo {
        fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
    }

    /** Parses the probe's "key=value" lines. */
    static LibraryInfo parse(String name, String text) {
        Map<String, String> f = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) f.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return new LibraryInfo(name, f.getOrDefault("status", "error"), f);
    }

    /** A library that was never probed (e.g. the shim could not be loaded). */
    static LibraryInfo notProbed(String name, String why) {
        return new LibraryInfo(name, "missing", Map.of("error", why));
    }

    public boolean found() { return "ok".equals(status); }

    /** The path the dynamic loader chose, or null. */
    public String path() { return fields.get("path"); }

    /** The version ("9.1.0", "13.0.2", driver "13.0"), or null. */
    public String version() { return fields.get("version"); }

    /** The dlopen error or the failing call, or null. */
    public String error() { return fields.get("error"); }

    public String field(String key) { return fields.get(key); }

    /** One line, e.g. "libcudnn.so.9 9.1.0 (/usr/lib/x86_64-linux-gnu/libcudnn.so.9)" or "libcudnn.so.9 not found". */
    public String describe() {
        if (found()) {
            String real = fields.getOrDefault("realpath", path());
            return name + " " + (version() != null ? version() : "?") + (real != null ? " (" + real + ")" : "");
        }
        if ("missing".equals(status)) return name + " not found" + (error() != null ? ": " + error() : "");
        return name + " unusable" + (error() != null ? ": " + error() : "");
    }
}
