// Package config loads leadsync's YAML configuration: ${VAR} expansion,
// *_FILE secrets, LEADSYNC_* environment overrides of the global settings,
// defaults, and validation that names the key and the problem.
package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/robfig/cron/v3"
	"github.com/sethvargo/go-envconfig"
	"gopkg.in/yaml.v3"

	"github.com/leadsync/leadsync/connectors"
)

// Config is the whole configuration.
type Config struct {
	State           State                `yaml:"state"`
	Listen          *string              `yaml:"listen"`
	DefaultRegion   string               `yaml:"default_region"`
	Target          string               `yaml:"target"`
	Log             Log                  `yaml:"log"`
	Push            Push                 `yaml:"push"`
	Merge           Merge                `yaml:"merge"`
	ShutdownTimeout Duration             `yaml:"shutdown_timeout"`
	Connectors      map[string]Connector `yaml:"connectors"`

	// Order lists connector names in the order the file wrote them.
	Order []string `yaml:"-"`
}

// State configures the store.
type State struct {
	Path        string   `yaml:"path"`
	LockTimeout Duration `yaml:"lock_timeout"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto (tint on a terminal, JSON otherwise), json, text
}

// Push configures the pusher.
type Push struct {
	Concurrency int      `yaml:"concurrency"`
	MaxBackoff  Duration `yaml:"max_backoff"`
	// Interval is how often the daemon retries outbox entries waiting on a backoff.
	Interval Duration `yaml:"interval"`
	// OnceAttempts is how many times `once` tries a transiently failing push before giving up.
	OnceAttempts int `yaml:"once_attempts"`
}

// Merge configures survivorship.
type Merge struct {
	Priority []string `yaml:"priority"`
}

// Connector is one instance's configuration.
type Connector struct {
	Type          string            `yaml:"type"`
	BaseURL       string            `yaml:"base_url"`
	Schedule      string            `yaml:"schedule"`
	RateLimit     RateLimit         `yaml:"rate_limit"`
	DefaultRegion string            `yaml:"default_region"`
	Timezone      string            `yaml:"timezone"`
	Backfill      Duration          `yaml:"backfill"`
	Overlap       Duration          `yaml:"overlap"`
	Timeout       Duration          `yaml:"timeout"`
	MaxBody       int64             `yaml:"max_body_bytes"`
	Auth          map[string]string `yaml:"auth"`
	// Options are the type-specific keys (channels, bot_id, source_map, ...).
	Options map[string]any `yaml:"-"`
}

// RateLimit is a token bucket.
type RateLimit struct {
	RPS   float64 `yaml:"rps"`
	Burst int     `yaml:"burst"`
}

// Duration reads "90s", "5m", "36h" and "90d".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration is time.ParseDuration plus a "d" (24h) suffix.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q (use 90s, 5m, 36h or 90d)", s)
	}
	return d, nil
}

// commonKeys are the connector keys every type shares; the rest are options.
var commonKeys = []string{"type", "base_url", "schedule", "rate_limit", "default_region", "timezone", "backfill", "overlap", "timeout", "max_body_bytes", "auth"}

// Load reads, expands, overrides, defaults and validates a configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(b, os.LookupEnv)
}

// Parse is Load on bytes, with lookup standing for the environment.
func Parse(b []byte, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(root.Content) == 0 {
		return nil, errors.New("config: empty file")
	}
	if err := expand(&root, lookup); err != nil {
		return nil, err
	}
	var c Config
	if err := decodeStrict(&root, &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.readSecretFiles(); err != nil {
		return nil, err
	}
	if err := c.applyEnv(lookup); err != nil {
		return nil, err
	}
	c.defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeStrict decodes with unknown keys refused, except under a
// connector (whose type-specific keys are checked by the type itself).
func decodeStrict(root *yaml.Node, c *Config) error {
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return errors.New("the top level must be a mapping")
	}
	clone := *doc
	clone.Content = nil
	var conns *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "connectors" {
			conns = doc.Content[i+1]
			continue
		}
		clone.Content = append(clone.Content, doc.Content[i], doc.Content[i+1])
	}
	if err := decodeKnown(&clone, c); err != nil {
		return err
	}
	if conns == nil {
		return nil
	}
	if conns.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: connectors must be a mapping of instance names", conns.Line)
	}
	c.Connectors = map[string]Connector{}
	for i := 0; i+1 < len(conns.Content); i += 2 {
		name, body := conns.Content[i].Value, conns.Content[i+1]
		if _, dup := c.Connectors[name]; dup {
			return fmt.Errorf("connectors.%s: defined twice", name)
		}
		// The shared keys decode into Connector; the rest are the type's
		// options, which its Check decodes strictly.
		common := *body
		common.Content = nil
		opts := map[string]any{}
		for j := 0; j+1 < len(body.Content); j += 2 {
			key, val := body.Content[j].Value, body.Content[j+1]
			if slices.Contains(commonKeys, key) {
				common.Content = append(common.Content, body.Content[j], val)
				continue
			}
			var v any
			if err := val.Decode(&v); err != nil {
				return fmt.Errorf("connectors.%s.%s: %w", name, key, err)
			}
			opts[key] = v
		}
		var cc Connector
		if err := common.Decode(&cc); err != nil {
			return fmt.Errorf("connectors.%s: %w", name, err)
		}
		cc.Options = opts
		c.Connectors[name] = cc
		c.Order = append(c.Order, name)
	}
	return nil
}

func decodeKnown(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// expand replaces ${VAR} in every scalar. An unset variable is an error
// naming it; VAR_FILE, when set, names a file whose content stands for VAR;
// "$$" is a literal "$".
func expand(n *yaml.Node, lookup func(string) (string, bool)) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
		v, err := ExpandString(n.Value, lookup)
		if err != nil {
			return fmt.Errorf("config line %d: %w", n.Line, err)
		}
		n.Value = v
	}
	for _, c := range n.Content {
		if err := expand(c, lookup); err != nil {
			return err
		}
	}
	return nil
}

// ExpandString expands ${VAR} references in s.
func ExpandString(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		name := s[i+2 : i+end]
		if name == "" {
			return "", errors.New("empty ${} reference")
		}
		v, ok := lookup(name)
		if !ok {
			f, fok := lookup(name + "_FILE")
			if !fok {
				return "", fmt.Errorf("environment variable %s is not set (nor %s_FILE)", name, name)
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("%s_FILE: %w", name, err)
			}
			v = strings.TrimRight(string(raw), "\r\n")
		}
		b.WriteString(v)
		i += end
	}
	return b.String(), nil
}

// readSecretFiles turns auth keys "x_file: PATH" into "x: <file content>".
func (c *Config) readSecretFiles() error {
	for name, cc := range c.Connectors {
		for k, v := range cc.Auth {
			if !strings.HasSuffix(k, "_file") {
				continue
			}
			raw, err := os.ReadFile(v)
			if err != nil {
				return fmt.Errorf("connectors.%s.auth.%s: %w", name, k, err)
			}
			delete(cc.Auth, k)
			cc.Auth[strings.TrimSuffix(k, "_file")] = strings.TrimRight(string(raw), "\r\n")
		}
	}
	return nil
}

// envOverrides are the LEADSYNC_* variables that override global settings.
type envOverrides struct {
	StatePath       *string `env:"STATE_PATH, noinit"`
	Listen          *string `env:"LISTEN, noinit"`
	DefaultRegion   *string `env:"DEFAULT_REGION, noinit"`
	Target          *string `env:"TARGET, noinit"`
	LogLevel        *string `env:"LOG_LEVEL, noinit"`
	LogFormat       *string `env:"LOG_FORMAT, noinit"`
	PushConcurrency *int    `env:"PUSH_CONCURRENCY, noinit"`
}

func (c *Config) applyEnv(lookup func(string) (string, bool)) error {
	var o envOverrides
	l := envconfig.PrefixLookuper("LEADSYNC_", envconfig.LookuperFunc(lookup))
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &o, Lookuper: l}); err != nil {
		return fmt.Errorf("LEADSYNC_* environment: %w", err)
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.State.Path, o.StatePath)
	if o.Listen != nil {
		c.Listen = o.Listen
	}
	set(&c.DefaultRegion, o.DefaultRegion)
	set(&c.Target, o.Target)
	set(&c.Log.Level, o.LogLevel)
	set(&c.Log.Format, o.LogFormat)
	if o.PushConcurrency != nil {
		c.Push.Concurrency = *o.PushConcurrency
	}
	return nil
}

// DefaultListen is the metrics and health address when "listen" is absent.
const DefaultListen = "127.0.0.1:9464"

func (c *Config) defaults() {
	if c.State.Path == "" {
		c.State.Path = "./leadsync.db"
	}
	if c.State.LockTimeout == 0 {
		c.State.LockTimeout = Duration(time.Second)
	}
	if c.Listen == nil {
		l := DefaultListen
		c.Listen = &l
	}
	if c.DefaultRegion == "" {
		c.DefaultRegion = "TN"
	}
	c.DefaultRegion = strings.ToUpper(c.DefaultRegion)
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	if c.Push.Concurrency == 0 {
		c.Push.Concurrency = 4
	}
	if c.Push.MaxBackoff == 0 {
		c.Push.MaxBackoff = Duration(10 * time.Minute)
	}
	if c.Push.Interval == 0 {
		c.Push.Interval = Duration(30 * time.Second)
	}
	if c.Push.OnceAttempts == 0 {
		c.Push.OnceAttempts = 5
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(20 * time.Second)
	}
	for name, cc := range c.Connectors {
		if cc.Backfill == 0 {
			cc.Backfill = Duration(90 * 24 * time.Hour)
		}
		if cc.DefaultRegion == "" {
			cc.DefaultRegion = c.DefaultRegion
		}
		cc.DefaultRegion = strings.ToUpper(cc.DefaultRegion)
		c.Connectors[name] = cc
	}
}

// CronParser is the schedule syntax: 5 fields, descriptors, @every.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a schedule, turning robfig/cron's panics on some
// inputs (such as "TZ=UTC") into errors.
func ParseSchedule(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("bad cron spec %q: %v", spec, r)
		}
	}()
	s, err = CronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("bad cron spec %q: %w", spec, err)
	}
	return s, nil
}

var validLevels = []string{"debug", "info", "warn", "error"}
var validFormats = []string{"auto", "json", "text"}

// Validate checks everything that can be checked without the network, and
// reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !validRegion(c.DefaultRegion) {
		bad("default_region: %q is not a region phone numbers know (use an ISO code such as TN, FR)", c.DefaultRegion)
	}
	if !slices.Contains(validLevels, c.Log.Level) {
		bad("log.level: %q is not one of %v", c.Log.Level, validLevels)
	}
	if !slices.Contains(validFormats, c.Log.Format) {
		bad("log.format: %q is not one of %v", c.Log.Format, validFormats)
	}
	if c.Push.Concurrency < 1 || c.Push.Concurrency > 64 {
		bad("push.concurrency: %d is not within 1..64", c.Push.Concurrency)
	}
	if len(c.Connectors) == 0 {
		bad("connectors: none configured")
	}
	if c.Target == "" {
		bad("target: not set (name the connector instance that receives merged leads)")
	} else if cc, ok := c.Connectors[c.Target]; !ok {
		bad("target: %q is not a configured connector instance", c.Target)
	} else if t, ok := connectors.Lookup(cc.Type); ok && t.NewTarget == nil {
		bad("target: %q is of type %s, which cannot be a target", c.Target, cc.Type)
	}
	for _, p := range c.Merge.Priority {
		if _, ok := c.Connectors[p]; !ok {
			bad("merge.priority: %q is not a configured connector instance", p)
		}
	}
	for _, name := range c.Order {
		errs = append(errs, c.validateConnector(name)...)
	}
	return errors.Join(errs...)
}

func validRegion(r string) bool {
	return len(r) == 2 && phonenumbers.GetCountryCodeForRegion(r) != 0
}

func (c *Config) validateConnector(name string) []error {
	cc := c.Connectors[name]
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("connectors.%s.%s: %s", name, key, fmt.Sprintf(format, a...)))
	}
	t, ok := connectors.Lookup(cc.Type)
	if cc.Type == "" {
		bad("type", "missing (one of %v)", connectors.Types())
	} else if !ok {
		bad("type", "unknown type %q (one of %v)", cc.Type, connectors.Types())
	}
	if u, err := url.Parse(cc.BaseURL); cc.BaseURL == "" {
		bad("base_url", "missing")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "%q is not an http(s) URL", cc.BaseURL)
	}
	if cc.Schedule != "" {
		if _, err := ParseSchedule(cc.Schedule); err != nil {
			bad("schedule", "%v", err)
		}
	} else if name != c.Target {
		bad("schedule", "missing (a source needs one, e.g. \"@every 5m\")")
	}
	if cc.RateLimit.RPS < 0 || cc.RateLimit.Burst < 0 {
		bad("rate_limit", "rps and burst must not be negative")
	}
	if !validRegion(cc.DefaultRegion) {
		bad("default_region", "%q is not a region phone numbers know", cc.DefaultRegion)
	}
	if cc.Timezone != "" {
		if _, err := time.LoadLocation(cc.Timezone); err != nil {
			bad("timezone", "%v", err)
		}
	}
	if ok && t.Check != nil {
		in := c.Instance(name, nil)
		if err := t.Check(in); err != nil {
			errs = append(errs, err)
		}
	}
	if ok && name != c.Target && t.NewSource == nil {
		bad("type", "%s cannot be a source", cc.Type)
	}
	return errs
}

// Instance builds the runtime view of one connector instance; fill sets
// what the engine adds (logger, observer, metrics, clock).
func (c *Config) Instance(name string, fill func(*connectors.Instance)) *connectors.Instance {
	cc := c.Connectors[name]
	loc := time.UTC
	if cc.Timezone != "" {
		if l, err := time.LoadLocation(cc.Timezone); err == nil {
			loc = l
		}
	}
	in := &connectors.Instance{
		Name: name, Type: cc.Type, BaseURL: cc.BaseURL, Region: cc.DefaultRegion, Location: loc,
		Backfill: time.Duration(cc.Backfill), Overlap: time.Duration(cc.Overlap),
		Auth: cc.Auth, RPS: cc.RateLimit.RPS, Burst: cc.RateLimit.Burst,
		Timeout: time.Duration(cc.Timeout), MaxBody: cc.MaxBody, Options: cc.Options,
		IsTarget: name == c.Target, Instances: c.Order, Metrics: connectors.NopMetrics{},
	}
	if c.State.Path != "" {
		in.ScratchDir = filepath.Dir(c.State.Path)
	}
	if in.Auth == nil {
		in.Auth = map[string]string{}
	}
	if fill != nil {
		fill(in)
	}
	return in
}
