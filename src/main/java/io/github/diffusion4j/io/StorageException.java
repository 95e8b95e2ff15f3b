package io.github.diffusion4j.io;

import java.io.IOException;

/**
 * Writing a run's files failed for a reason of the machine, not of the input (a full disk, a file size limit, a
 * read-only folder): the CLI reports it in one line with exit code 1. What was written before is intact.
 */
public final class StorageException extends IOException {
    public StorageException(String message, IOException cause) {
        super(message, cause);
    }

    /** "cannot write WHAT: REASON", the reason being the cause's own first line (e.g. "No space left on device"). */
    public static StorageException writing(Object what, IOException cause) {
        String m = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        if (cause instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) m = fse.getReason();
        int nl = m.indexOf('\n');
        return new StorageException("cannot write " + what + ": " + (nl < 0 ? m : m.substring(0, nl)), cause);
    }
}
