package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
)

// TestReadyz503SaysOnlyWhichDependency: /readyz needs no credential, so a
// failure answers which dependency is down and nothing of its error (user,
// database, address), for the API and a lone worker's health listener
// alike; the details go to the log.
func TestReadyz503SaysOnlyWhichDependency(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	a := apptest.New(t, apptest.Options{LogTo: &logs})
	secret := "failed to connect to `user=postgres database=q2o_secret`: 127.0.0.1:5432 (127.0.0.1): dial error"
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("postgres: %w", errors.New(secret)), "postgres"},
		{fmt.Errorf("redis: dial tcp 10.1.2.3:6379: %s", secret), "redis"},
		{&api.NotReadyError{Dependency: "migrations", Err: errors.New(secret)}, "migrations"},
		{errors.New(secret), "a dependency"},
	}
	for _, c := range cases {
		ready := func(context.Context) error { return c.err }
		srv := httptest.NewServer(api.New(a.Svc, api.Config{Ready: ready}, a.Log).Handler())
		health := httptest.NewServer(api.HealthHandler(ready, nil, false))
		b := *a
		b.URL = srv.URL
		r := b.Do("GET", "/readyz", "", nil)
		if r.Status != http.StatusServiceUnavailable || r.ErrorCode(t) != "not_ready" {
			t.Errorf("%s: API /readyz %d %s, want 503 not_ready", c.want, r.Status, r.Body)
		}
		res, err := http.Get(health.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || string(body) != string(r.Body) {
			t.Errorf("%s: worker /readyz %d %s, want the API's answer %s", c.want, res.StatusCode, body, r.Body)
		}
		for _, leak := range []string{"user=", "q2o_secret", "127.0.0.1", "10.1.2.3", "dial"} {
			if strings.Contains(string(r.Body), leak) {
				t.Errorf("%s: /readyz tells a stranger %q: %s", c.want, leak, r.Body)
			}
		}
		if msg := r.JSON(t)["error"].(map[string]any)["message"]; !strings.Contains(fmt.Sprint(msg), c.want) {
			t.Errorf("/readyz message %q does not name %s", msg, c.want)
		}
		srv.Close()
		health.Close()
	}
	if !strings.Contains(logs.String(), "q2o_secret") {
		t.Error("the failure's details are not in the log")
	}
}
