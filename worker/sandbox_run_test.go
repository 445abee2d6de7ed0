package worker_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/worker"
)

// Sandboxed runs through a real worker: what a hostile main.py can reach,
// and that nothing it starts outlives its run, however the run ends.

func sandboxedWorker(t *testing.T, a *apptest.App, flags string) worker.Config {
	t.Helper()
	cfg := a.WorkerConfig()
	cfg.Runner = "python3 " + apptest.HostileMainPy() + " " + flags
	cfg.Sandbox = apptest.Sandbox(t)
	return cfg
}

// readyNamed is ReadyProject with a name of the test's choosing.
func readyNamed(t *testing.T, a *apptest.App, tn apptest.Tenant, name string) string {
	t.Helper()
	pid := a.CreateProject(tn.Key, name, "d", "o")
	_, code := a.Code(tn.ID, nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	return pid
}

func TestSandboxedRunReachesOnlyItsFolder(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	// The worker's own environment is a separate process's in the e2e test
	// (internal/e2e, TestSandboxKillNineLeavesNothing); here a process of
	// the worker's user holds the secret.
	secret := fmt.Sprintf("worker-secret-%d", time.Now().UnixNano())
	holder := exec.Command("sleep", "60")
	holder.Env = []string{"Q2O_DATABASE_URL=postgres://q2o:" + secret + "@db/q2o"}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	other := filepath.Join(a.OutputRoot, "01a23000-0000-7000-8000-00000000beef")
	if err := os.MkdirAll(filepath.Join(a.OutputRoot, "_artifacts", filepath.Base(other)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "secret.txt"), []byte("another tenant's"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside.txt")
	a.StartWorker(sandboxedWorker(t, a, "--secret="+secret+" --other="+other+" --outside="+outside))
	tn := a.NewTenant("active")
	pid := readyNamed(t, a, tn, "--help")
	run(t, a, tn, pid)
	p := a.AwaitProject(tn.Key, pid, 60*time.Second, func(p models.Project) bool {
		s := apptest.StatusOf(p)
		return s == models.StatusCompleted || s == models.StatusFailed
	})
	if apptest.StatusOf(p) != models.StatusCompleted {
		t.Fatalf("the run %s: %v", apptest.StatusOf(p), apptest.Deref(p.ExecutionError))
	}
	dir := apptest.Deref(p.OutputFolderPath)
	var r struct {
		UID           int               `json:"uid"`
		Cwd           string            `json:"cwd"`
		Name          string            `json:"name"`
		Env           map[string]string `json:"env"`
		SecretFoundIn []int             `json:"secret_found_in"`
	}
	raw := apptest.ReadFile(t, filepath.Join(dir, "report.json"))
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	var attempts map[string]json.RawMessage
	_ = json.Unmarshal([]byte(raw), &attempts)
	if r.UID == os.Geteuid() {
		t.Errorf("main.py ran as the worker's user %d", r.UID)
	}
	if r.Cwd != dir {
		t.Errorf("main.py ran in %s, not its folder at the path the API reports (%s)", r.Cwd, dir)
	}
	if r.Name != "--help" {
		t.Errorf("a project named --help reached main.py as %q", r.Name)
	}
	if len(r.SecretFoundIn) > 0 {
		t.Errorf("the worker's secret was readable in /proc/%v/environ", r.SecretFoundIn)
	}
	for name := range r.Env {
		switch {
		case name == "PATH", name == "HOME", name == "LANG", name == "TZ", name == "PYTHONUNBUFFERED", name == "PWD", name == "LC_CTYPE",
			strings.HasPrefix(name, "Q2O_") && strings.HasSuffix(name, "_ID"), name == "Q2O_OUTPUT_DIR", name == "Q2O_PROGRESS_FILE":
		default:
			t.Errorf("main.py's environment holds %s", name)
		}
	}
	for _, key := range []string{"read_other", "write_other", "read_artifacts", "write_outside", "write_usr"} {
		var at struct{ OK bool }
		_ = json.Unmarshal(attempts[key], &at)
		if at.OK || attempts[key] == nil {
			t.Errorf("%s: main.py could (%s)", key, attempts[key])
		}
	}
	if _, err := os.Stat(filepath.Join(other, "pwned")); err == nil {
		t.Error("main.py wrote into another project's folder")
	}
	if _, err := os.Stat(outside); err == nil {
		t.Error("main.py wrote outside every project")
	}
	// The client's zip holds the project's own files only.
	eid := apptest.Deref(p.LatestExecutionID).String()
	var res apptest.Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		res = a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eid+"/download", tn.Key, nil)
		if res.Status != http.StatusAccepted || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res.Status != 200 {
		t.Fatalf("download: %d %s", res.Status, res.Body)
	}
	zr, err := zip.NewReader(bytes.NewReader(res.Body), int64(len(res.Body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name != "report.json" {
			t.Errorf("the zip holds %s, which main.py did not write in its own folder", f.Name)
		}
	}
}

// Every way a run ends takes main.py's daemons with it.
func TestSandboxedRunsLeaveNoProcess(t *testing.T) {
	t.Parallel()
	type ending struct {
		name, flags string
		status      models.ExecutionStatus
		setup       func(cfg *worker.Config)
		end         func(a *apptest.App, tn apptest.Tenant, pid string)
	}
	endings := []ending{
		{name: "completed", status: "completed"},
		{name: "failed", flags: "--exit=1", status: "failed"},
		{name: "timed out", flags: "--sleep=60 --stubborn", status: "failed",
			setup: func(cfg *worker.Config) { cfg.RunTimeout = 4 * time.Second }},
		{name: "cancelled", flags: "--sleep=60 --stubborn", status: "cancelled",
			end: func(a *apptest.App, tn apptest.Tenant, pid string) {
				a.Cancel(tn.Key, pid)
			}},
		{name: "paused by billing", flags: "--sleep=60 --stubborn", status: "paused",
			end: func(a *apptest.App, tn apptest.Tenant, _ string) {
				a.SetSubscription(tn.ID, models.SubPastDue)
			}},
	}
	for _, e := range endings {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			a := apptest.New(t, apptest.Options{})
			marker := fmt.Sprintf("q2o-daemon-%d", time.Now().UnixNano())
			cfg := sandboxedWorker(t, a, "--daemon="+marker+" "+e.flags)
			if e.setup != nil {
				e.setup(&cfg)
			}
			a.StartWorker(cfg)
			tn := a.NewTenant("active")
			pid := readyNamed(t, a, tn, "daemon "+e.name)
			run(t, a, tn, pid)
			dir := filepath.Join(a.OutputRoot, pid)
			waitFile(t, filepath.Join(dir, "daemon.txt"), 30*time.Second)
			if e.end != nil {
				e.end(a, tn, pid)
			}
			p := a.AwaitProject(tn.Key, pid, 60*time.Second, apptest.HasStatus(e.status))
			// Within the kill grace, nothing of the run is left.
			deadline := time.Now().Add(cfg.KillGrace + 2*time.Second)
			for len(apptest.ProcessesWith(marker)) > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if pids := apptest.ProcessesWith(marker); len(pids) > 0 {
				t.Fatalf("%s run (%v): main.py's daemon %v is still alive", e.name, apptest.Deref(p.ExecutionError), pids)
			}
			before, _ := os.ReadFile(filepath.Join(dir, "daemon.txt"))
			time.Sleep(300 * time.Millisecond)
			after, _ := os.ReadFile(filepath.Join(dir, "daemon.txt"))
			if len(after) != len(before) {
				t.Error("something still writes into the folder after the run ended")
			}
		})
	}
}

func TestSandboxedRunOverItsOutputLimitFails(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := sandboxedWorker(t, a, "--fill=268435456 --slow")
	cfg.Sandbox.FileBytes = 0 // no per-file limit: the folder's own limit stops it
	cfg.OutputLimit = 8 << 20
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := readyNamed(t, a, tn, "filler")
	run(t, a, tn, pid)
	p := a.AwaitProject(tn.Key, pid, 60*time.Second, apptest.HasStatus(models.StatusFailed))
	if msg := apptest.Deref(p.ExecutionError); !strings.Contains(msg, "Q2O_RUNNER_OUTPUT_LIMIT (8MiB)") {
		t.Errorf("execution_error: %q", msg)
	}
	// The folder is measured every second (runner.DefaultOutputCheck); at
	// about 100 MiB/s the run is stopped long before its 256 MiB are out.
	if fi, err := os.Stat(filepath.Join(a.OutputRoot, pid, "fill.bin")); err != nil || fi.Size() > 200<<20 {
		t.Errorf("fill.bin: %v, %v: the run was not stopped soon after passing its limit", fi, err)
	}
}

func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
