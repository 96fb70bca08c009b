package httpapi

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
)

// mimeForm is what mime/multipart writes for form with boundary.
func mimeForm(t testing.TB, boundary string, form []Field) []byte {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		t.Fatal(err)
	}
	for _, f := range form {
		if err := mw.WriteField(f.Name, f.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fieldsFrom splits s into fields: "name=value" pairs separated by '&'.
func fieldsFrom(s string) []Field {
	if s == "" {
		return nil
	}
	var form []Field
	for _, kv := range strings.Split(s, "&") {
		name, value, _ := strings.Cut(kv, "=")
		form = append(form, Field{name, value})
	}
	return form
}

func TestWriteFormMatchesMimeMultipart(t *testing.T) {
	const boundary = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
	for _, form := range [][]Field{
		nil,
		{{"a", ""}},
		{{"first_name", "Ali"}, {"last_name", "-"}, {"email", "216123@no-email.invalid"}, {"phone", "+21620123456"}},
		{{`we"ird\name`, "line\r\nbreak"}, {"cr\rlf\n", "--" + boundary + "--"}, {"", "é ☃"}},
	} {
		var got bytes.Buffer
		writeForm(&got, boundary, form)
		if want := mimeForm(t, boundary, form); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%q:\ngot  %q\nwant %q", form, got.Bytes(), want)
		}
	}
}

// The body build sends parses back into the fields, in order, under the
// content type it sets.
func TestFormBodyParsesBackIntoItsFields(t *testing.T) {
	c, err := New(Config{Name: "t", BaseURL: "http://127.0.0.1/"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1/x")
	form := []Field{{"first_name", "Ali"}, {"note", "two\r\nlines"}, {"first_name", "again"}, {"empty", ""}}
	hreq, err := c.build(context.Background(), &Request{Method: "POST", Form: form}, u)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(hreq.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(hreq.Body, params["boundary"])
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			if i != len(form) {
				t.Errorf("%d parts, want %d", i, len(form))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		if i >= len(form) || p.FormName() != form[i].Name || string(v) != form[i].Value {
			t.Errorf("part %d: %q=%q, want %v", i, p.FormName(), v, form)
		}
	}
}

func FuzzWriteFormMatchesMimeMultipart(f *testing.F) {
	f.Add("0123456789abcdef", "a=b&c=d")
	f.Add("x", `we"ird\=va&lue&=&cr`+"\r\n=x")
	f.Add("b-o_u.n+d", "")
	f.Fuzz(func(t *testing.T, boundary, fields string) {
		if multipart.NewWriter(io.Discard).SetBoundary(boundary) != nil {
			return // mime/multipart refuses it, and writeForm only gets its own
		}
		form := fieldsFrom(fields)
		var got bytes.Buffer
		writeForm(&got, boundary, form)
		if want := mimeForm(t, boundary, form); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%q:\ngot  %q\nwant %q", form, got.Bytes(), want)
		}
	})
}

// BenchmarkWriteForm writes a create's 13 fields: go test
// ./connectors/httpapi -run '^$' -bench WriteForm -benchmem.
func BenchmarkWriteForm(b *testing.B) {
	form := []Field{{"first_name", "Person12"}, {"last_name", "Gen"}, {"email", "person12@example.tn"},
		{"phone", "+21623000012"}, {"source", "Facebook"}, {"status", "new"}, {"location", ""},
		{"message", "roborder Facebook page Souk Shoes (ORD-01012)"}, {"assignee", ""}, {"tags", "leadsync"},
		{"channel", "facebook"}, {"external_id", "roborder:1012"}, {"created_at", "2026-11-01T10:00:00Z"}}
	const boundary = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
	b.Run("writeForm", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			buf.Grow(formSize(len(boundary), form))
			writeForm(&buf, boundary, form)
		}
	})
	b.Run("mime-multipart", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			buf.Grow(formSize(len(boundary), form))
			mw := multipart.NewWriter(&buf)
			mw.SetBoundary(boundary)
			for _, f := range form {
				mw.WriteField(f.Name, f.Value)
			}
			mw.Close()
		}
	})
}
