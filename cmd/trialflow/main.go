package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// command is one subcommand: a name path such as "registry serve", a one-line
// summary, and a run function given its own flag set and arguments.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, fs *flag.FlagSet, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

// gcPercent is the garbage collector's target when GOGC is not set: the
// pipeline's heap is mostly short-lived batches (fetches, Arrow records,
// verdicts), and letting it grow to 5x the live heap before a collection
// takes about a fifth of the CPU off a bounded run
// (BenchmarkTrialmatchPipeline, bench/RESULTS-trialmatch.md). GOGC and
// GOMEMLIMIT still win when set.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// A runner starts this binary as the Beam worker with --worker; Init
	// never returns then.
	if isWorker(os.Args[1:]) {
		flag.Parse()
		beam.Init()
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "trialflow:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func isWorker(args []string) bool {
	for _, a := range args {
		if a == "--worker" || a == "-worker" || strings.HasPrefix(a, "--worker=") || strings.HasPrefix(a, "-worker=") {
			return true
		}
	}
	return false
}

// dispatch finds the longest command name that prefixes args and runs it.
// Its flags are parsed on the global flag set, so Beam's registered flags
// (--runner, --endpoint, --environment_type, ...) work after the subcommand.
func dispatch(ctx context.Context, args []string, out io.Writer) error {
	var best *command
	n := 0
	for i := range commands {
		parts := strings.Fields(commands[i].name)
		if len(parts) > len(args) || len(parts) <= n {
			continue
		}
		match := true
		for j, p := range parts {
			if args[j] != p {
				match = false
				break
			}
		}
		if match {
			best, n = &commands[i], len(parts)
		}
	}
	if best == nil {
		usage(out)
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			return nil
		}
		return fmt.Errorf("%w: unknown command %q", errUsage, strings.Join(args, " "))
	}
	if err := checkSecretArgs(args[n:]); err != nil {
		return err
	}
	fs := flag.CommandLine
	// The flags defined so far are Beam's and the global ones; the rest the
	// command defines in run, before it parses.
	global := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { global[f.Name] = true })
	fs.Usage = func() { commandUsage(fs.Output(), fs, best.name, best.summary, global) }
	return best.run(ctx, fs, args[n:])
}

// commandUsage prints a command's own flags first, then the global ones
// (Beam's pipeline options and trialflow's) under their own heading, so
// that a command's few flags are not lost among Beam's many.
func commandUsage(out io.Writer, fs *flag.FlagSet, name, summary string, global map[string]bool) {
	own := flag.NewFlagSet(name, flag.ContinueOnError)
	rest := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		to := own
		if global[f.Name] {
			to = rest
		}
		to.Var(f.Value, f.Name, f.Usage)
		to.Lookup(f.Name).DefValue = f.DefValue
	})
	own.SetOutput(out)
	rest.SetOutput(out)
	fmt.Fprintf(out, "trialflow %s: %s\n\nflags:\n", name, summary)
	own.PrintDefaults()
	n := 0
	rest.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(out, "\nglobal flags (%d: Beam's pipeline options such as --runner and --endpoint, and trialflow's):\n", n)
		rest.PrintDefaults()
	}
}

func usage(out io.Writer) {
	fmt.Fprintln(out, "trialflow: streaming clinical-trial matching on Apache Beam")
	fmt.Fprintln(out, "\nusage: trialflow <command> [flags]\n\ncommands:")
	sorted := append([]command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(out, "  %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(out, "\nRun 'trialflow <command> -h' for a command's flags.")
}
