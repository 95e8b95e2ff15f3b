package io.github.diffusion4j.backend.cpu;

/**
 * One element of {@link io.github.diffusion4j.tensor.Backend#vlbLoss} in double precision (the CPU reference):
 * the loss L in nats and dL/dv.
 */
final class VlbTerm {
    private VlbTerm() {}

    static final double LN2 = Math.log(2);
    private static final double K = Math.sqrt(2 / Math.PI), A = 0.044715, BIN = 1.0 / 255, TINY = 1e-12;

    /** improved-diffusion's approx_standard_normal_cdf. */
    static double cdf(double z) { return 0.5 * (1 + Math.tanh(K * (z + A * z * z * z))); }

    /** Its derivative. */
    static double pdf(double z) {
        double th = Math.tanh(K * (z + A * z * z * z));
        return 0.5 * (1 - th * th) * K * (1 + 3 * A * z * z);
    }

    /** out[0] = L, out[1] = dL/dv. */
    static void at(double x0, double xt, double pred, double v, double c1, double c2, double minLog, double maxLog,
                   double p, double q, boolean first, double[] out) {
        double mu = c1 * (p * xt + q * pred) + c2 * xt;
        double logVar = minLog + (v + 1) / 2 * (maxLog - minLog);
        double dLogVarDv = (maxLog - minLog) / 2;
        if (!first) {
            double muT = c1 * x0 + c2 * xt, d = muT - mu;
            double e1 = Math.exp(minLog - logVar), e2 = Math.exp(-logVar);
            out[0] = 0.5 * (-1 + logVar - minLog + e1 + d * d * e2);
            out[1] = 0.5 * (1 - e1 - d * d * e2) * dLogVarDv;
            return;
        }
        // -log P(x0 in its bin) under N(mu, e^logVar): log scale s = logVar / 2, dL/dlogVar = dL/ds / 2
        double inv = Math.exp(-0.5 * logVar), centred = x0 - mu;
        double plus = inv * (centred + BIN), minus = inv * (centred - BIN);
        double loss, dLds;
        if (x0 < -0.999) {
            double cp = cdf(plus);
            loss = -Math.log(Math.max(cp, TINY));
            dLds = cp > TINY ? pdf(plus) * plus / cp : 0;
        } else if (x0 > 0.999) {
            double om = 1 - cdf(minus);
            loss = -Math.log(Math.max(om, TINY));
            dLds = om > TINY ? -pdf(minus) * minus / om : 0;
        } else {
            double delta = cdf(plus) - cdf(minus);
            loss = -Math.log(Math.max(delta, TINY));
            dLds = delta > TINY ? (pdf(plus) * plus - pdf(minus) * minus) / delta : 0;
        }
        out[0] = loss;
        out[1] = 0.5 * dLds * dLogVarDv;
    }
}
