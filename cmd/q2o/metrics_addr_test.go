package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
)

// Q2O_METRICS_ADDR gives the metrics a listener of their own (for a
// scraper on a private network, no token): they are served there, and the
// API's own /metrics goes away.
func TestMetricsAddrListener(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testenv.DatabaseURL(t))
	cfg.MetricsAddr = freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, true, false) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	get := func(url string, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if s, _ := get("http://"+cfg.HTTPAddr+"/readyz", ""); s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the API did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, body := get("http://"+cfg.MetricsAddr+"/metrics", ""); s != 200 || !strings.Contains(body, "q2o_outbox_backlog") ||
		!strings.Contains(body, "q2o_http_requests_total") {
		t.Errorf("metrics listener: %d %.300s", s, body)
	}
	if s, _ := get("http://"+cfg.HTTPAddr+"/metrics", apptest.AdminToken); s != http.StatusNotFound {
		t.Errorf("the API's /metrics with a metrics listener set: %d, want 404", s)
	}
}
