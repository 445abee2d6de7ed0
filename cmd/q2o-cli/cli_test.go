package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// cliBin is q2o-cli, built once for the package by TestMain.
var cliBin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "q2o-cli-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cliBin = filepath.Join(dir, "q2o-cli")
		build := exec.Command("go", "build", "-o", cliBin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build q2o-cli:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// result is how one q2o-cli invocation ended.
type result struct {
	code           int
	stdout, stderr string
}

// cliEnv is the environment of the CLI in a test: the API, a credential,
// and a config directory of its own.
type cliEnv struct {
	t      *testing.T
	url    string
	key    string
	config string
}

func newCLI(t *testing.T, a *apptest.App, key string) *cliEnv {
	t.Helper()
	return &cliEnv{t: t, url: checkedAPI(t, a.URL), key: key, config: t.TempDir()}
}

func (c *cliEnv) command(ctx context.Context, stdin string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Env = append(os.Environ(), "Q2O_URL="+c.url, "Q2O_API_KEY="+c.key,
		"XDG_CONFIG_HOME="+c.config, "HOME="+c.config)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// run runs q2o-cli to its end (within a minute).
func (c *cliEnv) run(stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, stdout, stderr := c.command(ctx, stdin, args...)
	return c.wait(cmd, cmd.Run(), stdout, stderr)
}

func (c *cliEnv) wait(cmd *exec.Cmd, err error, stdout, stderr *bytes.Buffer) result {
	c.t.Helper()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		c.t.Fatalf("q2o-cli %v: %v", cmd.Args[1:], err)
	}
	c.t.Logf("q2o-cli %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(cmd.Args[1:], " "), r.code, r.stdout, r.stderr)
	return r
}

func (r result) must(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// readyToRun is an API with a worker whose test main.py runs as workerArgs
// say, a tenant, and its project name, ready to run (a code assigned).
func readyToRun(t *testing.T, workerArgs, name string) (*apptest.App, apptest.Tenant, string) {
	t.Helper()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig(workerArgs))
	tn := a.NewTenant("active")
	return a, tn, a.ReadyProject(tn, name)
}

// A plain line of a followed run when stdout is not a terminal.
var plainLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  (pending|running|completed)\s+\d+%  .*$`)

func TestRunFollowCompletes(t *testing.T) {
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode ok"))
	tn := a.NewTenant("active")
	c := newCLI(t, a, tn.Key)

	id := strings.TrimSpace(c.run("", "projects", "create", "--name", "Todo app", "--description", "A todo app",
		"--objectives", "CRUD").must(t, 0).stdout)
	_, code := a.Code(tn.ID, nil)
	c.run("", "assign", id, code).must(t, 0)

	r := c.run("", "run", id, "--follow").must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 3 {
		t.Fatalf("want a line per change and a summary, got %q", r.stdout)
	}
	for _, l := range lines[:len(lines)-1] {
		if !plainLine.MatchString(l) {
			t.Errorf("not a plain timestamped line: %q", l)
		}
	}
	if !strings.Contains(r.stdout, "100%  done") || !strings.Contains(lines[len(lines)-2], "completed") {
		t.Errorf("the run's end is not shown: %q", r.stdout)
	}
	if !strings.HasSuffix(lines[len(lines)-1], "completed") {
		t.Errorf("no summary: %q", lines[len(lines)-1])
	}
	if strings.Contains(r.stdout, "\r") || strings.Contains(r.stdout, "\x1b") {
		t.Errorf("terminal control characters in a non-terminal output: %q", r.stdout)
	}

	// follow on an ended run shows it once and exits with its outcome; logs too.
	c.run("", "follow", id).must(t, 0)
	logs := c.run("", "logs", id).must(t, 0)
	if !strings.Contains(logs.stdout, "starting the agents") {
		t.Errorf("logs: %q", logs.stdout)
	}
	c.run("", "logs", id, "-f").must(t, 0)
	var logLines []string
	for l := range strings.Lines(c.run("", "logs", id, "--output", "json").must(t, 0).stdout) {
		var entry struct{ Kind, Message string }
		if err := json.Unmarshal([]byte(l), &entry); err != nil || entry.Kind != "log" {
			t.Fatalf("logs --output json: %q: %v", l, err)
		}
		logLines = append(logLines, entry.Message+"\n")
	}
	if strings.Join(logLines, "") != logs.stdout {
		t.Errorf("logs --output json is not the log: %q", logLines)
	}
	if tail := c.run("", "logs", id, "--tail", "1").must(t, 0).stdout; strings.Count(tail, "\n") != 1 || !strings.HasSuffix(logs.stdout, tail) {
		t.Errorf("logs --tail 1: %q", tail)
	}

	// --output json on the read commands is the API's JSON.
	var shown map[string]any
	if err := json.Unmarshal([]byte(c.run("", "projects", "show", id, "--output", "json").must(t, 0).stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown["id"] != id || shown["execution_status"] != "completed" || shown["progress"] != float64(100) {
		t.Errorf("projects show --output json: %v", shown)
	}
	var list struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"execution_status"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(c.run("", "projects", "list", "--status", "completed", "--output", "json").must(t, 0).stdout), &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 1 || list.Items[0].ID != id {
		t.Errorf("projects list --output json: %+v", list)
	}
	if out := c.run("", "projects", "list", "--search", "todo").must(t, 0).stdout; !strings.Contains(out, id) {
		t.Errorf("projects list --search todo: %q", out)
	}
	if out := c.run("", "projects", "list", "--search", "nothing like it").must(t, 0).stdout; strings.Contains(out, id) {
		t.Errorf("projects list --search found a project it should not: %q", out)
	}
	// logs --execution: the run shown by projects show.
	if out := c.run("", "logs", id, "--execution", shown["latest_execution_id"].(string)).must(t, 0).stdout; out != logs.stdout {
		t.Errorf("logs --execution: %q, want %q", out, logs.stdout)
	}
	objectives := filepath.Join(t.TempDir(), "objectives.md")
	if err := os.WriteFile(objectives, []byte("# Objectives\n\n- from a file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := strings.TrimSpace(c.run("", "projects", "create", "--name", "From a file", "--description", "d",
		"--objectives-file", objectives).must(t, 0).stdout)
	var fromFile struct{ Objectives string }
	if err := json.Unmarshal([]byte(c.run("", "projects", "show", other, "--output", "json").must(t, 0).stdout), &fromFile); err != nil {
		t.Fatal(err)
	}
	if fromFile.Objectives != "# Objectives\n\n- from a file" { // the API trims
		t.Errorf("--objectives-file: the project's objectives are %q", fromFile.Objectives)
	}
	var who struct {
		ID   string `json:"id"`
		Plan struct {
			Code string `json:"code"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(c.run("", "whoami", "--output", "json").must(t, 0).stdout), &who); err != nil {
		t.Fatal(err)
	}
	if who.ID != tn.ID || who.Plan.Code != "starter" {
		t.Errorf("whoami --output json: %+v", who)
	}
	c.run("", "projects", "edit", id, "--name", "Todo app v2").must(t, 0)
	if out := c.run("", "projects", "show", id).must(t, 0).stdout; !strings.Contains(out, "Todo app v2") {
		t.Errorf("projects show after edit: %q", out)
	}
	c.run("", "projects", "edit", id).must(t, exitUsage)
	if out := c.run("", "runs", "list", id).must(t, 0).stdout; !strings.Contains(out, "completed") {
		t.Errorf("runs list: %q", out)
	}
	if table := c.run("", "projects", "list").must(t, 0).stdout; !strings.Contains(table, id) || !strings.Contains(table, "completed") {
		t.Errorf("projects list: %q", table)
	}
	c.run("", "projects", "delete", id).must(t, 0)
	if table := c.run("", "projects", "list").must(t, 0).stdout; strings.Contains(table, id) {
		t.Errorf("a deleted project is listed: %q", table)
	}
	if table := c.run("", "projects", "list", "--all").must(t, 0).stdout; !strings.Contains(table, id) {
		t.Errorf("projects list --all lacks the deleted project: %q", table)
	}
}

