package io.github.diffusion4j.io;

/**
 * A file exists but its content is unusable: a corrupt or truncated checkpoint, a header that does not parse, a
 * tensor whose name or shape does not fit the model. The message is one line and names the file (and the tensor,
 * where one is at fault); the command line reports it as invalid input.
 */
public class FileFormatException extends RuntimeException {
    public FileFormatException(String message) { super(message); }

    public FileFormatException(String message, Throwable cause) { super(message, cause); }
}
