package config_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/leadsync/leadsync/connectors"
	_ "github.com/leadsync/leadsync/connectors/all"
)

// The configuration reference in README.md and config.example.yaml must
// name the same keys: a key added to one and forgotten in the other fails
// here. Keys are dotted paths: global ones from the top ("push.interval"),
// connector ones from the instance ("rate_limit.rps", "auth.token").

// freeForm are mappings whose keys are data (instance names, vendor status
// words), not settings.
var freeForm = []string{"source_map", "status_map"}

// example is what config.example.yaml names.
type example struct {
	global map[string]bool // every global path, mappings included
	leaves []string        // global paths the reference must document
	// perType holds, per connector type, every path its instances use.
	perType map[string]map[string]bool
	// commented are connector keys the file documents only in its comments
	// ("Keys every instance has"), and, per type, the auth keys its auth
	// comment names as alternatives ("token, or email + password").
	commented     map[string]bool
	authCommented map[string]map[string]bool
}

func readExample(t *testing.T) example {
	t.Helper()
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	ex := example{global: map[string]bool{}, perType: map[string]map[string]bool{},
		commented: map[string]bool{}, authCommented: map[string]map[string]bool{}}
	doc := root.Content[0]
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if k.Value == "connectors" {
			ex.readConnectors(t, v)
			continue
		}
		walk(k.Value, v, func(path string, leaf bool) {
			ex.global[path] = true
			if leaf {
				ex.leaves = append(ex.leaves, path)
			}
		})
	}
	// The "Keys every instance has" block: "#   timezone        zone of ...".
	_, conns, _ := strings.Cut(string(raw), "\nconnectors:")
	for _, m := range regexp.MustCompile(`(?m)^\s*#\s+([a-z][a-z_]*)\s{2,}\S`).FindAllStringSubmatch(conns, -1) {
		ex.commented[m[1]] = true
	}
	return ex
}

func (ex *example) readConnectors(t *testing.T, conns *yaml.Node) {
	for j := 0; j+1 < len(conns.Content); j += 2 {
		body := conns.Content[j+1]
		typ := ""
		for k := 0; k+1 < len(body.Content); k += 2 {
			if body.Content[k].Value == "type" {
				typ = body.Content[k+1].Value
			}
		}
		if typ == "" {
			t.Fatalf("config.example.yaml: connector %s has no type", conns.Content[j].Value)
		}
		if ex.perType[typ] == nil {
			ex.perType[typ] = map[string]bool{}
			ex.authCommented[typ] = map[string]bool{}
		}
		for k := 0; k+1 < len(body.Content); k += 2 {
			key, val := body.Content[k], body.Content[k+1]
			walk(key.Value, val, func(path string, _ bool) { ex.perType[typ][path] = true })
			if key.Value == "auth" {
				for _, w := range regexp.MustCompile(`[a-z_]+`).FindAllString(key.LineComment+val.LineComment, -1) {
					ex.authCommented[typ][w] = true
				}
			}
		}
	}
}

// walk calls f for path and every path below it; leaf is true where the
// reference must have a row: scalars, lists and free-form mappings.
func walk(path string, n *yaml.Node, f func(path string, leaf bool)) {
	last := path[strings.LastIndex(path, ".")+1:]
	if n.Kind != yaml.MappingNode || slices.Contains(freeForm, last) {
		f(path, true)
		return
	}
	f(path, false)
	for i := 0; i+1 < len(n.Content); i += 2 {
		walk(path+"."+n.Content[i].Value, n.Content[i+1], f)
	}
}

// reference is README's "Configuration reference": the keys of each
// subsection's table (first column, in backticks).
type reference struct {
	global, common []string
	perType        map[string][]string
}

