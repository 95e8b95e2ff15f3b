package io.github.diffusion4j.cli;

/** Invalid input from the user (bad option value, missing file, ...): exit code 2, one line, no stack trace. */
public class UserException extends RuntimeException {
    public UserException(String message) { super(message); }

    public UserException(String message, Throwable cause) { super(message, cause); }
}
