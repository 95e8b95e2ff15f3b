package io.github.diffusion4j.io;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A folder written all or nothing, for checkpoints: files go into a staging folder
 * {@code <parent>/.tmp-<name>-<random>}; {@link #commit()} flushes every file and the folder to disk and renames
 * it to {@code <parent>/<name>}; closing without committing (e.g. the writer threw) deletes the staging folder,
 * so no partial {@code <name>} ever appears.
 *
 * <pre>{@code
 * try (AtomicDirectory d = AtomicDirectory.begin(runDir, "step-0001000")) {
 *     SafeTensors.save(d.path().resolve("model.safetensors"), params, meta);
 *     AtomicFiles.writeString(d.path().resolve("config.json"), json);
 *     d.commit();
 * }
 * AtomicDirectory.writeLatest(runDir, "step-0001000");
 * AtomicDirectory.prune(runDir, "step-", 3);
 * }</pre>
 *
 * <p>If {@code <name>} already exists it is replaced: the old folder is first renamed aside
 * ({@code .old-<name>-<random>}), the new one renamed in, then the old one deleted. (POSIX cannot rename a folder
 * over a non-empty one, so there is a moment where {@code <name>} is absent; the {@code latest} pointer is never
 * left naming a partial folder.)
 *
 * <p>The {@code latest} pointer is a small text file {@code <parent>/latest} holding the folder name, replaced
 * atomically (symbolic links are unreliable across platforms and archive tools).
 */
public final class AtomicDirectory implements AutoCloseable {
    /** Name of the pointer file. */
    public static final String LATEST = "latest";
    private static final String TMP = ".tmp-", OLD = ".old-";

    private final Path parent;
    private final String name;
    private final Path staging;
    private boolean finished;

    private AtomicDirectory(Path parent, String name, Path staging) {
        this.parent = parent;
        this.name = name;
        this.staging = staging;
    }

    /** Creates the staging folder for {@code <parent>/<name>} (and {@code parent} if needed). */
    public static AtomicDirectory begin(Path parent, String name) throws IOException {
        checkName(name);
        Files.createDirectories(parent);
        Path staging = parent.resolve(TMP + name + "-" + UUID.randomUUID().toString().substring(0, 8));
        Files.createDirectory(staging);
        return new AtomicDirectory(parent, name, staging);
    }

    /** The staging folder: write the content here. */
    public Path path() { return staging; }

    /** Where the folder will be after {@link #commit()}. */
    public Path target() { return parent.resolve(name); }

    /** Flushes all files, publishes the folder under its final name and returns that path. */
    public Path commit() throws IOException {
        if (finished) throw new IllegalStateException("atomic directory " + target() + " already committed or closed");
        syncTree(staging);
        Path target = target();
        Path aside = null;
        if (Files.exists(target)) {
            aside = parent.resolve(OLD + name + "-" + UUID.randomUUID().toString().substring(0, 8));
            Files.move(target, aside, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(staging, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        finished = true;
        AtomicFiles.syncDirectory(parent);
        if (aside != null) deleteRecursively(aside);
        return target;
    }

    /** Deletes the staging folder unless committed. */
    @Override public void close() throws IOException {
        if (finished) return;
        finished = true;
        deleteRecursively(staging);
    }

    // ------------------------------------------------------------------ latest pointer

    /** Atomically points {@code <parent>/latest} at the folder {@code name}. */
    public static void writeLatest(Path parent, String name) throws IOException {
        checkName(name);
        AtomicFiles.writeString(parent.resolve(LATEST), name + "\n");
    }

    /**
     * The folder {@code <parent>/latest} points at; empty if there is no pointer.
     *
     * @throws FileFormatException if the pointer is malformed or names a missing folder
     */
    public static Optional<Path> latest(Path parent) throws IOException {
        Path pointer = parent.resolve(LATEST);
        if (!Files.isRegularFile(pointer)) return Optional.empty();
        String name = Files.readString(pointer, StandardCharsets.UTF_8).strip();
        try {
            checkName(name);
        } catch (IllegalArgumentException e) {
            throw new FileFormatException("pointer file " + pointer + " does not hold a folder name: '" + name + "'");
        }
        Path dir = parent.resolve(name);
        if (!Files.isDirectory(dir)) throw new FileFormatException("pointer file " + pointer + " names " + dir + ", which does not exist");
        return Optional.of(dir);
    }

    // ------------------------------------------------------------------ housekeeping

    /**
     * Keeps the newest {@code keepLast} folders whose names start with {@code prefix} and deletes the others,
     * never the one {@code latest} points to. Newest = largest number after the prefix (names without a number
     * sort by name, before numbered ones). Returns the deleted folders.
     */
    public static List<Path> prune(Path parent, String prefix, int keepLast) throws IOException {
        if (keepLast < 1) throw new IllegalArgumentException("keepLast must be at least 1, got " + keepLast);
        if (!Files.isDirectory(parent)) return List.of();
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> s = Files.list(parent)) {
            s.filter(p -> Files.isDirectory(p) && p.getFileName().toString().startsWith(prefix)
                    && !p.getFileName().toString().startsWith(".")).forEach(dirs::add);
        }
        dirs.sort(Comparator.comparing((Path p) -> number(p.getFileName().toString(), prefix))
                .thenComparing(p -> p.getFileName().toString()));
        Path keep = null;
        Path pointer = parent.resolve(LATEST);
        if (Files.isRegularFile(pointer)) keep = parent.resolve(Files.readString(pointer, StandardCharsets.UTF_8).strip());
        List<Path> deleted = new ArrayList<>();
        for (int i = 0; i < dirs.size() - keepLast; i++) {
            Path d = dirs.get(i);
            if (d.equals(keep)) continue;
            deleteRecursively(d);
            deleted.add(d);
        }
        return deleted;
    }

    /** Deletes staging and set-aside folders left by a crashed writer ({@code .tmp-*}, {@code .old-*}). */
    public static List<Path> cleanStale(Path parent) throws IOException {
        List<Path> deleted = new ArrayList<>();
        if (!Files.isDirectory(parent)) return deleted;
        try (Stream<Path> s = Files.list(parent)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String n = p.getFileName().toString();
                if (Files.isDirectory(p) && (n.startsWith(TMP) || n.startsWith(OLD))) {
                    deleteRecursively(p);
                    deleted.add(p);
                }
            }
        }
        return deleted;
    }

    private static final Pattern DIGITS = Pattern.compile("(\\d+)");

    private static long number(String name, String prefix) {
        Matcher m = DIGITS.matcher(name.substring(prefix.length()));
        if (!m.find()) return Long.MIN_VALUE;
        try {
            return Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }

    static void checkName(String name) {
        if (name == null || name.isEmpty() || name.equals(".") || name.equals("..") || name.contains("/")
                || name.contains("\\") || name.startsWith(".") || name.equals(LATEST) || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not a plain folder name: '" + name + "'");
        }
    }

    private static void syncTree(Path root) throws IOException {
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                if (attrs.isRegularFile()) AtomicFiles.syncFile(file);
                return FileVisitResult.CONTINUE;
            }

            @Override public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null) throw exc;
                AtomicFiles.syncDirectory(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** Deletes a folder and everything below it (symbolic links are removed, not followed). */
    public static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null) throw exc;
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
