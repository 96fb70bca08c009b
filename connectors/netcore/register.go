// Package netcore is the source connector for Netcore Cloud's Bot Open API
// 1.0.0: bot users (WhatsApp, web chat, Telegram, ...) become lead records,
// their transcripts become conversations, and the monthly bot usage becomes
// two gauges.
package netcore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadsync/leadsync/connectors"
)

func init() {
	connectors.Register(connectors.Type{Name: "netcore", Check: check, NewSource: NewSource})
}

// Option defaults.
const (
	defaultWindow             = 7 * 24 * time.Hour
	defaultPageSize           = 100
	defaultTranscriptPageSize = 100
	maxPageSize               = 1000
	minTranscriptPageSize     = 25 // the service's own bounds on transcripts' limit
	maxTranscriptPageSize     = 1000
)

// rawOptions are the instance's type-specific keys as configured.
type rawOptions struct {
	// Channels are the channel ids whose users are read (default: 1010, 1014,
	// 1016, 1017, 1021).
	Channels []int `yaml:"channels"`
	// Window is the span of last-interaction dates one users query covers: a
	// Go duration ("168h") or whole days ("7d").
	Window string `yaml:"window"`
	// PageSize is the users endpoint's limit.
	PageSize int `yaml:"page_size"`
	// TranscriptPageSize is the transcripts endpoint's limit (25..1000).
	TranscriptPageSize int `yaml:"transcript_page_size"`
}

// options are rawOptions checked and defaulted.
type options struct {
	Channels           []int
	Window             time.Duration
	PageSize           int
	TranscriptPageSize int
}

func check(in *connectors.Instance) error {
	if err := in.RequireAuth("app_id", "app_secret"); err != nil {
		return err
	}
	_, err := parseOptions(in)
	return err
}

func parseOptions(in *connectors.Instance) (options, error) {
	var raw rawOptions
	if err := in.DecodeOptions(&raw); err != nil {
		return options{}, err
	}
	key := func(k string) string { return "connectors." + in.Name + "." + k }
	o := options{
		Channels:           raw.Channels,
		Window:             defaultWindow,
		PageSize:           raw.PageSize,
		TranscriptPageSize: raw.TranscriptPageSize,
	}
	if _, set := in.Options["channels"]; set && len(raw.Channels) == 0 {
		return options{}, fmt.Errorf("%s: empty; leave it out to read channels %v", key("channels"), defaultChannels)
	}
	if len(o.Channels) == 0 {
		o.Channels = slices.Clone(defaultChannels)
	}
	seen := map[int]bool{}
	for _, id := range o.Channels {
		if _, ok := channelNames[id]; !ok {
			return options{}, fmt.Errorf("%s: unknown channel id %d (known: %v)", key("channels"), id, knownChannelIDs())
		}
		if seen[id] {
			return options{}, fmt.Errorf("%s: channel id %d listed twice", key("channels"), id)
		}
		seen[id] = true
	}
	if raw.Window != "" {
		d, err := parseWindow(raw.Window)
		if err != nil {
			return options{}, fmt.Errorf("%s: %w", key("window"), err)
		}
		o.Window = d
	}
	switch {
	case o.PageSize == 0:
		o.PageSize = defaultPageSize
	case o.PageSize < 1 || o.PageSize > maxPageSize:
		return options{}, fmt.Errorf("%s: %d is outside 1..%d", key("page_size"), o.PageSize, maxPageSize)
	}
	switch {
	case o.TranscriptPageSize == 0:
		o.TranscriptPageSize = defaultTranscriptPageSize
	case o.TranscriptPageSize < minTranscriptPageSize || o.TranscriptPageSize > maxTranscriptPageSize:
		return options{}, fmt.Errorf("%s: %d is outside %d..%d (the service refuses other limits)",
			key("transcript_page_size"), o.TranscriptPageSize, minTranscriptPageSize, maxTranscriptPageSize)
	}
	return o, nil
}

// parseWindow reads a Go duration or a whole number of days ("7d"). A window
// under a minute would make thousands of queries for nothing.
func parseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (\"168h\" or \"7d\")", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration (\"168h\" or \"7d\")", s)
		}
	}
	if d < time.Minute {
		return 0, fmt.Errorf("%q is shorter than a minute", s)
	}
	return d, nil
}
