package api_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/q2o/q2o/internal/apptest"
)

// sendReq sends a prepared request (any headers, cookies) and checks its
// answer against the OpenAPI document, as apptest's Do does.
func sendReq(t *testing.T, req *http.Request) apptest.Response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
	apptest.CheckOpenAPI(t, req, r)
	return r
}
