package cluster_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/cluster"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// api talks to one API host.
type api struct {
	t     *testing.T
	base  string
	admin string
}

func apiOf(t *testing.T, c *cluster.Cluster, host string) api {
	return api{t: t, base: c.APIURL(host), admin: c.Get("ADMIN_TOKEN")}
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// do sends a request and returns the answer's body: see testenv.API.
func (a api) do(method, path, token string, body any, want int) []byte {
	a.t.Helper()
	return testenv.API{T: a.t, Base: a.base, HTTP: httpClient}.Do(method, path, token, body, want)
}

func call[T any](a api, method, path, token string, body any, want int) T {
	a.t.Helper()
	return testenv.Call[T](testenv.API{T: a.t, Base: a.base, HTTP: httpClient}, method, path, token, body, want)
}

type tenant struct{ id, key string }

var seq atomic.Int64

func (a api) tenant(name string) tenant {
	a.t.Helper()
	m := call[apptest.CreatedTenant](a, "POST", "/api/admin/tenants", a.admin, map[string]any{"name": name,
		"email": fmt.Sprintf("%s-%d-%d@example.com", strings.ToLower(name), time.Now().UnixNano(), seq.Add(1)),
		"plan":  "pro", "subscription_status": "active"}, http.StatusCreated)
	return tenant{m.ID.String(), m.APIKey}
}

// run is one run the test submitted: where, and its ids.
type run struct {
	via                string // the API host it was submitted through
	project, execution string
}

// run creates a project whose description tells the test main.py what to
// do (`seconds=N bytes=N`), gives it a code and presses RUN.
func (a api) run(via string, tn tenant, name, description string) run {
	a.t.Helper()
	p := call[models.Project](a, "POST", "/api/tenant/projects", tn.key,
		map[string]any{"name": name, "description": description, "objectives": "o"}, http.StatusCreated)
	codes := call[apptest.IssuedCodes](a, "POST", "/api/admin/tenants/"+tn.id+"/activation-codes", a.admin,
		map[string]any{"count": 1}, http.StatusCreated)
	if len(codes.Codes) != 1 {
		a.t.Fatalf("codes: %+v, want one", codes)
	}
	a.do("POST", "/api/tenant/projects/"+p.ID.String()+"/assign-activation-code", tn.key,
		map[string]any{"code": codes.Codes[0].Code}, http.StatusOK)
	r := call[apptest.RunAccepted](a, "POST", "/api/tenant/projects/"+p.ID.String()+"/run", tn.key, nil, http.StatusAccepted)
	return run{via: via, project: p.ID.String(), execution: r.ExecutionID.String()}
}

func ids(runs []run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.execution)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// executions reads the rows of these executions, by id.
func executions(t *testing.T, gdb *gorm.DB, execs []string) map[string]models.Execution {
	t.Helper()
	var rows []models.Execution
	if err := gdb.Where("id IN ?", execs).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]models.Execution{}
	for _, e := range rows {
		out[e.ID.String()] = e
	}
	return out
}

// allIn reports whether every one of execs is in status, and a summary.
func allIn(t *testing.T, gdb *gorm.DB, execs []string, status models.ExecutionStatus) (bool, string) {
	rows := executions(t, gdb, execs)
	var b strings.Builder
	ok := len(rows) == len(execs)
	for _, id := range execs {
		e := rows[id]
		fmt.Fprintf(&b, "%s:%s/%d@%s ", id[:8], e.Status, e.Attempt, hostOf(e))
		ok = ok && e.Status == status
	}
	return ok, b.String()
}

// hostOf is the host whose worker holds (or last held) e: worker ids start
// with the hostname, and each host has its own.
func hostOf(e models.Execution) string {
	if e.WorkerID == nil {
		return "-"
	}
	host, _, _ := strings.Cut(*e.WorkerID, ":")
	return host
}

// start is one start of main.py, as it recorded it on its host.
type start struct {
	host string
	pid  int
}

// starts reads every worker host's starts file: execution id → its starts.
func starts(t *testing.T, c *cluster.Cluster) map[string][]start {
	t.Helper()
	out := map[string][]start{}
	for _, host := range cluster.Workers {
		b, err := os.ReadFile(filepath.Join(c.HostDir(host), "starts"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			pid, _ := strconv.Atoi(f[2])
			if f[1] != host {
				t.Errorf("a start on %s says it ran on %s", host, f[1])
			}
			out[f[0]] = append(out[f[0]], start{host: host, pid: pid})
		}
	}
	return out
}

// checkStarts fails the test unless each of execs started main.py exactly
// as many times as its row has attempts: each attempt once, none twice.
func checkStarts(t *testing.T, c *cluster.Cluster, gdb *gorm.DB, execs []string) map[string][]start {
	t.Helper()
	return checkStartsAtMost(t, c, gdb, execs, true)
}

// checkStartsAtMost is checkStarts where an attempt may have died before
// main.py started (its worker killed, or the Redis it was talking to): each
// of execs started main.py at most as many times as its row has attempts,
// and at least once.
func checkStartsAtMost(t *testing.T, c *cluster.Cluster, gdb *gorm.DB, execs []string, exact bool) map[string][]start {
	t.Helper()
	st := starts(t, c)
	rows := executions(t, gdb, execs)
	for _, id := range execs {
		got, attempts := len(st[id]), rows[id].Attempt
		if got > attempts || got == 0 || exact && got != attempts {
			t.Errorf("execution %s: main.py started %d times (%v), its row has %d attempts", id, got, st[id], attempts)
		}
	}
	return st
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
