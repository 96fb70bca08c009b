package epixel

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
)

// refusal turns an error from a call about one person into what the engine
// acts on:
//   - 400 and 422 are the CRM's validation: a *connectors.RejectedError with
//     the CRM's field messages.
//   - 401 reaches here only after httpapi renewed the token once and the
//     fresh token got 401 again. When its words are about the lead ("You are
//     not owner of this lead.") rather than the token, it is a per-lead
//     refusal: renewing again would loop, so it is a RejectedError.
//   - 403 and 404 are configuration errors (configError).
//
// Anything else is transient and returned as it is.
func refusal(err error) error {
	var se *httpapi.StatusError
	if !errors.As(err, &se) {
		return err
	}
	fields, general := crmErrors(se.Body)
	switch se.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		reason := strings.Join(general, " ")
		if reason == "" {
			reason = fmt.Sprintf("the CRM refused %s (HTTP %d)", se.Label, se.Status)
		}
		return &connectors.RejectedError{Reason: reason, Fields: fields}
	case http.StatusUnauthorized:
		words := general
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			words = append(words, fields[k]...)
		}
		if len(words) > 0 && !aboutToken(words) {
			return &connectors.RejectedError{Reason: strings.Join(words, " "), Fields: fields}
		}
	}
	return configError(err)
}

// configError marks 403 (Epixel's answer to a wrong apikey) and 404 (a wrong
// base_url) as configuration errors; retrying them is pointless.
func configError(err error) error {
	switch {
	case errors.Is(err, connectors.ErrConfig):
		return err // already said (a login refused)
	case httpapi.IsStatus(err, http.StatusNotFound):
		return fmt.Errorf("%w: epixel answered 404: check base_url (https://<domain>/<api prefix>/<version>/): %w", connectors.ErrConfig, err)
	}
	return wrongKey(err)
}

// wrongKey marks a 403, Epixel's answer to a wrong apikey, as a
// configuration error. Login and refresh use it rather than configError: a
// refresh that gets 404 must still fall back to the password login.
func wrongKey(err error) error {
	if httpapi.IsStatus(err, http.StatusForbidden) {
		return fmt.Errorf("%w: epixel answered 403: wrong apikey: %w", connectors.ErrConfig, err)
	}
	return err
}

// aboutToken reports whether a 401's words are about the credentials (the
// JWT library's "Given token not valid for any token type", "Authentication
// credentials were not provided.") rather than about a lead.
func aboutToken(words []string) bool {
	for _, w := range words {
		w = strings.ToLower(w)
		for _, k := range []string{"token", "credential", "authenticat", "not authorized", "unauthori", "signature", "expired", "user not found", "user is inactive"} {
			if strings.Contains(w, k) {
				return true
			}
		}
	}
	return false
}
