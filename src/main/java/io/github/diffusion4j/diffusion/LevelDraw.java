package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Philox;

/**
 * A continuous-level objective of {@link TrainingObjective} (flow matching, EDM): the level of a sample drawn from its
 * stream, then {@code x_t = a x0 + b eps} and {@code target = c x0 + d eps} with the model's timestep input, and the
 * quartile of the logs.
 */
interface LevelDraw {
    double draw(Philox.Stream rng);

    /** {a, b, c, d, model timestep} at a level. */
    double[] coefficients(double level);

    int quartile(double level);

    /** Flow matching: sigma from the shifted table at floor(u T), u uniform or logit-normal. */
    record Flow(double[] sigmas, boolean logitNormal) implements LevelDraw {
        @Override public double draw(Philox.Stream rng) {
            double u = logitNormal ? 1 / (1 + Math.exp(-rng.nextNormal())) : rng.nextUniform();
            return sigmas[Math.min(sigmas.length - 1, Math.max(0, (int) (u * sigmas.length)))];
        }

        @Override public double[] coefficients(double sigma) {
            // x_t = (1 - sigma) x0 + sigma eps, target = eps - x0, timestep sigma T
            return new double[] {1 - sigma, sigma, -1, 1, sigma * sigmas.length};
        }

        @Override public int quartile(double sigma) { return Math.min(3, (int) Math.floor(4 * sigma)); }
    }

    /** EDM: ln sigma ~ N(P_mean, P_std^2), EDM's preconditioned input and target. */
    record Edm(EdmPreconditioning pre, double pMean, double pStd) implements LevelDraw {
        /** The upper quartile of the standard normal. */
        static final double Q3 = 0.6744897501960817;

        @Override public double draw(Philox.Stream rng) { return Math.exp(pMean + pStd * rng.nextNormal()); }

        @Override public double[] coefficients(double sigma) {
            double cin = pre.cIn(sigma);
            double[] tg = pre.targetCoefficients(sigma);
            return new double[] {cin, cin * sigma, tg[0], tg[1], pre.modelTimestep(sigma)};
        }

        @Override public int quartile(double sigma) {
            double z = (Math.log(sigma) - pMean) / pStd;
            return z < -Q3 ? 0 : z < 0 ? 1 : z < Q3 ? 2 : 3;
        }
    }
}
