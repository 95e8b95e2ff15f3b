package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.diffusion4j.diffusion.BetaSchedule;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/** {@code schedule}: prints (or writes as JSON, or plots) the tables of a noise schedule. */
@Command(name = "schedule", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Show a noise schedule: betas, alpha-bar, posterior variance and SNR per timestep.",
                "By default a table of every T/20-th timestep (plus the first and last); --all for every row."})
public final class ScheduleCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;

    @Spec CommandSpec spec;

    @Option(names = "--schedule", defaultValue = "linear", paramLabel = "NAME",
            description = "linear, cosine (Improved DDPM, diffusers' squaredcos_cap_v2), scaled-linear or sigmoid "
                    + "(default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--timesteps", defaultValue = "1000", paramLabel = "T",
            description = "Number of training timesteps T (default: ${DEFAULT-VALUE}).")
    int timesteps;

    @Option(names = "--beta-start", paramLabel = "B", description = "First beta (default 1e-4; not for cosine).")
    Double betaStart;

    @Option(names = "--beta-end", paramLabel = "B", description = "Last beta (default 0.02; not for cosine).")
    Double betaEnd;

    @Option(names = "--zero-snr", description = "Rescale the betas to zero terminal SNR (Lin et al. 2023).")
    boolean zeroSnr;

    @Option(names = "--all", description = "Print every timestep instead of a sampled subset.")
    boolean all;

    @Option(names = "--json", description = "Print JSON with arrays betas, alphas_cumprod, posterior_variance, snr.")
    boolean json;

    @Option(names = "--plot", paramLabel = "FILE", description = "Also draw alpha-bar and log-SNR against t into a PNG.")
    Path plot;

    /** Parses the CLI name of a schedule. */
    static BetaSchedule parseSchedule(String name) {
        try {
            return BetaSchedule.parse(name);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
    }

    @Override public Integer call() throws IOException {
        BetaSchedule kind = parseSchedule(schedule);
        if (timesteps < 2) throw new UserException("--timesteps must be at least 2, got " + timesteps);
        if (kind == BetaSchedule.SQUAREDCOS_CAP_V2 && (betaStart != null || betaEnd != null)) {
            throw new UserException("the cosine schedule has no beta range: drop --beta-start/--beta-end");
        }
        double b0 = betaStart == null ? 1e-4 : betaStart, b1 = betaEnd == null ? 0.02 : betaEnd;
        if (!(b0 > 0 && b0 <= 1 && b1 > 0 && b1 <= 1)) {
            throw new UserException("--beta-start and --beta-end must be in (0, 1], got " + b0 + " and " + b1);
        }
        if (plot != null) {
            Path parent = plot.toAbsolutePath().getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                throw new UserException("cannot write plot: directory " + parent + " does not exist");
            }
        }
        String title = schedule.toLowerCase(Locale.ROOT) + ", T=" + timesteps + (zeroSnr ? ", zero terminal SNR" : "");
        NoiseSchedule s;
        try {
            s = NoiseSchedule.create(kind, timesteps, b0, b1, zeroSnr);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage(), e);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) printJson(out, s, kind);
        else printTable(out, s, title);
        if (plot != null) {
            try {
                SchedulePlot.write(plot, s, title);
            } catch (IOException e) {
                throw new UserException("cannot write plot " + plot + ": " + e.getMessage(), e);
            }
            if (!json) out.println("plot written to " + plot);
        }
        out.flush();
        return 0;
    }

    private void printJson(PrintWriter out, NoiseSchedule s, BetaSchedule kind) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("schedule", kind == BetaSchedule.SQUAREDCOS_CAP_V2 ? "cosine" : schedule.toLowerCase(Locale.ROOT));
        root.put("beta_schedule", kind.diffusersName());
        root.put("num_train_timesteps", s.numTimesteps());
        root.put("rescale_betas_zero_snr", zeroSnr);
        array(root.putArray("betas"), s.betas());
        array(root.putArray("alphas_cumprod"), s.alphasCumprod());
        array(root.putArray("posterior_variance"), s.posteriorVariance());
        array(root.putArray("snr"), s.snr());
        out.println(mapper.writeValueAsString(root));
    }

    private static void array(ArrayNode a, float[] values) {
        for (float v : values) a.add(v);
    }

    private void printTable(PrintWriter out, NoiseSchedule s, String title) {
        int t = s.numTimesteps();
        TreeSet<Integer> rows = new TreeSet<>();
        if (all) {
            for (int i = 0; i < t; i++) rows.add(i);
        } else {
            int every = Math.max(1, t / 20);
            for (int i = 0; i < t; i += every) rows.add(i);
            rows.add(t - 1);
        }
        float[] beta = s.betas(), ab = s.alphasCumprod(), sa = s.sqrtAlphasCumprod(), sb = s.sqrtOneMinusAlphasCumprod(),
                pv = s.posteriorVariance(), snr = s.snr();
        out.println("noise schedule: " + title);
        out.printf(Locale.ROOT, "%6s  %11s  %11s  %11s  %11s  %13s  %9s%n", "t", "beta", "alpha_bar", "sqrt(ab)",
                "sqrt(1-ab)", "posterior_var", "log_snr");
        for (int i : rows) {
            out.printf(Locale.ROOT, "%6d  %11.5e  %11.5e  %11.5e  %11.5e  %13.5e  %9.4f%n", i, beta[i], ab[i], sa[i], sb[i],
                    pv[i], Math.log(snr[i]));
        }
        if (!all) out.println("(" + rows.size() + " of " + t + " rows; --all for every row, --json for the full arrays)");
    }
}
