package io.github.diffusion4j.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One writer per run folder: an exclusive OS file lock on {@code <run>/.lock}, held while a trainer writes there. The
 * operating system releases it when the process ends in any way (kill -9 included), so a dead process never leaves
 * the folder locked; the file stays, holding the last holder's process id for the message.
 */
public final class RunLock implements AutoCloseable {
    public static final String FILE = ".lock";

    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock of {@code runDir} (created if missing); refused in one line when another process (or another
     * trainer of this one) holds it.
     */
    public static RunLock acquire(Path runDir) throws IOException {
        Files.createDirectories(runDir);
        Path file = runDir.resolve(FILE);
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            l = null;   // this JVM holds it already
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        if (l == null) {
            String holder = "";
            try {
                ByteBuffer b = ByteBuffer.allocate(64);
                ch.read(b, 0);
                holder = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim();
            } catch (IOException ignored) {
                // the message goes without the pid
            }
            ch.close();
            throw new IllegalArgumentException("run folder " + runDir + " is in use by another training process"
                    + (holder.isEmpty() ? "" : " (pid " + holder + ")") + "; wait for it to finish, or choose another --out");
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        ch.force(false);
        return new RunLock(ch, l);
    }

    @Override public void close() throws IOException {
        try {
            if (lock.isValid()) lock.release();
        } finally {
            channel.close();
        }
    }
}
