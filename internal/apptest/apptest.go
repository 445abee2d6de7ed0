// Package apptest starts q2o for tests: its own database and Redis DB, the
// API on an httptest server, and optionally an in-process worker that runs a
// small test main.py (testdata/main.py).
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/app"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/metrics"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker"
	"github.com/q2o/q2o/worker/runner"
)

// AdminToken is the admin token of every test App.
const AdminToken = "test-admin-token-0123456789"

// Options change how an App is built.
type Options struct {
	// EnqueueRedisURL, when set, is the Redis the API enqueues to (an
	// unreachable one simulates Redis being down).
	EnqueueRedisURL string
	// LogTo, when set, also receives every log line of the app (JSON), for
	// tests that check what is logged.
	LogTo io.Writer
	// Billing, when set, turns on the Stripe routes with these settings.
	Billing *billing.Config
	// PublicURL is the portal's Q2O_PUBLIC_URL.
	PublicURL string
	// DatabaseURL, when set, is a migrated database to use instead of a
	// fresh copy of the template (testenv.StartPrivatePostgres's).
	DatabaseURL string
	// Redis, when set, is the app's Redis in place of a fresh DB of the
	// shared one (testenv.StartSentinel's Sentinels, say).
	Redis *app.Redis
	// S3, when set, stores the artifacts in a fresh bucket of this server
	// (Q2O_ARTIFACTS=s3), and the workers run main.py in their own scratch
	// folder (ScratchRoot), not the API's OutputRoot.
	S3 *testenv.Seaweed
	// PresignAbove is Q2O_S3_PRESIGN_ABOVE, with S3.
	PresignAbove int64
}

// App is q2o under test.
type App struct {
	t          testing.TB
	URL        string
	DB         *gorm.DB
	Svc        *service.Service
	Enq        *jobs.Enqueuer
	RedisURL   string
	RedisOpt   asynq.RedisConnOpt
	OutputRoot string
	// Artifacts is the app's artifacts store; with Options.S3, S3 is its
	// bucket's settings and ScratchRoot the workers' Q2O_OUTPUT_ROOT.
	Artifacts   store.Store
	S3          *store.S3Config
	ScratchRoot string
	Log         *slog.Logger
	Redis       *redis.Client
	Metrics     *metrics.Metrics

	parts *app.App // the wiring cmd/q2o runs too
	redis app.Redis
}

// TestMainPy is the path of the test main.py.
func TestMainPy() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "main.py")
}

