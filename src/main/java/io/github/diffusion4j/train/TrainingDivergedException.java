package io.github.diffusion4j.train;

/** Training stopped after too many consecutive non-finite steps; the message names the last good checkpoint. */
public final class TrainingDivergedException extends RuntimeException {
    public TrainingDivergedException(String message) { super(message); }
}
