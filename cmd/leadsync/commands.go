package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/leadsync/leadsync/config"
	"github.com/leadsync/leadsync/state"
	lsync "github.com/leadsync/leadsync/sync"
)

// openStore opens the configured state file.
func openStore(c *config.Config) (*state.Store, error) {
	return state.Open(c.State.Path, time.Duration(c.State.LockTimeout))
}

// openEngine loads the configuration at path, opens its store and builds
// the engine; the caller closes the store.
func openEngine(path string, stderr io.Writer) (*config.Config, *lsync.Engine, *state.Store, error) {
	c, err := loadConfig(path)
	if err != nil {
		return nil, nil, nil, err
	}
	eng, st, err := lsync.Open(c, lsync.Options{Logger: newLogger(c, stderr)})
	if err != nil {
		return nil, nil, nil, err
	}
	return c, eng, st, nil
}

func cmdCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("check", "leadsync check --config FILE: validates the configuration, touching no vendor.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "configuration OK: %d connector instances, target %s, state %s\n", len(c.Connectors), c.Target, c.State.Path)
	for _, n := range c.Order {
		cc := c.Connectors[n]
		fmt.Fprintf(stdout, "  %-16s %-10s %-14s %s\n", n, cc.Type, orDash(cc.Schedule), cc.BaseURL)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs, path := flags("run", "leadsync run --config FILE: the daemon, until SIGTERM or SIGINT.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, eng, st, err := openEngine(*path, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *c.Listen != "" {
		ln, err := net.Listen("tcp", *c.Listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", *c.Listen, err)
		}
		srv := &http.Server{Handler: eng.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
	}
	return eng.Run(ctx)
}

func cmdOnce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("once", "leadsync once --config FILE [--connector NAME]: every source instance (or one) runs once,\nthe outbox drains, a summary prints. Exit 0 when every run completed (even with DLQ entries).", stderr)
	only := fs.String("connector", "", "run only this source instance")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, eng, st, err := openEngine(*path, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sum, err := eng.Once(ctx, *only, progressPrinter(stdout))
	printSummary(stdout, sum, st)
	return err
}

func progressPrinter(w io.Writer) lsync.Progress {
	tty := isTerminal(w)
	return func(inst string, pages int, s lsync.StageStats) {
		if tty {
			fmt.Fprintf(w, "\r%-16s pages %-5d records %-7d changed %-7d", inst, pages, s.Records, s.Changed)
			return
		}
		fmt.Fprintf(w, "progress %s: page %d, records %d, changed %d\n", inst, pages, s.Records, s.Changed)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func printSummary(w io.Writer, sum lsync.Summary, st *state.Store) {
	if isTerminal(w) {
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tRESULT\tPAGES\tRECORDS\tCHANGED\tUNCHANGED\tPROBLEMS\tDURATION")
	for _, r := range sum.Runs {
		res := "ok"
		if r.Err != nil {
			res = "error: " + oneLine(r.Err.Error())
			if len(res) > 100 {
				res = res[:100] + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Instance, res, r.Pages, r.Stats.Records, r.Stats.Changed, r.Stats.Unchanged, r.Problems, r.Duration.Round(time.Millisecond))
	}
	tw.Flush()
	p := sum.Push
	fmt.Fprintf(w, "pushed: %d created, %d adopted, %d updated, %d notes, %d to the DLQ, %d still pending\n",
		p.Created, p.Adopted, p.Updated, p.Notes, p.DLQ, sum.Pending)
	_ = st.View(func(tx *state.Tx) error {
		fmt.Fprintf(w, "store: %d persons, outbox %d, DLQ %d\n", tx.Counts()["persons"], tx.OutboxDepth(), tx.DLQDepth())
		return nil
	})
}

func cmdHealthcheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := flags("healthcheck", "leadsync healthcheck [--url URL]: exits 0 when the daemon's /readyz answers 200.", stderr)
	u := fs.String("url", "http://"+config.DefaultListen+"/readyz", "readiness URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get(*u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %d %s", *u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	fmt.Fprint(stdout, string(b))
	return nil
}

func cmdDLQ(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return &exitError{2, errors.New("usage: leadsync dlq list|replay|drop --config FILE [--connector NAME] [--reason TEXT] [ID...]")}
	}
	sub := args[0]
	fs, path := flags("dlq "+sub, "leadsync dlq list|replay|drop --config FILE [filters] [ID...]: the dead-letter queue.\nlist prints one line per entry: id, emails, phones, source ids and the CRM's reason.", stderr)
	source := fs.String("connector", "", "only entries with a record from this instance")
	reason := fs.String("reason", "", "only entries whose reason contains this text")
	all := fs.Bool("all", false, "with drop: drop every (filtered) entry")
	ids, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	var entries []state.DLQEntry
	if err := st.View(func(tx *state.Tx) error {
		all, err := tx.DLQ()
		for _, e := range all {
			if matchDLQ(e, *source, *reason, ids) {
				entries = append(entries, e)
			}
		}
		return err
	}); err != nil {
		return err
	}
	switch sub {
	case "list":
		for _, e := range entries {
			fmt.Fprintf(stdout, "%s\temail=%s\tphone=%s\tsources=%s\treason=%s\n", e.ID,
				strings.Join(e.Emails, ","), strings.Join(e.Phones, ","), strings.Join(e.Sources, ","), oneLine(e.Reason))
		}
		if len(entries) == 0 {
			fmt.Fprintln(stderr, "DLQ is empty")
		}
		return nil
	case "replay":
		ids := idsOf(entries)
		if len(ids) == 0 {
			fmt.Fprintln(stdout, "nothing to replay")
			return nil
		}
		n, err := lsync.ReplayDLQ(st, ids, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d entries back in the outbox; they are pushed at the next run (or: leadsync once)\n", n)
		return nil
	case "drop":
		if len(ids) == 0 && !*all {
			return &exitError{2, errors.New("drop needs IDs, or --all to drop every (filtered) entry")}
		}
		err := st.Update(func(tx *state.Tx) error {
			for _, e := range entries {
				if err := tx.DeleteDLQ(e.ID); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			fmt.Fprintf(stdout, "%d entries dropped\n", len(entries))
		}
		return err
	}
	return &exitError{2, fmt.Errorf("unknown dlq command %q (list, replay, drop)", sub)}
}

func matchDLQ(e state.DLQEntry, source, reason string, ids []string) bool {
	if len(ids) > 0 {
		found := false
		for _, id := range ids {
			found = found || id == e.ID
		}
		if !found {
			return false
		}
	}
	if reason != "" && !strings.Contains(strings.ToLower(e.Reason), strings.ToLower(reason)) {
		return false
	}
	if source != "" {
		for _, s := range e.Sources {
			if strings.HasPrefix(s, source+":") {
				return true
			}
		}
		return false
	}
	return true
}

func idsOf(es []state.DLQEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}