func TestRunFollowFailedExits1(t *testing.T) {
	a, tn, id := readyToRun(t, "--mode fail", "doomed")
	c := newCLI(t, a, tn.Key)

	r := c.run("", "run", id, "--follow").must(t, 1)
	if !strings.Contains(r.stderr, "the run failed") {
		t.Errorf("stderr does not say the run failed: %q", r.stderr)
	}
	c.run("", "follow", id).must(t, 1)
	c.run("", "logs", id, "-f").must(t, 1)

	// --log shows the run's log with its progress, a line each.
	r = c.run("", "run", id, "--follow", "--log").must(t, 1)
	for _, want := range []string{"  | PROGRESS 30 working", "  | noise line 49", "  | RuntimeError: the agents could not agree", "failed     30%  main.py exited with code 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run --follow --log: %q missing from\n%s", want, r.stdout)
		}
	}
	if strings.Count(r.stdout, "noise line 7\n") != 1 {
		t.Errorf("a log line is not shown exactly once:\n%s", r.stdout)
	}
}

// following is `q2o-cli run PROJECT --follow` on a project whose main.py
// sleeps for 30 s, started.
type following struct {
	a              *apptest.App
	tn             apptest.Tenant
	id             string
	c              *cliEnv
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer
}

// followSleeper starts following and returns once the run is running.
func followSleeper(t *testing.T, name string) *following {
	t.Helper()
	f := &following{}
	f.a, f.tn, f.id = readyToRun(t, "--mode sleep --seconds 30", name)
	a := f.a
	f.c = newCLI(t, a, f.tn.Key)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	f.cmd, f.stdout, f.stderr = f.c.command(ctx, "", "run", f.id, "--follow")
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.AwaitProject(f.tn.Key, f.id, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	return f
}

// wait waits for the follower's end.
func (f *following) wait() result { return f.c.wait(f.cmd, f.cmd.Wait(), f.stdout, f.stderr) }

func TestCancelExits2(t *testing.T) {
	f := followSleeper(t, "sleepy")
	a, tn, id, c := f.a, f.tn, f.id, f.c
	c.run("", "cancel", id).must(t, 0)
	r := f.wait().must(t, 2)
	if !regexp.MustCompile(`Z  (cancelled|paused) `).MatchString(r.stdout) || !strings.Contains(r.stderr, "cancelled by the tenant") {
		t.Errorf("the cancellation is not shown: %q / %q", r.stdout, r.stderr)
	}
	// resume starts a new run; cancelled too, follow tells so by exiting 2.
	eid := strings.TrimSpace(c.run("", "resume", id).must(t, 0).stdout)
	a.AwaitProject(tn.Key, id, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	c.run("", "cancel", id).must(t, 0)
	c.run("", "follow", id).must(t, 2)
	var runs struct {
		Items []struct{ ID, Status string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.run("", "runs", "list", id, "--output", "json").must(t, 0).stdout), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs.Items) != 2 || runs.Items[0].ID != eid || runs.Items[0].Status != "cancelled" {
		t.Fatalf("runs list: %+v", runs)
	}
	// follow EXECUTION, the project unnamed: the latest run, and an older one.
	c.run("", "follow", eid).must(t, 2)
	older := c.run("", "follow", runs.Items[1].ID).must(t, 2)
	if !strings.Contains(older.stderr, "run "+runs.Items[1].ID+" ") {
		t.Errorf("follow of the older run does not tell it: %q", older.stderr)
	}
	// cancelling again is the API's refusal, with its code and message.
	again := c.run("", "cancel", id).must(t, 3)
	if !strings.Contains(again.stderr, "nothing_to_cancel") {
		t.Errorf("stderr: %q", again.stderr)
	}
}

func TestRefusals(t *testing.T) {
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	id := a.Project(tn.Key, "no code")
	c := newCLI(t, a, tn.Key)

	// RUN without an activation code: the API's 4xx, its code and message.
	want := a.Do("POST", "/api/tenant/projects/"+id+"/run", tn.Key, nil)
	if want.Status/100 != 4 {
		t.Fatalf("RUN without a code: %d %s", want.Status, want.Body)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(want.Body, &body); err != nil {
		t.Fatal(err)
	}
	r := c.run("", "run", id, "--follow").must(t, 3)
	if !strings.Contains(r.stderr, body.Error.Code) || !strings.Contains(r.stderr, body.Error.Message) {
		t.Errorf("stderr %q lacks the API's %s: %s", r.stderr, body.Error.Code, body.Error.Message)
	}

	// A wrong key is an auth error, no API a network error: both 4.
	bad := newCLI(t, a, apptest.Tampered(tn.Key))
	bad.run("", "whoami").must(t, 4)
	gone := newCLI(t, a, tn.Key)
	gone.url = "http://127.0.0.1:1"
	gone.run("", "projects", "list").must(t, 4)
	// No credential at all: 4; a bad command line: 64.
	none := newCLI(t, a, "")
	none.run("", "whoami").must(t, 4)
	none.run("", "whoami", "--api-key", tn.Key).must(t, 0) // the flag, with no Q2O_API_KEY
	c.run("", "run").must(t, exitUsage)
}

func TestCodes(t *testing.T) {
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	id := a.Project(tn.Key, "coded")
	c := newCLI(t, a, tn.Key)

	code := strings.TrimSpace(c.run("", "codes", "generate", "--count", "1").must(t, 0).stdout)
	if !regexp.MustCompile(`^[A-Z0-9]{5}(-[A-Z0-9]{5})+$`).MatchString(code) {
		t.Fatalf("codes generate printed %q", code)
	}
	var page struct {
		Items []struct{ Status string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.run("", "codes", "list", "--status", "available", "--output", "json").must(t, 0).stdout), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Fatalf("codes list: %+v", page)
	}
	c.run("", "assign", id, code).must(t, 0)
	r := c.run("", "assign", id, code).must(t, 3)
	if !strings.Contains(r.stderr, "HTTP 409") {
		t.Errorf("a second assign: %q", r.stderr)
	}
}

func TestDownload(t *testing.T) {
	a, tn, id := readyToRun(t, "--mode ok", "zipped")
	c := newCLI(t, a, tn.Key)
	eid := strings.TrimSpace(c.run("", "run", id).must(t, 0).stdout)
	c.run("", "follow", id).must(t, 0)
	c.run("", "follow", eid, "--output", "json").must(t, 0)
	// An id no project or run has is the API's 404 (exit 3); not an id, 64.
	if r := c.run("", "follow", "0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e").must(t, 3); !strings.Contains(r.stderr, "not_found") {
		t.Errorf("follow of an unknown id: %q", r.stderr)
	}
	c.run("", "follow", "nope").must(t, exitUsage)

	// download waits for the zip, then writes what the API serves.
	file := filepath.Join(t.TempDir(), "out.zip")
	c.run("", "download", id, "-o", file).must(t, 0)
	want := apiZip(t, a, tn.Key, id, eid)
	if got := readFile(t, file); !bytes.Equal(got, want) {
		t.Fatalf("the downloaded file (%d bytes) is not the API's zip (%d bytes)", len(got), len(want))
	}
	if _, err := os.Stat(file + ".part"); !os.IsNotExist(err) {
		t.Errorf("the .part file is left: %v", err)
	}

	// On a terminal (stderr) a bar shows the bytes; stdout stays the file's line.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fileTTY := filepath.Join(t.TempDir(), "tty.zip")
	cmd, stdout, _ := c.command(ctx, "", "download", id, "-o", fileTTY)
	cmd.Stderr = tty
	var bar bytes.Buffer
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(&bar, ptmx) }()
	runErr := cmd.Run()
	tty.Close()
	ptmx.Close()
	<-copied
	if runErr != nil {
		t.Fatalf("download with stderr on a terminal: %v", runErr)
	}
	if got := strings.TrimSpace(stdout.String()); !strings.HasPrefix(got, fileTTY+" (") || strings.Contains(got, "\n") {
		t.Errorf("stdout: %q", got)
	}
	if !strings.Contains(bar.String(), "downloading") || !strings.Contains(bar.String(), "100%") {
		t.Errorf("no download bar on the terminal: %q", bar.String())
	}

	// A part left by an interrupted download is resumed with Range.
	file2 := filepath.Join(t.TempDir(), "resumed.zip")
	if err := os.WriteFile(file2+".part", want[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	p := newCuttingProxy(t, a.URL, -1)
	c2 := newCLI(t, a, tn.Key)
	c2.url = p.url
	c2.run("", "download", id, "-o", file2).must(t, 0)
	if got := readFile(t, file2); !bytes.Equal(got, want) {
		t.Fatalf("the resumed file (%d bytes) is not the API's zip", len(got))
	}
	if r := p.ranges(); len(r) != 1 || r[0] != "bytes=100-" {
		t.Errorf("the downloads asked for %q, want one bytes=100-", r)
	}

	// A connection cut after the first bytes is resumed in the same command.
	file3 := filepath.Join(t.TempDir(), "cut.zip")
	p3 := newCuttingProxy(t, a.URL, 200)
	c3 := newCLI(t, a, tn.Key)
	c3.url = p3.url
	c3.run("", "download", id, "-o", file3).must(t, 0)
	if got := readFile(t, file3); !bytes.Equal(got, want) {
		t.Fatalf("the file cut and resumed (%d bytes) is not the API's zip", len(got))
	}
	if r := p3.ranges(); len(r) != 2 || r[0] != "" || r[1] != "bytes=200-" {
		t.Errorf("the downloads asked for %q, want the whole and then bytes=200-", r)
	}

	// --execution names the run.
	file5 := filepath.Join(t.TempDir(), "named.zip")
	c.run("", "download", id, "--execution", eid, "-o", file5).must(t, 0)
	if got := readFile(t, file5); !bytes.Equal(got, want) {
		t.Fatalf("download --execution: not the run's zip")
	}

	// A stale part (another zip's bytes) fails the SHA-256 check and is fetched again.
	file4 := filepath.Join(t.TempDir(), "stale.zip")
	if err := os.WriteFile(file4+".part", bytes.Repeat([]byte("x"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.run("", "download", id, "-o", file4).must(t, 0)
	if got := readFile(t, file4); !bytes.Equal(got, want) {
		t.Fatalf("the file after a stale part is not the API's zip")
	}
	if !strings.Contains(r.stderr, "SHA-256") {
		t.Errorf("the mismatch is not told: %q", r.stderr)
	}
}

// apiZip is the zip as the API serves it, checked against its ETag.
func apiZip(t *testing.T, a *apptest.App, key, id, eid string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", a.URL+"/api/tenant/projects/"+id+"/executions/"+eid+"/download", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("download: %d %v", res.StatusCode, err)
	}
	sum := sha256.Sum256(b)
	if etag := res.Header.Get("ETag"); etag != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Fatalf("ETag %s is not the SHA-256 of the body", etag)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cuttingProxy passes requests on to the API, records the Range of each
// download, and cuts the first download's body after cut bytes (never when
// cut < 0).
type cuttingProxy struct {
	url    string
	mu     sync.Mutex
	seen   []string
	cutOne atomic.Bool
}

func newCuttingProxy(t *testing.T, target string, cut int) *cuttingProxy {
	t.Helper()
	p := &cuttingProxy{}
	rp := reverseProxy(t, target)
	p.url = serve(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/download") || r.Method != http.MethodGet {
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.seen = append(p.seen, r.Header.Get("Range"))
		p.mu.Unlock()
		if cut < 0 || p.cutOne.Swap(true) {
			rp.ServeHTTP(w, r)
			return
		}
		rec := &cutWriter{ResponseWriter: w, left: cut}
		rp.ServeHTTP(rec, r)
		if rec.cut {
			panic(http.ErrAbortHandler) // drop the connection mid-body
		}
	})
	return p
}

func (p *cuttingProxy) ranges() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// cutWriter writes the first left bytes of a body and drops the rest.
type cutWriter struct {
	http.ResponseWriter
	left int
	cut  bool
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if len(b) > w.left {
		if w.left > 0 {
			_, _ = w.ResponseWriter.Write(b[:w.left])
			w.ResponseWriter.(http.Flusher).Flush()
		}
		w.left, w.cut = 0, true
		return 0, errors.New("cut")
	}
	w.left -= len(b)
	return w.ResponseWriter.Write(b)
}

func (w *cutWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func TestLoginThroughMailpit(t *testing.T) {
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	email := a.Profile(tn.Key).Email
	c := newCLI(t, a, "") // no API key: the stored session only

	// login reads the email, then the emailed code, from stdin.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, stdout, stderr := c.command(ctx, "", "login")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, email)
	mails := apptest.WaitMails(t, email, 1, 30*time.Second)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(mails[0].Text)
	if code == "" {
		t.Fatalf("no code in the mail: %q", mails[0].Text)
	}
	fmt.Fprintln(in, code)
	_ = in.Close()
	r := c.wait(cmd, cmd.Wait(), stdout, stderr).must(t, 0)
	if !strings.Contains(r.stdout, "Signed in as "+email) {
		t.Errorf("login said %q", r.stdout)
	}

	path := filepath.Join(c.config, "q2o", "credentials.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials.json mode %v, want 0600", fi.Mode().Perm())
	}
	var cr credentials
	if err := json.Unmarshal(readFile(t, path), &cr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cr.Token, "q2s_") || cr.URL != c.url {
		t.Errorf("stored %+v", cr)
	}

	// The stored session works, also with no Q2O_URL (its URL is kept).
	c.url = ""
	var who struct{ ID string }
	if err := json.Unmarshal([]byte(c.run("", "whoami", "--output", "json").must(t, 0).stdout), &who); err != nil {
		t.Fatal(err)
	}
	if who.ID != tn.ID {
		t.Errorf("whoami after login: %+v", who)
	}
	c.run("", "logout").must(t, 0)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("credentials.json after logout: %v", err)
	}
	// The session has ended on the server too.
	if got := a.Do("GET", "/api/tenant/profile", cr.Token, nil); got.Status != 401 {
		t.Errorf("the session after logout: %d", got.Status)
	}
	c.run("", "whoami").must(t, 4)
}

func TestFollowResumesAfterADroppedStream(t *testing.T) {
	a, tn, id := readyToRun(t, "--mode ok --seconds 1.5", "flaky network")
	p := newDroppingProxy(t, a.URL, "/api/tenant/events")
	c := newCLI(t, a, tn.Key)
	c.url = p.url

	r := c.run("", "run", id, "--follow").must(t, 0)
	for _, want := range []string{"10%  planning", "50%  writing code", "90%  testing", "100%  done", "completed 100%"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%q missed after the reconnection:\n%s", want, r.stdout)
		}
	}
	ids := p.lastEventIDs()
	if len(ids) < 2 || ids[0] != "" || ids[1] == "" || ids[1] != p.firstID() {
		t.Errorf("the streams were opened with Last-Event-ID %q, want \"\" and then %q", ids, p.firstID())
	}
	if !strings.Contains(r.stderr, "resuming after event "+p.firstID()) {
		t.Errorf("the reconnection is not told: %q", r.stderr)
	}
}

// droppingProxy passes requests on to the API and ends the first stream at
// its path after its first event.
type droppingProxy struct {
	url   string
	mu    sync.Mutex
	ids   []string // the Last-Event-ID of each stream opened
	first string   // the id of the event the first stream ended after
}

func newDroppingProxy(t *testing.T, target, stream string) *droppingProxy {
	t.Helper()
	p := &droppingProxy{}
	rp := reverseProxy(t, target)
	p.url = serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != stream {
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.ids = append(p.ids, r.Header.Get("Last-Event-ID"))
		drop := len(p.ids) == 1
		p.mu.Unlock()
		req, _ := http.NewRequestWithContext(r.Context(), "GET", target+r.URL.RequestURI(), nil)
		req.Header = r.Header.Clone()
		res, ok := forward(w, req)
		if !ok {
			return
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		w.(http.Flusher).Flush()
		br := bufio.NewReader(res.Body)
		id := ""
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = io.WriteString(w, line)
			w.(http.Flusher).Flush()
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = strings.TrimSpace(v)
			}
			if drop && line == "\n" && id != "" {
				p.mu.Lock()
				p.first = id
				p.mu.Unlock()
				return // the stream ends here, as a dropped connection does
			}
		}
	})
	return p
}

func (p *droppingProxy) lastEventIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ids...)
}

