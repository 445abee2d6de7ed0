package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/configs"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/service"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func testConfig(t *testing.T, dbURL string) configs.Config {
	t.Helper()
	cfg := configs.Default()
	cfg.DatabaseURL = dbURL
	cfg.RedisURL = testenv.RedisURL(t)
	cfg.HTTPAddr = freeAddr(t)
	cfg.AdminToken = apptest.AdminToken
	cfg.OutputRoot = t.TempDir()
	cfg.Runner = "python3 " + apptest.TestMainPy()
	cfg.LogFormat = "text"
	cfg.ShutdownTimeout = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// An api or worker started on a database that is behind refuses to start
// and says to run migrate.
func TestRunRefusesUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	gdb, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	if err := gdb.Exec("DELETE FROM goose_db_version WHERE version_id > 0").Error; err != nil {
		t.Fatal(err)
	}
	err = run(ctx, testConfig(t, url), true, true)
	if !errors.Is(err, db.ErrBehind) || !strings.Contains(err.Error(), "q2o migrate") {
		t.Fatalf("run on an unmigrated database: %v", err)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gdb, err := db.Open(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	for i := 0; i < 2; i++ {
		if err := db.Migrate(ctx, gdb, apptest.Logger(t)); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	if err := db.CheckCurrent(ctx, gdb); err != nil {
		t.Fatal(err)
	}
}

// The whole binary's wiring (q2o all): readiness, a run to completed, and a
// clean stop when the context ends (as on SIGTERM).
func TestRunAllEndToEnd(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testenv.DatabaseURL(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, true, true) }()
	base := "http://" + cfg.HTTPAddr
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	call := func(method, path, token, body string) map[string]any {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, m)
		}
		return m
	}
	tn := call("POST", "/api/admin/tenants", cfg.AdminToken, `{"name":"E2E","email":"e2e@example.com","subscription_status":"active"}`)
	key, tenantID := tn["api_key"].(string), tn["id"].(string)
	codes := call("POST", "/api/admin/tenants/"+tenantID+"/activation-codes", cfg.AdminToken, `{"count":1}`)
	code := codes["codes"].([]any)[0].(map[string]any)["code"].(string)
	pid := call("POST", "/api/tenant/projects", key, `{"name":"n","description":"d","objectives":"o"}`)["id"].(string)
	call("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", key, `{"code":"`+code+`"}`)
	call("POST", "/api/tenant/projects/"+pid+"/run", key, "")
	for {
		p := call("GET", "/api/tenant/projects/"+pid, key, "")
		if p["execution_status"] == "completed" {
			break
		}
		if p["execution_status"] == "failed" || time.Now().After(deadline.Add(30*time.Second)) {
			t.Fatalf("project: %v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop after its context ended")
	}
}

// A lone worker serves /healthz, /readyz and /metrics on its health address.
func TestWorkerHealth(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testenv.DatabaseURL(t))
	cfg.WorkerHealthAddr = freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, false, true) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	base := "http://" + cfg.WorkerHealthAddr
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for path, want := range map[string]string{"/healthz": `"ok"`, "/metrics": "q2o_runs_started_total"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		_, _ = io.Copy(b, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("%s: %d %.200s", path, res.StatusCode, b)
		}
	}
	// The worker alone serves no API.
	if res, err := http.Get("http://" + cfg.HTTPAddr + "/healthz"); err == nil {
		res.Body.Close()
		t.Error("a lone worker answers on the API address")
	}
}

// q2o version names the commit it was built from when make built it; q2o
// migrate status lists every embedded migration as applied on a migrated
// database.
func TestVersionAndMigrateStatus(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "q2o")
	build := exec.Command("go", "build", "-ldflags", "-X main.commit=abc123def456 -X main.built=2026-12-01T00:00:00Z", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "commit abc123def456") || !strings.Contains(string(out), "built 2026-12-01T00:00:00Z") {
			t.Errorf("q2o %v: %v %s", args, err, out)
		}
	}
	cmd := exec.Command(bin, "migrate", "status", "--json")
	cmd.Env = append(os.Environ(), "Q2O_DATABASE_URL="+testenv.DatabaseURL(t))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("migrate status: %v %s", err, out)
	}
	var states []struct {
		Version int64
		File    string
		Applied bool
	}
	if err := json.Unmarshal(out, &states); err != nil {
		t.Fatalf("migrate status --json: %v: %s", err, out)
	}
	if len(states) < 9 {
		t.Fatalf("migrate status lists %d migrations", len(states))
	}
	for _, s := range states {
		if !s.Applied {
			t.Errorf("migration %d (%s) is pending on a migrated database", s.Version, s.File)
		}
	}
}

// admin create-tenant --reuse: the second time, the same tenant with a new,
// working API key (make run restarting).
func TestCreateTenantReuse(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "q2o")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dbURL := testenv.DatabaseURL(t)
	create := func() map[string]any {
		cmd := exec.Command(bin, "admin", "create-tenant", "--reuse", "--name", "Demo Co", "--email", "demo@example.com",
			"--plan", "starter", "--status", "active", "--codes", "1")
		cmd.Env = append(os.Environ(), "Q2O_DATABASE_URL="+dbURL)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("create-tenant: %v %s", err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	first, second := create(), create()
	if first["id"] != second["id"] || first["reused"] != false || second["reused"] != true || first["api_key"] == second["api_key"] {
		t.Fatalf("first %v, second %v", first, second)
	}
	if len(second["codes"].([]any)) != 1 {
		t.Errorf("codes: %v", second["codes"])
	}
	gdb, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	svc := service.New(service.Deps{DB: gdb, OutputRoot: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	for _, k := range []any{first["api_key"], second["api_key"]} {
		if _, err := svc.Authenticate(context.Background(), k.(string)); err != nil {
			t.Errorf("API key %v: %v", k, err)
		}
	}
}
