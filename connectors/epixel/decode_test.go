package epixel

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

func TestDecodeTokensAtTopLevelOrInData(t *testing.T) {
	for _, tc := range []struct {
		file        string
		wantRefresh bool
	}{
		{"login_toplevel.json", true},
		{"login_data.json", true},
		{"refresh_toplevel.json", false},
		{"refresh_data.json", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			access, refresh, err := decodeTokens(fixture.ReadTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(access, "eyJ") {
				t.Errorf("access = %q", access)
			}
			if (refresh != "") != tc.wantRefresh {
				t.Errorf("refresh = %q, want present=%v", refresh, tc.wantRefresh)
			}
		})
	}
}

func TestDecodeTokensWithoutAccessIsAnError(t *testing.T) {
	for _, body := range []string{`{"refresh":"x"}`, `{"status_code":200,"errors":{},"data":{}}`, `{"status_code":200,"data":null}`} {
		if _, _, err := decodeTokens([]byte(body)); err == nil {
			t.Errorf("decodeTokens(%s): no error", body)
		}
	}
}

func TestDecodeListBothShapes(t *testing.T) {
	for _, tc := range []struct {
		file      string
		paginated bool
		next      string
	}{
		{"list_paginated.json", true, "https://crm.example.com/api/v1/leads/list/?limit=2&offset=2"},
		{"list_bare.json", false, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			l, err := decodeList(fixture.ReadTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if l.Paginated != tc.paginated || l.Next != tc.next {
				t.Errorf("paginated=%v next=%q, want %v %q", l.Paginated, l.Next, tc.paginated, tc.next)
			}
			var slugs []string
			for _, raw := range l.Items {
				slugs = append(slugs, slugOf(raw))
			}
			if diff := cmp.Diff([]string{"amira-ben-salah-4f2a9c", "karim-trabelsi-77c1d0"}, slugs); diff != "" {
				t.Errorf("slugs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeListRefusesOtherShapes(t *testing.T) {
	for _, body := range []string{
		`{"status_code":200,"errors":{},"data":{"count":1}}`,
		`{"status_code":200,"errors":{},"data":"leads"}`,
		`{"status_code":200,"errors":{},"data":[{"slug":"a"},`,
	} {
		if _, err := decodeList([]byte(body)); err == nil {
			t.Errorf("decodeList(%s): no error", body)
		}
	}
}

func TestDecodeLeadReadsNumbersAndIgnoresOddFields(t *testing.T) {
	l, err := decodeList(fixture.ReadTestdata(t, "list_bare.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, probs, err := decodeLead(l.Items[1])
	if err != nil || len(probs) != 0 {
		t.Fatalf("err=%v problems=%v", err, probs)
	}
	want := apiLead{
		Slug: "karim-trabelsi-77c1d0", FirstName: "Karim", LastName: "Trabelsi", Email: "karim@example.org",
		Phone: "21698765432", Status: "contact", Source: "Facebook",
		CreatedAt: "2024-04-30 08:02:00", UpdatedAt: "2024-04-30T08:02:00+01:00",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lead (-want +got):\n%s", diff)
	}
}

func TestDecodeLeadKeepsTheLeadWhenOneFieldIsOdd(t *testing.T) {
	got, probs, err := decodeLead([]byte(`{"slug":"s-1","first_name":"Ann","email":["a@b.co"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Slug != "s-1" || got.FirstName != "Ann" || got.Email != "" {
		t.Errorf("lead = %+v", got)
	}
	if len(probs) != 1 || !strings.Contains(probs[0].Error(), "email") {
		t.Errorf("problems = %v, want one naming email", probs)
	}
}

func TestDecodeViewLeadNotes(t *testing.T) {
	data, err := unwrap(fixture.ReadTestdata(t, "view_lead.json"))
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := decodeLead(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []apiNote{
		{ID: "311", Note: "askhandle chat 2024-04-28\n[user] Do you ship to Sfax?", CreatedAt: "2024-04-28T09:15:00Z"},
		{ID: "312", Note: "Called back, interested in the yearly plan.", CreatedAt: "2024-04-29T16:40:11Z"},
	}
	if diff := cmp.Diff(want, l.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

// The engine matches a note it wrote by its exact text: trimming a note read
// back would make it write the note again on every push.
func TestDecodeNoteKeepsItsTextExactly(t *testing.T) {
	l, _, err := decodeLead([]byte(`{"slug":" s-1 ","notes":[{"note_id":" 7 ","note":" two words\n"},{"note_id":8,"note":42}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []apiNote{{ID: "7", Note: " two words\n"}, {ID: "8", Note: "42"}}
	if diff := cmp.Diff(want, l.Notes); diff != "" || l.Slug != "s-1" {
		t.Errorf("slug %q, notes (-want +got):\n%s", l.Slug, diff)
	}
}

func TestDecodeCreateAnswers(t *testing.T) {
	for _, tc := range []struct{ file, key, want string }{
		{"create_lead.json", "slug", "sami-gharbi-a81e22"},
		{"create_note.json", "note_id", "4021"},
	} {
		data, err := unwrap(fixture.ReadTestdata(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := idField(data, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("%s: %s = %q, %v; want %q", tc.file, tc.key, got, err, tc.want)
		}
	}
	if _, err := idField([]byte(`{"status":"ok"}`), "slug"); err == nil {
		t.Error("idField without the key: no error")
	}
}

func TestRefusalMapsCRMErrors(t *testing.T) {
	status := func(code int, file string) error {
		return &httpapi.StatusError{Instance: "crm", Label: "create lead", Status: code, Body: fixture.ReadTestdata(t, file)}
	}
	t.Run("400 field errors", func(t *testing.T) {
		rej := asRejected(t, refusal(status(400, "error_400_create.json")))
		want := map[string][]string{
			"email":  {"Invalid email."},
			"phone":  {"Phone number must be entered in the format: '999999999'. Up to 15 digits allowed."},
			"source": {`"Tiktok" is not a valid choice.`},
		}
		if diff := cmp.Diff(want, rej.Fields); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	})
	t.Run("bare DRF 400 body", func(t *testing.T) {
		err := &httpapi.StatusError{Status: 400, Body: []byte(`{"email":["Invalid email."],"non_field_errors":["Duplicate lead."]}`)}
		rej := asRejected(t, refusal(err))
		if rej.Reason != "Duplicate lead." || rej.Fields["email"][0] != "Invalid email." {
			t.Errorf("got %+v", rej)
		}
	})
	for _, file := range []string{"error_401_owner.json", "error_401_missing.json"} {
		t.Run("401 per lead "+file, func(t *testing.T) {
			rej := asRejected(t, refusal(status(401, file)))
			if !strings.Contains(rej.Reason, "lead") {
				t.Errorf("reason %q does not carry the CRM's words", rej.Reason)
			}
		})
	}
	t.Run("401 about the token stays an auth failure", func(t *testing.T) {
		err := refusal(status(401, "error_401_token.json"))
		if connectors.IsRejected(err) || errors.Is(err, connectors.ErrConfig) {
			t.Errorf("got %v, want the plain (transient) error", err)
		}
	})
	t.Run("403 is a configuration error", func(t *testing.T) {
		err := refusal(status(403, "error_403.json"))
		if !errors.Is(err, connectors.ErrConfig) || connectors.IsRejected(err) {
			t.Errorf("got %v, want ErrConfig", err)
		}
	})
	t.Run("500 is transient", func(t *testing.T) {
		err := refusal(&httpapi.StatusError{Status: 500, Body: []byte("oops")})
		if connectors.IsRejected(err) || errors.Is(err, connectors.ErrConfig) {
			t.Errorf("got %v", err)
		}
	})
}
