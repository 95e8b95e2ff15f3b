package io.github.diffusion4j.data;

/**
 * A dataset could not be opened or read: missing directory or file, bad magic number, truncated or corrupt file,
 * inconsistent counts. The message is one line and names the file; the command line reports it as invalid input.
 */
public class DatasetException extends RuntimeException {
    public DatasetException(String message) { super(message); }

    public DatasetException(String message, Throwable cause) { super(message, cause); }
}