func (p *droppingProxy) firstID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

func TestRunFollowOnATerminalDrawsAProgressBar(t *testing.T) {
	a, tn, id := readyToRun(t, "--mode ok --seconds 1.5", "on a terminal")
	c := newCLI(t, a, tn.Key)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, _, _ := c.command(ctx, "", "run", id, "--follow")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var screen bytes.Buffer
	_, _ = io.Copy(&screen, tty) // until the CLI exits (EIO on Linux)
	err = cmd.Wait()
	out := screen.String()
	t.Logf("terminal output: %q", out)
	if err != nil {
		t.Fatalf("run --follow on a terminal: %v", err)
	}
	// The bar is redrawn in place (\r) as the run moves on: its percentage
	// goes up through main.py's PROGRESS lines, with their messages.
	if !strings.Contains(out, "\r") {
		t.Errorf("no bar redrawn in place: %q", out)
	}
	var seen []string
	for _, m := range regexp.MustCompile(`(\d+)% \|`).FindAllStringSubmatch(out, -1) {
		if len(seen) == 0 || seen[len(seen)-1] != m[1] {
			seen = append(seen, m[1])
		}
	}
	if !slices.Contains(seen, "10") || !slices.Contains(seen, "50") || seen[len(seen)-1] != "100" {
		t.Errorf("the bar went through %v, want 10, 50 … 100", seen)
	}
	for _, msg := range []string{"planning", "writing code", "completed"} {
		if !strings.Contains(out, msg) {
			t.Errorf("%q not shown on the terminal", msg)
		}
	}
	if plainLine.MatchString(out) {
		t.Errorf("plain lines on a terminal: %q", out)
	}
}

