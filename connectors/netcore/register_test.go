package netcore

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors"
)

func TestRegisteredAsNetcoreSource(t *testing.T) {
	typ, ok := connectors.Lookup("netcore")
	if !ok || typ.NewSource == nil || typ.Check == nil || typ.NewTarget != nil {
		t.Fatalf("registry entry = %+v, %v", typ, ok)
	}
}

func TestCheckRequiresAppCredentials(t *testing.T) {
	in := &connectors.Instance{Name: "nc", Auth: map[string]string{"app_id": "x"}}
	err := check(in)
	if err == nil || !strings.Contains(err.Error(), "connectors.nc.auth: missing [app_secret]") {
		t.Errorf("err = %v", err)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]any
		want    options
		wantErr string
	}{
		{name: "defaults", want: options{Channels: []int{1010, 1014, 1016, 1017, 1021}, Window: 7 * 24 * time.Hour, PageSize: 100, TranscriptPageSize: 100}},
		{name: "everything set",
			opts: map[string]any{"channels": []any{1014}, "window": "36h", "page_size": 50, "transcript_page_size": 25},
			want: options{Channels: []int{1014}, Window: 36 * time.Hour, PageSize: 50, TranscriptPageSize: 25}},
		{name: "window in days", opts: map[string]any{"window": "3d"},
			want: options{Channels: []int{1010, 1014, 1016, 1017, 1021}, Window: 72 * time.Hour, PageSize: 100, TranscriptPageSize: 100}},
		{name: "unknown key", opts: map[string]any{"chanels": []any{1014}}, wantErr: "chanels"},
		{name: "unknown channel", opts: map[string]any{"channels": []any{1099}}, wantErr: "connectors.nc.channels: unknown channel id 1099"},
		{name: "duplicate channel", opts: map[string]any{"channels": []any{1014, 1014}}, wantErr: "listed twice"},
		{name: "empty channels", opts: map[string]any{"channels": []any{}}, wantErr: "connectors.nc.channels: empty"},
		{name: "bad window", opts: map[string]any{"window": "a week"}, wantErr: "connectors.nc.window"},
		{name: "tiny window", opts: map[string]any{"window": "5s"}, wantErr: "shorter than a minute"},
		{name: "page_size too big", opts: map[string]any{"page_size": 5000}, wantErr: "connectors.nc.page_size"},
		{name: "transcript_page_size under 25", opts: map[string]any{"transcript_page_size": 10}, wantErr: "connectors.nc.transcript_page_size: 10 is outside 25..1000"},
		{name: "transcript_page_size over 1000", opts: map[string]any{"transcript_page_size": 1001}, wantErr: "transcript_page_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &connectors.Instance{Name: "nc", Auth: map[string]string{"app_id": "x", "app_secret": "y"}, Options: tt.opts}
			got, err := parseOptions(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if check(in) == nil {
					t.Error("check accepted what parseOptions refused")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
		})
	}
}
