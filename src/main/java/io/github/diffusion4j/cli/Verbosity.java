package io.github.diffusion4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Option;

/** The inherited {@code --verbose} option; subcommands mix it in. */
public final class Verbosity {
    @Option(names = {"-v", "--verbose"}, description = "Print stack traces and extra diagnostics.",
            scope = CommandLine.ScopeType.INHERIT)
    boolean verbose;

    static boolean isVerbose(CommandLine.ParseResult pr) {
        for (CommandLine.ParseResult r = pr; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--verbose")) return true;
        }
        return false;
    }
}
