// Command vendorsim serves every fake vendor of internal/demo on 127.0.0.1,
// loaded with the demo's sample data, until SIGINT or SIGTERM. It is for
// trying leadsync by hand (`leadsync run` against it, with Grafana watching)
// without an account at any vendor:
//
//	go run ./cmd/vendorsim --config-out /tmp/ls.yaml --state /tmp/ls.db
//	go run ./cmd/leadsync run --config /tmp/ls.yaml
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/leadsync/leadsync/config"
	_ "github.com/leadsync/leadsync/connectors/all"
	"github.com/leadsync/leadsync/internal/demo"
)

const help = `vendorsim: every fake vendor leadsync knows, on 127.0.0.1, with sample data.

Usage:
  vendorsim [--base-port N] [--persons N] [--config-out FILE [--state PATH] [--listen ADDR] [--schedule SPEC]]

It prints each vendor's URL, then "ready", and serves until SIGINT or SIGTERM.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return
	}
	fmt.Fprintln(os.Stderr, "vendorsim:", err)
	os.Exit(1)
}

// run serves the fakes until ctx ends. The line "ready" on stdout, after
// the URLs, says every fake is listening: tests wait for it instead of
// sleeping.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("vendorsim", flag.ContinueOnError)
	// Parse errors come back to main, which prints them once on stderr;
	// only --help prints the flags.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	basePort := fs.Int("base-port", 0, "serve the fakes on ports N, N+1, ... (0: random free ports)")
	persons := fs.Int("persons", 0, "extra generated persons, on top of the sample data")
	configOut := fs.String("config-out", "", "write a leadsync configuration for the fakes to this file")
	statePath := fs.String("state", "./leadsync.db", "with --config-out: the state file the configuration names")
	listen := fs.String("listen", config.DefaultListen, "with --config-out: leadsync's metrics and health address (\"\" turns it off)")
	schedule := fs.String("schedule", "@every 5m", "with --config-out: every source's schedule")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	if *basePort < 0 || *basePort > 65535 {
		return fmt.Errorf("--base-port: %d is not a port", *basePort)
	}
	if *persons < 0 {
		return fmt.Errorf("--persons: %d is negative", *persons)
	}

	now := time.Now()
	env, err := demo.Start(*basePort, now)
	if err != nil {
		return err
	}
	defer env.Close()
	if *persons > 0 {
		env.SeedMany(*persons, now)
	}

	// The demo's configuration is parsed (and so validated) even without
	// --config-out: it gives each fake's connector type and a stable order.
	raw, err := leadsyncConfig(env, *statePath, *listen, *schedule)
	if err != nil {
		return err
	}
	c, err := config.Parse(raw, noEnv)
	if err != nil {
		return fmt.Errorf("the generated configuration does not load: %w", err)
	}
	if *configOut != "" {
		if err := os.WriteFile(*configOut, raw, 0o600); err != nil {
			return err
		}
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tTYPE\tURL")
	for _, name := range c.Order {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, c.Connectors[name].Type, c.Connectors[name].BaseURL)
	}
	tw.Flush()
	if *configOut != "" {
		fmt.Fprintf(stdout, "config: %s (leadsync run --config %s)\n", *configOut, *configOut)
	}
	fmt.Fprintln(stdout, "ready")

	<-ctx.Done()
	return nil
}

// noEnv is an empty environment: the demo's configuration uses no ${VAR},
// and LEADSYNC_* variables of the shell running vendorsim must not change
// the file it writes.
func noEnv(string) (string, bool) { return "", false }

// leadsyncConfig is the demo's configuration with "listen" replaced: the
// demo turns the HTTP endpoints off, but someone running leadsync against
// vendorsim usually wants /metrics and /readyz.
func leadsyncConfig(env *demo.Env, statePath, listen, schedule string) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(env.Config(statePath, schedule)), &root); err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("demo configuration: not a mapping")
	}
	setKey(root.Content[0], "listen", listen)
	var out bytes.Buffer
	out.WriteString("# Written by vendorsim: leadsync against the fake vendors on 127.0.0.1.\n" +
		"# The credentials are the fakes' own test values, not secrets.\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// setKey sets a top-level scalar of a mapping node, adding the key if absent.
func setKey(m *yaml.Node, key, value string) {
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}
