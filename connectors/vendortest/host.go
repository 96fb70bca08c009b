package vendortest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// Host is embedded by every fake: it holds the fake's handler wrapped in a
// Server and gives the Handler and Recorder accessors tests and the demo use.
type Host struct{ srv *Server }

// NewHost wraps h with New; assign the result to the fake's Host.
func NewHost(h http.Handler) Host { return Host{srv: New(h)} }

// Handler serves the fake's API at the root, recording requests and
// answering with injected faults first.
func (h *Host) Handler() http.Handler { return h.srv }

// Recorder gives the requests received and injects faults.
func (h *Host) Recorder() *Server { return h.srv }

// RandomHex returns n random bytes in hex, for the ids and tokens fakes issue.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand aborts the program instead
	return hex.EncodeToString(b)
}
