package io.github.diffusion4j.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

/**
 * Writing files so that readers (and a crash) only ever see the old or the new complete content: the data goes to
 * a temporary file in the same directory ({@code .<name>.tmp-<random>}), is flushed to disk
 * ({@link FileChannel#force}), then renamed over the target with {@link StandardCopyOption#ATOMIC_MOVE}; finally the
 * directory is flushed so the rename itself is durable (where the platform allows opening a directory). On failure
 * the temporary file is removed and the target is untouched.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes through a channel. */
    @FunctionalInterface
    public interface ChannelWriter {
        void write(FileChannel channel) throws IOException;
    }

    /** Writes through a stream. */
    @FunctionalInterface
    public interface StreamWriter {
        void write(OutputStream out) throws IOException;
    }

    /** Atomically replaces {@code target} with what {@code writer} writes to the channel. */
    public static void write(Path target, ChannelWriter writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve("." + abs.getFileName() + ".tmp-" + UUID.randomUUID().toString().substring(0, 8));
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                writer.write(ch);
                ch.force(true);
            }
            move(tmp, abs);
            done = true;
        } finally {
            if (!done) Files.deleteIfExists(tmp);
        }
        syncDirectory(dir);
    }

    /** Atomically replaces {@code target} with what {@code writer} writes to the stream. */
    public static void writeStream(Path target, StreamWriter writer) throws IOException {
        write(target, ch -> {
            OutputStream out = Channels.newOutputStream(ch);
            OutputStream buffered = new java.io.BufferedOutputStream(out, 1 << 16);
            writer.write(buffered);
            buffered.flush();
        });
    }

    public static void writeBytes(Path target, byte[] data) throws IOException {
        write(target, ch -> writeFully(ch, ByteBuffer.wrap(data)));
    }

    public static void writeString(Path target, String text) throws IOException {
        writeBytes(target, text.getBytes(StandardCharsets.UTF_8));
    }

    static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** Renames atomically, falling back to a plain replacing move where atomic moves are unsupported. */
    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Flushes a directory's entries to disk; a no-op where directories cannot be opened (Windows). */
    public static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // not supported on this platform/file system: the rename is still atomic, only its durability is weaker
        }
    }

    /** Flushes a regular file's content to disk. */
    public static void syncFile(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }
}
