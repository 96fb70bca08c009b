// Command leadsync keeps one CRM complete and clean from several chat and
// lead-capture vendors. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	_ "time/tzdata" // zone data in the binary: per-instance timezones work on any base image

	"github.com/lmittmann/tint"

	"github.com/leadsync/leadsync/config"
	_ "github.com/leadsync/leadsync/connectors/all"
	lsync "github.com/leadsync/leadsync/sync"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `leadsync: keeps one CRM complete and clean from several lead vendors.

Usage:
  leadsync run --config FILE                    the daemon, until SIGTERM or SIGINT
  leadsync once --config FILE [--connector NAME] every source once, drain the outbox, print a summary
  leadsync check --config FILE                  validate the configuration (no network)
  leadsync dlq list|replay|drop --config FILE   the dead-letter queue
  leadsync state show|cursors|reset-cursor|conflicts|compact|check --config FILE
  leadsync healthcheck [--url URL]              probe a running daemon's /readyz (container health check)
  leadsync demo                                 run a sync against built-in fake vendors
  leadsync version

Run "leadsync COMMAND --help" for a command's flags.
`

func main() {
	lsync.TuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries a one-line reason for stderr and an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"run":         cmdRun,
		"once":        cmdOnce,
		"check":       cmdCheck,
		"dlq":         cmdDLQ,
		"state":       cmdState,
		"demo":        cmdDemo,
		"healthcheck": cmdHealthcheck,
		"version": func(_ context.Context, _ []string, out, _ io.Writer) error {
			fmt.Fprintln(out, "leadsync", version)
			return nil
		},
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "leadsync: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := f(context.Background(), args[1:], stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(stderr, "leadsync %s: %s\n", args[0], oneLine(err.Error()))
	return code
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// flags builds a subcommand's flag set with --config.
func flags(name, help string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", "", "configuration file (YAML)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", help)
		fs.PrintDefaults()
	}
	return fs, cfg
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, &exitError{2, errors.New("--config FILE is required")}
	}
	return config.Load(path)
}

// newLogger: tint on a terminal, JSON otherwise, or as configured.
func newLogger(c *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Log.Level))
	format := c.Log.Format
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "tint"
		}
	}
	switch format {
	case "tint":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lvl, TimeFormat: "15:04:05"}))
	case "text":
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// parseArgs parses flags anywhere among the positional arguments
// ("state show QUERY --config F" as well as "state show --config F QUERY")
// and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
