package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

// StaticAuth sets fixed headers (an API key, a dashboard token). It cannot
// renew: a 401 means the credential was revoked, and the call fails.
type StaticAuth struct {
	Headers map[string]string
}

// Apply implements Authenticator.
func (a StaticAuth) Apply(_ context.Context, _ *Client, req *http.Request) error {
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	return nil
}

// ErrCredentialRefused is returned by Renew for credentials that cannot be renewed.
var ErrCredentialRefused = errors.New("credential refused (401); check the configured token")

// Renew implements Authenticator.
func (a StaticAuth) Renew(context.Context, *Client) error { return ErrCredentialRefused }

// Token is a credential a vendor issued at login.
type Token struct {
	Value string
	// Expiry is when the vendor says the token stops working; zero: never.
	Expiry time.Time
	// Extra holds anything else login returned (a refresh token).
	Extra map[string]string
}

// TokenAuth logs in on first use, keeps the token in memory only (never in
// the store, never in logs: it is registered with the client for redaction),
// renews it Margin before Expiry, and again when Renew is called after a 401.
type TokenAuth struct {
	// Login gets a new token; it should use c with Request.NoAuth set.
	Login func(ctx context.Context, c *Client) (Token, error)
	// Set puts the token on a request.
	Set func(req *http.Request, tok Token)
	// Margin renews this long before Expiry (default one minute).
	Margin time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu  sync.Mutex
	tok *Token
}

// Apply implements Authenticator.
func (a *TokenAuth) Apply(ctx context.Context, c *Client, req *http.Request) error {
	tok, err := a.current(ctx, c)
	if err != nil {
		return err
	}
	a.Set(req, tok)
	return nil
}

// Renew implements Authenticator.
func (a *TokenAuth) Renew(ctx context.Context, c *Client) error {
	a.mu.Lock()
	a.tok = nil
	a.mu.Unlock()
	_, err := a.current(ctx, c)
	return err
}

func (a *TokenAuth) current(ctx context.Context, c *Client) (Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	margin := a.Margin
	if margin == 0 {
		margin = time.Minute
	}
	if a.tok != nil && (a.tok.Expiry.IsZero() || now().Add(margin).Before(a.tok.Expiry)) {
		return *a.tok, nil
	}
	tok, err := a.Login(ctx, c)
	if err != nil {
		return Token{}, err
	}
	if tok.Value == "" {
		return Token{}, errors.New("login answered without a token")
	}
	c.AddSecret(tok.Value)
	for _, v := range tok.Extra {
		c.AddSecret(v)
	}
	a.tok = &tok
	return tok, nil
}
