package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// API sends JSON requests to a running q2o API for tests that talk to it
// over the network (the end-to-end and cluster tests), failing the test on
// any answer but the one it wants.
type API struct {
	T    testing.TB
	Base string       // http://host:port
	HTTP *http.Client // nil: http.DefaultClient
}

// Do sends a request with body as JSON (nil: none) and token as a Bearer
// credential (empty: none), fails the test unless the answer has status
// want, and returns the answer's body.
func (a API) Do(method, path, token string, body any, want int) []byte {
	a.T.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.T.Fatalf("%s %s: the body: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.Base+path, rd)
	if err != nil {
		a.T.Fatalf("%s %s%s: %v", method, a.Base, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := a.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		a.T.Fatalf("%s %s%s: %v", method, a.Base, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		a.T.Fatalf("%s %s%s: %d %s (want %d)", method, a.Base, path, res.StatusCode, raw, want)
	}
	return raw
}

// Call is Do that decodes the answer as a V.
func Call[V any](a API, method, path, token string, body any, want int) V {
	a.T.Helper()
	raw := a.Do(method, path, token, body, want)
	var v V
	if err := json.Unmarshal(raw, &v); err != nil {
		a.T.Fatalf("%s %s: the answer is not a %T: %v: %s", method, path, v, err, raw)
	}
	return v
}
