package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;

import java.util.Arrays;
import java.util.stream.Collectors;

/** What the model predicts (diffusers' {@code prediction_type}). */
public enum PredictionType {
    /** The noise epsilon (Ho et al. 2020); the default. */
    EPSILON("epsilon", Backend.TARGET_EPSILON),
    /** The clean sample x0. */
    SAMPLE("sample", Backend.TARGET_SAMPLE),
    /** v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans &amp; Ho 2022, progressive distillation). */
    V_PREDICTION("v_prediction", Backend.TARGET_V);

    private final String diffusersName;
    private final int backendTarget;

    PredictionType(String diffusersName, int backendTarget) {
        this.diffusersName = diffusersName;
        this.backendTarget = backendTarget;
    }

    public String diffusersName() { return diffusersName; }

    /** The matching {@code Backend.TARGET_*} selector of {@link Backend#qSample}. */
    public int backendTarget() { return backendTarget; }

    /** Parses a diffusers name: {@code epsilon}, {@code sample} or {@code v_prediction}. */
    public static PredictionType fromName(String name) {
        for (PredictionType p : values()) if (p.diffusersName.equals(name)) return p;
        throw new IllegalArgumentException("unknown prediction_type '" + name + "' (expected one of "
                + Arrays.stream(values()).map(PredictionType::diffusersName).collect(Collectors.joining(", ")) + ")");
    }

    @Override public String toString() { return diffusersName; }
}