func readReference(t *testing.T) reference {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "\n## Configuration reference\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration reference" section`)
	}
	if end := strings.Index(sec, "\n## "); end >= 0 {
		sec = sec[:end]
	}
	ref := reference{perType: map[string][]string{}}
	section := "" // "global", "common" or a connector type
	heading := regexp.MustCompile("^### (.*)$")
	typeName := regexp.MustCompile("`([a-z]+)`")
	row := regexp.MustCompile("^\\| `([^`]+)`")
	for _, line := range strings.Split(sec, "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			switch h := m[1]; {
			case strings.HasPrefix(h, "Global"):
				section = "global"
			case strings.HasPrefix(h, "Every connector"):
				section = "common"
			default:
				tm := typeName.FindStringSubmatch(h)
				if tm == nil {
					t.Fatalf("README reference heading %q: neither Global, Every connector, nor a `type`", h)
				}
				section = tm[1]
				if ref.perType[section] == nil {
					ref.perType[section] = []string{} // the type has a table, even an empty one
				}
			}
			continue
		}
		m := row.FindStringSubmatch(line)
		switch {
		case m == nil || section == "":
		case section == "global":
			ref.global = append(ref.global, m[1])
		case section == "common":
			ref.common = append(ref.common, m[1])
		default:
			ref.perType[section] = append(ref.perType[section], m[1])
		}
	}
	return ref
}

func TestReadmeReferenceDocumentsEveryExampleKey(t *testing.T) {
	ex, ref := readExample(t), readReference(t)
	if len(ref.global) == 0 || len(ref.common) == 0 {
		t.Fatalf("README reference: %d global and %d connector keys; the tables were not found", len(ref.global), len(ref.common))
	}
	for _, k := range ex.leaves {
		if !slices.Contains(ref.global, k) {
			t.Errorf("config.example.yaml has %s; README's Global table does not", k)
		}
	}
	for typ, paths := range ex.perType {
		for p := range paths {
			if !ex.leaf(typ, p) {
				continue
			}
			if !slices.Contains(ref.common, p) && !slices.Contains(ref.perType[typ], p) {
				t.Errorf("config.example.yaml has %s on a %s instance; README documents it neither for every connector nor under `%s`", p, typ, typ)
			}
		}
	}
	for k := range ex.commented {
		documented := slices.ContainsFunc(ref.common, func(r string) bool { return r == k || strings.HasPrefix(r, k+".") })
		if !documented {
			t.Errorf("config.example.yaml lists %s among the keys every instance has; README's connector table does not", k)
		}
	}
}

// leaf reports whether p, used on a typ instance, needs its own row.
func (ex *example) leaf(typ, p string) bool {
	for q := range ex.perType[typ] {
		if strings.HasPrefix(q, p+".") {
			return false
		}
	}
	return true
}

func TestReadmeReferenceNamesOnlyExampleKeys(t *testing.T) {
	ex, ref := readExample(t), readReference(t)
	for _, k := range ref.global {
		if !ex.global[k] {
			t.Errorf("README's Global table has %s; config.example.yaml does not", k)
		}
	}
	for _, k := range ref.common {
		used := ex.commented[k]
		for _, paths := range ex.perType {
			used = used || paths[k]
		}
		if !used {
			t.Errorf("README's connector table has %s; no instance of config.example.yaml uses it, nor does its comment on the keys every instance has", k)
		}
	}
	types := connectors.Types()
	for typ, keys := range ref.perType {
		if !slices.Contains(types, typ) {
			t.Errorf("README's reference has a section for `%s`, which is not a connector type (%v)", typ, types)
			continue
		}
		for _, k := range keys {
			auth, isAuth := strings.CutPrefix(k, "auth.")
			if ex.perType[typ][k] || isAuth && ex.authCommented[typ][auth] {
				continue
			}
			t.Errorf("README documents %s for `%s`; config.example.yaml's %s instance neither uses it nor names it in its auth comment", k, typ, typ)
		}
	}
	for _, typ := range types {
		if _, ok := ref.perType[typ]; !ok {
			t.Errorf("connector type %s has no section in README's reference", typ)
		}
		if ex.perType[typ] == nil {
			t.Errorf("config.example.yaml has no %s instance", typ)
		}
	}
}
