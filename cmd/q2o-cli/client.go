package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

// defaultURL is the API a fresh install talks to (`make run`).
const defaultURL = "http://localhost:8080"

// apiError is the API's one error shape: a refusal (exit 3), or, for a 401,
// an auth error (exit 4).
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// networkError is a request that got no answer from the API (exit 4).
type networkError struct{ err error }

func (e *networkError) Error() string { return "cannot reach the API: " + e.err.Error() }
func (e *networkError) Unwrap() error { return e.err }

// client calls the tenant API with one credential through the client
// generated from api/openapi.yaml (internal/apiclient), so a route,
// parameter or field the document changes no longer compiles here. Only
// the reading of the streams (sse.go) and the download's resuming are
// hand-written on top of the generated requests.
type client struct {
	base string // no trailing slash
	// api is for ordinary requests (with a timeout): an answer other than
	// 2xx comes back as its *apiError, no answer as a *networkError.
	api *apiclient.ClientWithResponses
	// raw is for streams and downloads (no overall timeout): every answer
	// as it came, no answer as a *networkError.
	raw *apiclient.Client
}

func newClient(base, token string) (*client, error) {
	base = strings.TrimRight(base, "/")
	auth := apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("User-Agent", "q2o-cli")
		return nil
	})
	api, err := apiclient.NewClientWithResponses(base,
		apiclient.WithHTTPClient(doer{c: &http.Client{Timeout: 30 * time.Second}, refuse: true}), auth)
	if err != nil {
		return nil, err
	}
	raw, err := apiclient.NewClient(base, apiclient.WithHTTPClient(doer{c: &http.Client{}}), auth)
	if err != nil {
		return nil, err
	}
	return &client{base: base, api: api, raw: raw}, nil
}

// doer sends the generated client's requests. With refuse, an answer
// other than 2xx is returned as its *apiError and a 2xx one is read whole
// (so that a body cut short is a network error too).
type doer struct {
	c      *http.Client
	refuse bool
}

func (d doer) Do(req *http.Request) (*http.Response, error) {
	res, err := d.c.Do(req)
	if err != nil {
		return nil, &networkError{err}
	}
	if !d.refuse {
		return res, nil
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return nil, &networkError{err}
	}
	if res.StatusCode/100 != 2 {
		return nil, readAPIError(res.StatusCode, b)
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res, nil
}

// readAPIError turns an error answer into an *apiError, whatever its body.
func readAPIError(status int, body []byte) *apiError {
	var e apiclient.Error
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return &apiError{Status: status, Code: e.Error.Code, Message: e.Error.Message}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &apiError{Status: status, Code: "http_" + fmt.Sprint(status), Message: msg}
}

// readRefusal is the *apiError of a raw answer that is not 2xx.
func readRefusal(res *http.Response) *apiError {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return readAPIError(res.StatusCode, b)
}

// answered is what a generated response says of its success (see
// internal/apiclient/answers.go).
type answered[T any] interface {
	Answer() (*T, []byte, *http.Response)
}

// answer is the body of the call's answer as the document types it, and
// its raw JSON (for --output json). A 2xx answer without that body (another
// status or content type) is an error.
func answer[T any, R answered[T]](r R, err error) (*T, []byte, error) {
	if err != nil {
		return nil, nil, err
	}
	v, raw, res := r.Answer()
	if v == nil {
		return nil, nil, fmt.Errorf("unexpected answer from %s %s: HTTP %d (%s)",
			res.Request.Method, res.Request.URL.Path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return v, raw, nil
}

// parseID reads a project's or an execution's id from the command line.
func parseID(what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, &exitError{code: exitUsage, msg: fmt.Sprintf("%q is not %s id", s, what)}
	}
	return id, nil
}