func TestLogsFollowResumesAfterADroppedStream(t *testing.T) {
	a, tn, id := readyToRun(t, "--mode ok --seconds 1.5", "flaky log")
	a.Run(tn.Key, id)
	a.AwaitProject(tn.Key, id, 30*time.Second, func(p models.Project) bool { return p.Progress >= 10 })
	p := newDroppingProxy(t, a.URL, "/api/tenant/projects/"+id+"/logs")
	c := newCLI(t, a, tn.Key)
	c.url = p.url

	r := c.run("", "logs", id, "-f").must(t, 0)
	done := a.AwaitProject(tn.Key, id, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	want := apptest.ReadFile(t, a.Paths(apptest.Deref(done.LatestExecutionID).String()).Log)
	if r.stdout != want {
		t.Errorf("the followed log, across a dropped stream, is not the run's log:\n%q\nwant\n%q", r.stdout, want)
	}
	if ids := p.lastEventIDs(); len(ids) < 2 || ids[0] != "" || ids[1] != p.firstID() {
		t.Errorf("the streams were opened with Last-Event-ID %q, want \"\" and then %q", ids, p.firstID())
	}
}

func TestInterruptedFollowExits130(t *testing.T) {
	f := followSleeper(t, "interrupted")
	time.Sleep(200 * time.Millisecond) // the follower is on the stream
	if err := f.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r := f.wait().must(t, 130)
	if !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("stderr: %q", r.stderr)
	}
	// The run goes on: ^C stops watching, not the run.
	if s := apptest.StatusOf(f.a.GetProject(f.tn.Key, f.id)); s != models.StatusRunning {
		t.Errorf("the run after ^C: %v", s)
	}
}
