package io.github.diffusion4j.diffusion;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Timestep grids (values as diffusers/numpy produce them) and clear errors for invalid settings. */
class TimestepsAndValidationTest {

    static int[] head(int[] a, int n) { return java.util.Arrays.copyOf(a, n); }

    @Test
    void gridsMatchDiffusers() {
        // values printed by numpy with diffusers' formulas (T = 1000)
        assertArrayEquals(new int[] {980, 960, 940, 920, 900}, head(Timesteps.spaced(TimestepSpacing.LEADING, 1000, 50, 0), 5));
        assertArrayEquals(new int[] {981, 961, 941}, head(Timesteps.spaced(TimestepSpacing.LEADING, 1000, 50, 1), 3));
        assertArrayEquals(new int[] {999, 979, 959, 939, 919, 899},
                head(Timesteps.spaced(TimestepSpacing.TRAILING, 1000, 50, 0), 6));
        assertArrayEquals(new int[] {999, 979, 958, 938, 917, 897},
                head(Timesteps.spaced(TimestepSpacing.LINSPACE, 1000, 50, 0), 6));
        assertArrayEquals(new int[] {999, 832, 666, 500, 333, 166, 0}, Timesteps.spaced(TimestepSpacing.LINSPACE, 1000, 7, 0));
        assertArrayEquals(new int[] {852, 710, 568, 426, 284, 142, 0}, Timesteps.spaced(TimestepSpacing.LEADING, 1000, 7, 0));
        assertArrayEquals(new int[] {999, 949, 899, 849, 799, 749, 699, 649},
                head(Timesteps.dpmSolver(TimestepSpacing.LINSPACE, 1000, 20, 0), 8));
        assertArrayEquals(new int[] {940, 893, 846, 799, 752}, head(Timesteps.dpmSolver(TimestepSpacing.LEADING, 1000, 20, 0), 5));
        assertArrayEquals(new int[] {0}, Timesteps.spaced(TimestepSpacing.LINSPACE, 1000, 1, 0));
        // numpy's arange gives 62 points for n = 61; the grid here has exactly n, all valid
        int[] t61 = Timesteps.spaced(TimestepSpacing.TRAILING, 1000, 61, 0);
        assertEquals(61, t61.length);
        assertEquals(15, t61[60]);
        int[] all = Timesteps.spaced(TimestepSpacing.LEADING, 1000, 1000, 0);
        assertEquals(999, all[0]);
        assertEquals(0, all[999]);
    }