// Logger writes to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// New starts the API for a test.
func New(t testing.TB, opts Options) *App {
	t.Helper()
	a := &App{t: t, OutputRoot: t.TempDir(), Log: Logger(t)}
	if opts.Redis == nil {
		a.RedisURL = testenv.RedisURL(t)
	}
	if opts.DatabaseURL != "" {
		gdb, err := db.Open(context.Background(), opts.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close(gdb) })
		a.DB = gdb
	} else {
		a.DB = testenv.Postgres(t)
	}
	if opts.LogTo != nil {
		a.Log = slog.New(slog.NewJSONHandler(io.MultiWriter(testWriter{t}, opts.LogTo), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a.redis = app.Redis{URL: a.RedisURL}
	if opts.Redis != nil {
		a.redis, a.RedisURL = *opts.Redis, opts.Redis.URL
	}
	opt, rdb, err := app.RedisClients(a.redis)
	if err != nil {
		t.Fatal(err)
	}
	_ = rdb.Close()
	a.RedisOpt = opt
	enqOpt := opt
	if opts.EnqueueRedisURL != "" {
		if enqOpt, err = asynq.ParseRedisURI(opts.EnqueueRedisURL); err != nil {
			t.Fatal(err)
		}
	}
	a.Redis = a.RedisClient()
	grace := time.Duration(0)
	if opts.Billing != nil {
		grace = opts.Billing.PastDueGrace
	}
	a.openArtifacts(opts.S3)
	// t.Context ends before cleanups: SSE streams end first.
	a.parts = app.New(t.Context(), app.Config{OutputRoot: a.OutputRoot, SendTimeout: time.Second,
		Jobs: jobs.Options{RunTimeout: time.Minute, KillGrace: time.Second}, PastDueGrace: grace,
		PresignAbove: opts.PresignAbove,
	}, app.Deps{DB: a.DB, Redis: a.Redis, Queue: opt, Enqueue: enqOpt, Artifacts: a.Artifacts,
		Mailer: TestMailer(t), // OTP sign-in codes go to mailpit (Q2O_TEST_SMTP_ADDR)
		Log:    a.Log})
	t.Cleanup(func() { _ = a.parts.Close() }) // and the app's background mail work ends with the test
	a.Svc, a.Enq, a.Metrics = a.parts.Svc, a.parts.Enq, a.parts.Metrics
	srv, err := a.parts.HTTP(context.Background(), app.HTTPConfig{AdminToken: AdminToken, MetricsOnAPI: true,
		PublicURL: opts.PublicURL, Billing: opts.Billing, WebBilling: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	a.URL = ts.URL
	return a
}

// WorkerConfig is the worker settings tests start from.
func (a *App) WorkerConfig(runnerArgs ...string) worker.Config {
	return worker.Config{
		UploadRetry:     TestUploadRetry,
		OutputRoot:      a.workerRoot(),
		Runner:          "python3 " + TestMainPy() + " " + strings.Join(runnerArgs, " "),
		RunnerArgs:      runner.DefaultArgsTemplate,
		RunTimeout:      time.Minute,
		KillGrace:       500 * time.Millisecond,
		WatchInterval:   100 * time.Millisecond,
		Concurrency:     4,
		PollInterval:    50 * time.Millisecond,
		ShutdownTimeout: 2 * time.Second,
		Metrics:         a.Metrics,
	}
}

// StartWorker runs a worker until the test ends (or stop is called).
func (a *App) StartWorker(cfg worker.Config) (w *worker.Worker, stop func()) {
	a.t.Helper()
	w = a.parts.Worker(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			a.t.Errorf("worker: %v", err)
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	a.t.Cleanup(stop)
	return w, stop
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// ErrorCode returns the error code of an error answer.
func (r Response) ErrorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("not an error answer (status %d): %s", r.Status, r.Body)
	}
	code, _ := e["code"].(string)
	return code
}

// Do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON).
func (a *App) Do(method, path, token string, body any) Response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	r := Response{Status: res.StatusCode, Header: res.Header, Body: b}
	CheckOpenAPI(a.t, req, r) // every answer matches api/openapi.yaml
	return r
}

// Must checks the status of an answer and returns its JSON.
func (a *App) Must(want int, r Response) map[string]any {
	a.t.Helper()
	if r.Status != want {
		a.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r.JSON(a.t)
}

// Tenant is a tenant made through the admin API.
type Tenant struct {
	ID  string
	Key string
}

// NewTenant creates a tenant with the given subscription status.
func (a *App) NewTenant(status string) Tenant {
	a.t.Helper()
	m := a.Must(http.StatusCreated, a.Do("POST", "/api/admin/tenants", AdminToken, map[string]any{
		"name": "Tenant " + status, "email": fmt.Sprintf("%s-%d@example.com", status, time.Now().UnixNano()),
		"plan": "starter", "subscription_status": status,
	}))
	return Tenant{ID: m["id"].(string), Key: m["api_key"].(string)}
}

// Code makes one activation code for the tenant and returns id and code.
func (a *App) Code(tenantID string, body map[string]any) (id, code string) {
	a.t.Helper()
	if body == nil {
		body = map[string]any{"count": 1}
	}
	m := a.Must(http.StatusCreated, a.Do("POST", "/api/admin/tenants/"+tenantID+"/activation-codes", AdminToken, body))
	c := m["codes"].([]any)[0].(map[string]any)
	return c["id"].(string), c["code"].(string)
}

// Project creates a project and returns its id.
func (a *App) Project(key, name string) string {
	a.t.Helper()
	m := a.Must(http.StatusCreated, a.Do("POST", "/api/tenant/projects", key, map[string]any{
		"name": name, "description": "a tool for " + name, "objectives": "ship it",
	}))
	return m["id"].(string)
}

// ReadyProject creates a project with a code assigned, ready to RUN.
func (a *App) ReadyProject(tn Tenant, name string) string {
	a.t.Helper()
	id := a.Project(tn.Key, name)
	_, code := a.Code(tn.ID, nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+id+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	return id
}

// RedisClient returns a client of the test's Redis DB (built as the app's).
func (a *App) RedisClient() *redis.Client {
	_, c, err := app.RedisClients(a.redis)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { _ = c.Close() })
	return c
}

// ReadFile reads a file or fails the test.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Tampered returns key with its last character changed: a key that looks
// right but is not.
func Tampered(key string) string {
	last := key[len(key)-1]
	if last == 'a' {
		return key[:len(key)-1] + "b"
	}
	return key[:len(key)-1] + "a"
}

// ExecPaths are an execution's server-side paths and worker, which the API
// does not show: tests read them from the database.
type ExecPaths struct {
	Zip, Log, Worker string
}

// Paths reads execution eid's zip and log paths and its worker ("" when
// not set).
func (a *App) Paths(eid string) ExecPaths {
	a.t.Helper()
	var row struct {
		ZipPath, LogPath, WorkerID *string
	}
	if err := a.DB.Raw("SELECT zip_path, log_path, worker_id FROM executions WHERE id = ?", eid).Scan(&row).Error; err != nil {
		a.t.Fatal(err)
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return ExecPaths{Zip: deref(row.ZipPath), Log: deref(row.LogPath), Worker: deref(row.WorkerID)}
}
