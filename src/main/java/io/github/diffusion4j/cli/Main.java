package io.github.diffusion4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/**
 * The {@code diffusion4j} command line. Exit codes: 0 success, 2 invalid input (one line on stderr, no stack
 * trace unless {@code --verbose}), 1 training diverged (one line naming the last good checkpoint) or internal failure.
 */
@Command(name = "d4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Train and sample image diffusion models (DDPM family) on the JVM.",
        subcommands = {TrainCommand.class, SampleCommand.class, EvaluateCommand.class, ExportCommand.class, DataCommand.class, InfoCommand.class, ModelCommand.class, ScheduleCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (used by tests). */
    public static int run(String... args) {
        CommandLine cl = commandLine();
        return cl.execute(args);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler(Main::handleException);
        cl.setParameterExceptionHandler(Main::handleParameterException);
        return cl;
    }

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 0;
    }

    private static int handleParameterException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cmd = ex.getCommandLine();
        cmd.getErr().println("error: " + ex.getMessage());
        CommandLine.UnmatchedArgumentException.printSuggestions(ex, cmd.getErr());
        cmd.getErr().println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
        return 2;
    }

    private static int handleException(Exception ex, CommandLine cmd, CommandLine.ParseResult parseResult) {
        return report(ex, cmd.getErr(), Verbosity.isVerbose(parseResult), "");
    }

    /**
     * Prints the one-line report of a failure (the stack trace too when {@code verbose}), each line after
     * {@code prefix} (a rank's, in a data-parallel run), and returns the exit code.
     */
    static int report(Exception ex, java.io.PrintWriter err, boolean verbose, String prefix) {
        int code = exitCode(ex);
        err.println(prefix + (code == 1 && !expected(ex) ? "internal error: " + ex : "error: " + ex.getMessage()));
        if (verbose) ex.printStackTrace(err);
        else if (!expected(ex)) err.println(prefix + "(run with --verbose for the stack trace)");
        err.flush();
        return code;
    }

    /** 2 for invalid input, else 1. */
    static int exitCode(Exception ex) {
        return ex instanceof UserException || ex instanceof IllegalArgumentException
                || ex instanceof io.github.diffusion4j.data.DatasetException
                || ex instanceof io.github.diffusion4j.io.FileFormatException
                || ex instanceof java.nio.file.NoSuchFileException ? 2 : 1;
    }

    /** A failure with a message meant for the user (no stack trace needed). */
    private static boolean expected(Exception ex) {
        return exitCode(ex) == 2 || ex instanceof io.github.diffusion4j.train.TrainingDivergedException
                || ex instanceof io.github.diffusion4j.io.StorageException
                || ex instanceof io.github.diffusion4j.dist.DistException;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"diffusion4j " + (v == null ? "dev" : v)};
        }
    }
}
