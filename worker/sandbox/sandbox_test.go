//go:build linux

package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/q2o/q2o/worker/sandbox"
)

// HostileScript is the test's hostile main.py.
func hostileScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "hostile.py")
}

func config(t *testing.T) sandbox.Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the sandbox tests need root (make test runs as root in CI)")
	}
	uid, gid, err := sandbox.LookupUser("q2o-run")
	if err != nil {
		t.Fatalf("%v (scripts/services.sh creates it; `make test` runs it)", err)
	}
	return sandbox.Config{UID: uid, GID: gid, Network: true, MemoryBytes: 2 << 30, Processes: 256, FileBytes: 64 << 20}
}

// layout is an output root with the project folder, another project's
// folder with a secret, and _artifacts, as the worker makes them.
type layout struct {
	root, dir, other, outside string
}

func newLayout(t *testing.T) layout {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Tenant_Projects")
	l := layout{root: root, dir: filepath.Join(root, "p1"), other: filepath.Join(root, "p2"),
		outside: filepath.Join(t.TempDir(), "outside.txt")}
	for _, d := range []string{l.dir, l.other, filepath.Join(root, "_artifacts", "p2")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.other, "secret.txt"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

type report struct {
	UID           int               `json:"uid"`
	Cwd           string            `json:"cwd"`
	Name          string            `json:"name"`
	Env           map[string]string `json:"env"`
	Root          []string          `json:"root"`
	Pids          []int             `json:"pids"`
	SecretFoundIn []int             `json:"secret_found_in"`
	Attempts      map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"-"`
	raw map[string]json.RawMessage
}

func (r report) ok(key string) (bool, string) {
	var a struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.raw[key], &a); err != nil {
		return true, "missing: " + key
	}
	return a.OK, a.Error
}

// run starts argv in the sandbox and waits for it.
func run(t *testing.T, cfg sandbox.Config, dir string, env []string, argv ...string) (sandbox.Result, string) {
	t.Helper()
	if err := sandbox.Prepare(dir, cfg, ""); err != nil {
		t.Fatal(err)
	}
	cmd, result, err := sandbox.Command(cfg, sandbox.Run{Argv: argv, Env: env, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pdeathsig = true, syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	res, err := result()
	if err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	return res, out.String()
}

func readReport(t *testing.T, dir string) report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("main.py wrote no report: %v", err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r.raw); err != nil {
		t.Fatal(err)
	}
	return r
}

// markerAlive reports whether a process whose command line holds marker
// is alive anywhere on the machine (zombies do not count).
func markerAlive(marker string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err == nil {
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(fields) > 0 && fields[0] == "Z" {
				continue
			}
		}
		var pid int
		fmt.Sscan(e.Name(), &pid)
		pids = append(pids, pid)
	}
	return pids
}

func TestMainPyReachesOnlyItsFolder(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	l := newLayout(t)
	secret := fmt.Sprintf("worker-secret-%d", time.Now().UnixNano())
	// A process of the worker's user with a secret in its environment, as
	// the worker has (Go's Setenv does not reach /proc/self/environ).
	holder := exec.Command("sleep", "30")
	holder.Env = []string{"Q2O_ADMIN_TOKEN=" + secret}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", holder.Process.Pid)); err != nil || !bytes.Contains(b, []byte(secret)) {
		t.Fatalf("the secret holder's environ does not show the secret: %v", err)
	}
	env := []string{"PATH=" + sandbox.PATH, "HOME=/tmp", "Q2O_PROJECT_ID=p1"}
	res, out := run(t, cfg, l.dir, env, "python3", hostileScript(), "--project-name=--help", "--secret="+secret,
		"--other="+l.other, "--outside="+l.outside, "--net=127.0.0.1:6379")
	if !res.Reported || res.ExitCode != 0 {
		t.Fatalf("main.py: %+v: %s", res, out)
	}
	r := readReport(t, l.dir)
	if r.UID != cfg.UID {
		t.Errorf("main.py ran as uid %d, want the runner user's %d", r.UID, cfg.UID)
	}
	if r.Cwd != l.dir {
		t.Errorf("working directory %s, want the project folder %s at its own path", r.Cwd, l.dir)
	}
	if r.Name != "--help" {
		t.Errorf("a name starting with -- arrived as %q", r.Name)
	}
	if len(r.SecretFoundIn) > 0 {
		t.Errorf("the worker's secret was readable in /proc/%v/environ", r.SecretFoundIn)
	}
	if len(r.Pids) > 4 {
		t.Errorf("main.py sees %d processes (%v): not only its own", len(r.Pids), r.Pids)
	}
	want := map[string]string{"PATH": sandbox.PATH, "HOME": "/tmp", "Q2O_PROJECT_ID": "p1"}
	for k, v := range r.Env {
		if want[k] != v && k != "PWD" && k != "LC_CTYPE" {
			t.Errorf("main.py's environment has %s=%q, which it was not given", k, v)
		}
	}
	// The system folders, plus the top folder of each path the run is given
	// at its own place: the project folder and main.py (CI clones the
	// repository anywhere, /work or /check).
	shown := []string{"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "sbin", "tmp", "usr", "var"}
	for _, p := range []string{l.dir, hostileScript()} {
		shown = append(shown, strings.Split(strings.TrimPrefix(p, "/"), "/")[0])
	}
	for _, entry := range r.Root {
		if !slices.Contains(shown, entry) {
			t.Errorf("/ holds %q, which the sandbox should not show", entry)
		}
	}
	for key, wantOK := range map[string]bool{"read_other": false, "write_other": false, "read_artifacts": false,
		"write_outside": false, "write_usr": false, "write_tmp": true, "ppid_environ": false, "net": true} {
		if ok, msg := r.ok(key); ok != wantOK {
			t.Errorf("%s: ok=%v (%s), want %v", key, ok, msg, wantOK)
		}
	}
	if _, err := os.Stat(filepath.Join(l.other, "pwned")); err == nil {
		t.Error("main.py wrote into another project's folder")
	}
	if _, err := os.Stat(l.outside); err == nil {
		t.Error("main.py wrote outside every project")
	}
	if _, err := os.Stat("/tmp/mine"); err == nil {
		t.Error("main.py's /tmp is the machine's /tmp")
	}
}

func TestNetworkOff(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.Network = false
	l := newLayout(t)
	res, out := run(t, cfg, l.dir, []string{"PATH=" + sandbox.PATH}, "python3", hostileScript(), "--net=127.0.0.1:6379")
	if res.ExitCode != 0 {
		t.Fatalf("main.py: %+v: %s", res, out)
	}
	if ok, _ := readReport(t, l.dir).ok("net"); ok {
		t.Error("with the network off main.py reached Redis on 127.0.0.1:6379")
	}
}

func TestDaemonsDieWithTheRun(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	l := newLayout(t)
	marker := fmt.Sprintf("q2o-daemon-%d", time.Now().UnixNano())
	res, out := run(t, cfg, l.dir, []string{"PATH=" + sandbox.PATH}, "python3", hostileScript(), "--daemon="+marker)
	if res.ExitCode != 0 {
		t.Fatalf("main.py: %+v: %s", res, out)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "daemon.txt")); err != nil {
		t.Fatalf("the daemon never ran: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(markerAlive(marker)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := markerAlive(marker); len(pids) > 0 {
		t.Fatalf("main.py's daemon %v outlived the run", pids)
	}
	before, _ := os.ReadFile(filepath.Join(l.dir, "daemon.txt"))
	time.Sleep(200 * time.Millisecond)
	after, _ := os.ReadFile(filepath.Join(l.dir, "daemon.txt"))
	if len(after) != len(before) {
		t.Error("something still writes into the folder after the run")
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.FileBytes = 4 << 20
	l := newLayout(t)
	res, out := run(t, cfg, l.dir, []string{"PATH=" + sandbox.PATH}, "python3", hostileScript(), "--fill=16777216")
	if res.ExitCode == 0 && res.Signal == "" {
		t.Errorf("writing 16 MiB under a 4 MiB file limit succeeded: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(l.dir, "fill.bin")); err == nil && fi.Size() > cfg.FileBytes {
		t.Errorf("fill.bin is %d bytes, over the %d limit", fi.Size(), cfg.FileBytes)
	}
}

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.MemoryBytes = 256 << 20
	l := newLayout(t)
	res, out := run(t, cfg, l.dir, []string{"PATH=" + sandbox.PATH}, "python3", hostileScript(), "--alloc=1073741824")
	if res.ExitCode != 0 {
		t.Fatalf("main.py: %+v: %s", res, out)
	}
	if ok, msg := readReport(t, l.dir).ok("alloc"); ok {
		t.Error("main.py allocated 1 GiB under a 256 MiB limit")
	} else if !strings.Contains(msg, "MemoryError") {
		t.Errorf("the allocation failed otherwise: %s", msg)
	}
	// Within the limit it works.
	l2 := newLayout(t)
	if res, out := run(t, cfg, l2.dir, []string{"PATH=" + sandbox.PATH}, "python3", hostileScript(), "--alloc=16777216"); res.ExitCode != 0 {
		t.Fatalf("main.py: %+v: %s", res, out)
	}
	if ok, msg := readReport(t, l2.dir).ok("alloc"); !ok {
		t.Errorf("16 MiB under a 256 MiB limit: %s", msg)
	}
}

func TestMissingProgram(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	l := newLayout(t)
	cmd, result, err := sandbox.Command(cfg, sandbox.Run{Argv: []string{"no-such-program-q2o"}, Dir: l.dir})
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := result(); err == nil || !strings.Contains(err.Error(), "no-such-program-q2o") {
		t.Errorf("a missing program: %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	if err := sandbox.Check(config(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sandbox.LookupUser("root"); err == nil {
		t.Error("root accepted as the runner user")
	}
	if _, _, err := sandbox.LookupUser("no-such-user-q2o"); err == nil || !strings.Contains(err.Error(), "useradd") {
		t.Errorf("a missing user: %v", err)
	}
}
