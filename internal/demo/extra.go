package demo

import (
	"net/http"
	"time"
)

// extraVendors holds the vendors not yet in the demo (BotPenguin).
type extraVendors struct{}

func newExtraVendors() *extraVendors { return &extraVendors{} }

func (x *extraVendors) handlers() []struct {
	name string
	h    http.Handler
} {
	return nil
}

func (x *extraVendors) config(urls map[string]string, schedule string) string { return "" }

func (x *extraVendors) seed(now time.Time) {}
