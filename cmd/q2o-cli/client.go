package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// defaultURL is the API a fresh install talks to (`make run`).
const defaultURL = "http://localhost:8080"

// apiError is the API's one error shape: a refusal (exit 3), or, for a 401,
// an auth error (exit 4).
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// networkError is a request that got no answer from the API (exit 4).
type networkError struct{ err error }

func (e *networkError) Error() string { return "cannot reach the API: " + e.err.Error() }
func (e *networkError) Unwrap() error { return e.err }

// client calls the tenant API with one credential.
type client struct {
	base  string // no trailing slash
	token string
	http  *http.Client // for ordinary requests (with a timeout)
	long  *http.Client // for streams and downloads (no overall timeout)
}

func newClient(base, token string) *client {
	return &client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  &http.Client{Timeout: 30 * time.Second},
		long:  &http.Client{},
	}
}

// newRequest builds a request to path (which may carry a query); body, when
// not nil, is sent as JSON.
func (c *client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &networkError{err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "q2o-cli")
	return req, nil
}

// do sends a request and returns the raw JSON body of a 2xx answer; any
// other answer is an *apiError, no answer a *networkError.
func (c *client) do(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, &networkError{err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return nil, &networkError{err}
	}
	if res.StatusCode/100 != 2 {
		return nil, readAPIError(res.StatusCode, b)
	}
	return b, nil
}

// getJSON GETs path into v and returns the raw body too.
func (c *client) getJSON(ctx context.Context, path string, v any) (json.RawMessage, error) {
	return c.call(ctx, http.MethodGet, path, nil, v)
}

// call sends a request and decodes a 2xx answer into v (when not nil).
func (c *client) call(ctx context.Context, method, path string, body, v any) (json.RawMessage, error) {
	raw, err := c.do(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if v != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("unexpected answer from %s %s: %w", method, path, err)
		}
	}
	return raw, nil
}

// readAPIError turns an error answer into an *apiError, whatever its body.
func readAPIError(status int, body []byte) *apiError {
	var env struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		env.Error.Status = status
		return env.Error
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &apiError{Status: status, Code: "http_" + fmt.Sprint(status), Message: msg}
}

// credentials is what `login` keeps in the user's config directory.
type credentials struct {
	URL       string    `json:"url"`
	Token     string    `json:"token"`
	Email     string    `json:"email,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// credentialsPath is os.UserConfigDir()/q2o/credentials.json.
func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "q2o", "credentials.json"), nil
}

// loadCredentials reads the stored session; none stored is (nil, nil).
func loadCredentials() (*credentials, error) {
	p, err := credentialsPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cr credentials
	if err := json.Unmarshal(b, &cr); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &cr, nil
}

// saveCredentials writes the session readable by the user alone (0600, in
// a 0700 directory), replacing the file atomically.
func saveCredentials(cr credentials) (string, error) {
	p, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(cr, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".credentials-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(tmp.Name(), p)
}

// escape is url.PathEscape, short.
func escape(s string) string { return url.PathEscape(s) }
