package connectors

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/leadsync/leadsync/connectors/httpapi"
)

// Instance is one configured connector instance, as the engine hands it to a
// connector type's constructors. The configuration loader has already
// expanded ${VAR}s, read *_FILE secrets and applied defaults.
type Instance struct {
	Name    string
	Type    string
	BaseURL string
	// Region is the ISO country used for phones written without a country code.
	Region string
	// Location is the zone of vendor timestamps that carry no offset (UTC by default).
	Location *time.Location
	// Backfill is how far back a source with no cursor reads, where the vendor filters by date.
	Backfill time.Duration
	// Overlap is how far before its cursor a source starts reading again, to
	// catch records the vendor indexed late.
	Overlap time.Duration
	// Auth holds the credentials by key ("token", "email", "password", ...).
	Auth map[string]string
	// RPS and Burst configure the instance's own rate limiter.
	RPS   float64
	Burst int
	// Timeout bounds one HTTP attempt; MaxBody bounds one response body.
	Timeout time.Duration
	MaxBody int64
	// Options holds the type-specific keys of the instance (channels, bot_id,
	// source_map, ...); decode them with DecodeOptions.
	Options map[string]any
	// ScratchDir is a directory the instance may write temporary files in
	// (the state file's); "" means os.TempDir.
	ScratchDir string
	// IsTarget is true for the instance named by the top-level "target" key.
	IsTarget bool
	// Instances names every configured instance (for options such as source_map).
	Instances []string

	Logger   *slog.Logger
	Observer httpapi.Observer
	Metrics  Metrics
	Clock    func() time.Time // nil: time.Now
}

// DecodeOptions decodes the instance's type-specific keys into v, a pointer to
// a struct with yaml tags. An unknown key is an error that names it.
func (in *Instance) DecodeOptions(v any) error {
	if len(in.Options) == 0 {
		return nil
	}
	b, err := yaml.Marshal(in.Options)
	if err != nil {
		return fmt.Errorf("connectors.%s: %w", in.Name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("connectors.%s: %w", in.Name, err)
	}
	return nil
}

// RequireAuth checks that every key has a non-empty value. The error names the
// missing keys, never a value.
func (in *Instance) RequireAuth(keys ...string) error {
	var missing []string
	for _, k := range keys {
		if in.Auth[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("connectors.%s.auth: missing %v", in.Name, missing)
	}
	return nil
}

// Now is the instance's clock.
func (in *Instance) Now() time.Time {
	if in.Clock != nil {
		return in.Clock()
	}
	return time.Now()
}

// HTTP builds the instance's HTTP client: its base URL, its rate limiter,
// retries, body limit, timeouts, and auth. Every credential value is
// registered for redaction.
func (in *Instance) HTTP(auth httpapi.Authenticator) (*httpapi.Client, error) {
	secrets := make([]string, 0, len(in.Auth))
	for _, v := range in.Auth {
		secrets = append(secrets, v)
	}
	return httpapi.New(httpapi.Config{
		Name:     in.Name,
		BaseURL:  in.BaseURL,
		RPS:      in.RPS,
		Burst:    in.Burst,
		Timeout:  in.Timeout,
		MaxBody:  in.MaxBody,
		Auth:     auth,
		Secrets:  secrets,
		Logger:   in.Logger,
		Observer: in.Observer,
	})
}

// Type is a connector type: what the registry knows of one vendor.
type Type struct {
	Name string
	// Check validates an instance's auth and options without touching the network.
	Check func(in *Instance) error
	// NewSource builds the instance's source role; nil when the type cannot be a source.
	NewSource func(in *Instance) (Source, error)
	// NewTarget builds the instance's target role; nil when the type cannot be a target.
	NewTarget func(in *Instance) (Target, error)
}

var (
	mu    sync.RWMutex
	types = map[string]Type{}
)

// Register adds a connector type; vendor packages call it from init, and
// connectors/all imports every vendor package.
func Register(t Type) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := types[t.Name]; dup {
		panic("connectors: type registered twice: " + t.Name)
	}
	types[t.Name] = t
}

// Lookup returns the registered type called name.
func Lookup(name string) (Type, bool) {
	mu.RLock()
	defer mu.RUnlock()
	t, ok := types[name]
	return t, ok
}

// Types lists the registered type names, sorted.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(types))
	for n := range types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