    static void fails(Executable e, String... fragments) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        System.out.println("error: " + ex.getMessage());
        for (String f : fragments) assertTrue(ex.getMessage().contains(f), "message '" + ex.getMessage() + "' lacks '" + f + "'");
    }

    @Test
    void invalidSettingsFailClearly() {
        DdimScheduler ddim = new DdimScheduler(SchedulerConfig.builder().build());
        fails(() -> ddim.setTimesteps(0), "at least 1", "0");
        fails(() -> ddim.setTimesteps(1001), "1001", "cannot be larger", "1000");
        fails(() -> ddim.setTimesteps(new int[] {500, 600, 100}), "descending", "500", "600");
        fails(() -> ddim.setTimesteps(new int[] {900, 900}), "descending");
        fails(() -> ddim.setTimesteps(new int[] {1000, 10}), "1000", "outside");
        fails(() -> ddim.setTimesteps(new int[] {}), "empty");
        DdimScheduler offset = new DdimScheduler(SchedulerConfig.builder().stepsOffset(1).build());
        fails(() -> offset.setTimesteps(1000), "1000", "outside", "steps_offset=1");
        fails(() -> SchedulerConfig.builder().eta(1.5).build(), "eta", "[0, 1]", "1.5");
        fails(() -> SchedulerConfig.builder().eta(-0.1).build(), "eta");
        fails(() -> SchedulerConfig.builder().predictionType("noise"), "unknown prediction_type 'noise'", "v_prediction");
        fails(() -> SchedulerConfig.builder().timestepSpacing("uniform"), "timestep_spacing", "trailing");
        fails(() -> SchedulerConfig.builder().varianceType("learned_sigma"), "unknown variance_type 'learned_sigma'", "learned_range");
        fails(() -> SchedulerConfig.builder().numTrainTimesteps(1).build(), "num_train_timesteps");
        fails(() -> new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults().solverOrder(3).build()), "solver_order");
        fails(() -> ddim.previousTimestep(1000), "outside");
        DdpmScheduler ddpm = new DdpmScheduler();
        ddpm.setTimesteps(10);
        fails(() -> ddpm.pMeanVariance(123), "123", "not one of");
        fails(() -> Sampler.img2imgTimesteps(new int[] {900, 500, 100}, 0.2), "no step");
        fails(() -> Sampler.img2imgTimesteps(new int[] {900, 500, 100}, 1.5), "strength");
        // epsilon prediction at zero terminal SNR cannot give x0
        DdimScheduler zero = new DdimScheduler(SchedulerConfig.builder().rescaleBetasZeroSnr(true)
                .timestepSpacing("trailing").build());
        zero.setTimesteps(10);
        IllegalStateException ise = assertThrows(IllegalStateException.class, () -> zero.coefficients(999));
        assertTrue(ise.getMessage().contains("v_prediction"), ise.getMessage());
    }

    @Test
    void img2imgTimestepsFollowGetTimesteps() {
        int[] ts = {900, 800, 700, 600, 500, 400, 300, 200, 100, 0};
        assertArrayEquals(new int[] {600, 500, 400, 300, 200, 100, 0}, Sampler.img2imgTimesteps(ts, 0.75)); // int(7.5) = 7
        assertArrayEquals(ts, Sampler.img2imgTimesteps(ts, 1.0));
        assertArrayEquals(new int[] {0}, Sampler.img2imgTimesteps(ts, 0.1));
    }

    @Test
    void diffusersJsonConfig() {
        String json = """
                {"_class_name": "DDIMScheduler", "_diffusers_version": "0.30.0", "beta_end": 0.012,
                 "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
                 "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": false,
                 "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": null,
                 "rescale_betas_zero_snr": false, "thresholding": false}""";
        SchedulerConfig c = SchedulerConfig.fromDiffusersJson(json, null);
        assertEquals(BetaSchedule.SCALED_LINEAR, c.betaSchedule());
        assertEquals(PredictionType.V_PREDICTION, c.predictionType());
        assertEquals(1, c.stepsOffset());
        assertEquals(0.012, c.betaEnd());
        DdimScheduler s = new DdimScheduler(c);
        s.setTimesteps(50);
        assertEquals(981, s.timesteps()[0]);
        SchedulerConfig dpm = SchedulerConfig.fromDiffusersJson("""
                {"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver++", "solver_order": 2,
                 "lambda_min_clipped": -Infinity, "use_karras_sigmas": false, "final_sigmas_type": "zero"}""",
                DpmSolverMultistepScheduler.defaults());
        assertEquals(TimestepSpacing.LINSPACE, dpm.timestepSpacing());
        fails(() -> SchedulerConfig.fromDiffusersJson("{\"use_lu_lambdas\": true}", null), "use_lu_lambdas", "not supported");
        SchedulerConfig sde = SchedulerConfig.fromDiffusersJson("""
                {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": true}""", DpmSolverMultistepScheduler.defaults());
        assertTrue(sde.sde() && sde.useKarrasSigmas(), "sde-dpmsolver++ with Karras sigmas is read");
        fails(() -> SchedulerConfig.fromDiffusersJson("{\"algorithm_type\": \"dpmsolver\"}", null), "algorithm_type", "not supported");
        fails(() -> SchedulerConfig.fromDiffusersJson("{\"prediction_type\": \"flow\"}", null), "prediction_type");
        fails(() -> SchedulerConfig.fromDiffusersJson("{\"frobnicate\": 1}", null), "frobnicate");
    }
}
