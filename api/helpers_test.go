package api_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/ratelimit"
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

// rowsHolding counts the rows of table in which secret appears anywhere:
// as text in any column, or as its bytes in a bytea column (row_to_json
// writes those as \x hex). A secret kept only as a hash is in none.
func rowsHolding(t *testing.T, a *apptest.App, table, secret string) int64 {
	t.Helper()
	var n int64
	err := a.DB.Raw(`SELECT count(*) FROM `+table+` r WHERE position(? in row_to_json(r)::text) > 0
		OR position(encode(convert_to(?, 'UTF8'), 'hex') in row_to_json(r)::text) > 0`, secret, secret).Scan(&n).Error
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// spend counts n requests against key's bucket of rule straight in Redis,
// the way any replica's limiter counts them (the buckets live in the app's
// Redis DB), so that a rate-limit test needs only the last few requests to
// go through HTTP: however slow the machine, they all fall inside one
// refill interval.
func spend(t *testing.T, a *apptest.App, rule ratelimit.Rule, key string, n int) {
	t.Helper()
	l := ratelimit.New(a.Redis, nil)
	for i := range n {
		if err := l.Allow(t.Context(), rule, key); err != nil {
			t.Fatalf("spending request %d of %d in %s: %v", i+1, n, rule.Name, err)
		}
	}
}

// Every webhook delivery's answer is checked against the OpenAPI document
// too.
func init() {
	billingtest.CheckResponse = func(t testing.TB, req *http.Request, r billingtest.Response) {
		t.Helper()
		apptest.CheckOpenAPI(t, req, apptest.Response{Status: r.Status, Header: r.Header, Body: r.Raw})
	}
}
