// Package grafana holds the leadsync dashboard; its test checks that every
// metric the dashboard queries is one leadsync exports, so a renamed metric
// cannot leave a panel silently empty.
package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	lsync "github.com/leadsync/leadsync/sync"
)

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("leadsync-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("leadsync-dashboard.json: %v", err)
	}
	return d
}

// flatten lists every panel, rows' nested panels included.
func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// exported are the metric names leadsync serves: the names declared in
// sync/metrics.go (vectors appear in a scrape only once a label set was
// used, so the source is read rather than a fresh registry), plus what the
// Go and process collectors on NewMetrics's registry export.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("../../sync/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name:\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`).FindAllSubmatch(src, -1) {
		names[string(m[1])] = true
	}
	mfs, err := lsync.NewMetrics("crm").Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if len(names) < 20 || !names["leadsync_outbox_depth"] {
		t.Fatalf("found only %d metric names; has sync/metrics.go changed its form?", len(names))
	}
	return names
}

var (
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// labelSets are the parts of PromQL that hold label names, strings and
	// ranges, not series names: matchers, grouping clauses, quoted text.
	labelSets = regexp.MustCompile(`\{[^}]*\}|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|"[^"]*"|\[[^\]]*\]`)
	keywords  = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// referenced returns the metric names an expression reads: identifiers
// that are neither keywords nor functions (followed by "(").
func referenced(expr string) []string {
	expr = labelSets.ReplaceAllString(expr, " ")
	var out []string
	for _, loc := range identifier.FindAllStringIndex(expr, -1) {
		name := expr[loc[0]:loc[1]]
		if slices.Contains(keywords, strings.ToLower(name)) {
			continue
		}
		if rest := strings.TrimLeft(expr[loc[1]:], " "); strings.HasPrefix(rest, "(") {
			continue // a function or aggregation
		}
		if loc[0] > 0 && (expr[loc[0]-1] >= '0' && expr[loc[0]-1] <= '9' || expr[loc[0]-1] == '.') {
			continue // the tail of a number such as 1e3
		}
		out = append(out, name)
	}
	return out
}

func TestEveryQueriedMetricIsExported(t *testing.T) {
	d := load(t)
	names := exported(t)
	known := func(n string) bool {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suffix); ok && names[base] {
				return true
			}
		}
		return false
	}
	check := func(where, expr string) {
		refs := referenced(expr)
		if len(refs) == 0 {
			t.Errorf("%s: %q reads no metric", where, expr)
		}
		for _, n := range refs {
			if !known(n) {
				t.Errorf("%s: %q is not a metric leadsync exports (in %q)", where, n, expr)
			}
		}
	}
	for _, p := range flatten(d.Panels) {
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			inner := strings.TrimSuffix(strings.TrimPrefix(v.Definition, "label_values("), ")")
			metric, _, _ := strings.Cut(inner, ",")
			check("variable "+v.Name, metric)
		}
	}
}

// TestEveryOperatorMetricHasAPanel keeps the dashboard complete: the
// metrics an operator watches (README's Operations list) each appear.
func TestEveryOperatorMetricHasAPanel(t *testing.T) {
	d := load(t)
	used := map[string]bool{}
	for _, p := range flatten(d.Panels) {
		for _, tg := range p.Targets {
			for _, n := range referenced(tg.Expr) {
				used[strings.TrimSuffix(n, "_bucket")] = true
			}
		}
	}
	for _, n := range []string{
		"leadsync_source_runs_total", "leadsync_source_records_total", "leadsync_source_last_success_timestamp_seconds",
		"leadsync_source_runs_skipped_total", "leadsync_http_requests_total", "leadsync_http_retries_total",
		"leadsync_http_throttled_total", "leadsync_rate_limit_wait_seconds_total", "leadsync_outbox_depth",
		"leadsync_dlq_depth", "leadsync_pushes_total", "leadsync_crm_request_duration_seconds",
		"leadsync_merge_conflicts_total", "leadsync_source_pages_total", "leadsync_source_pages_restaged_total",
	} {
		if !used[n] {
			t.Errorf("no panel queries %s", n)
		}
	}
}

func TestPanelsAreWellFormed(t *testing.T) {
	d := load(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q title %q: both are needed for provisioning", d.UID, d.Title)
	}
	var ids []int
	for _, p := range flatten(d.Panels) {
		ids = append(ids, p.ID)
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource must be the ${datasource} variable, so the dashboard imports anywhere", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("panel ids are not unique: %v", ids)
	}
}

func TestReferencedFindsSeriesNotFunctionsOrLabels(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.95, sum by (le, method) (rate(leadsync_crm_request_duration_seconds_bucket{instance=~"$instance"}[5m])))`: {"leadsync_crm_request_duration_seconds_bucket"},
		`time() - leadsync_source_last_success_timestamp_seconds{connector=~"$connector"}`:                                              {"leadsync_source_last_success_timestamp_seconds"},
		`sum(increase(leadsync_merge_conflicts_total[1h])) or vector(0)`:                                                                {"leadsync_merge_conflicts_total"},
		`sum by (result) (increase(leadsync_pushes_total[$__rate_interval]))`:                                                           {"leadsync_pushes_total"},
	} {
		if got := referenced(expr); !slices.Equal(got, want) {
			t.Errorf("referenced(%q) = %v, want %v", expr, got, want)
		}
	}
}
