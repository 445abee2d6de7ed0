package pipebench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Held is what runs that stay running cost, and how fast a pause stops
// them: Runs main.py processes that sleep, all running on one worker.
type Held struct {
	Runs int `json:"runs"`
	// Seconds is the window the statements were counted over.
	Seconds float64 `json:"seconds"`
	// WorkerStatements is every SQL statement the worker sent per second
	// while the runs were held (lease renewals and anything else).
	WorkerStatements float64 `json:"worker_statements_per_sec"`
	// LeaseStatements is the statements per second that renew leases.
	LeaseStatements float64 `json:"lease_statements_per_sec"`
	// WorkerCPUms is the worker's CPU per second while they were held.
	WorkerCPUms float64 `json:"worker_cpu_ms_per_sec"`
	// PauseMs is from the admin's past_due answer to the last main.py gone.
	PauseMs float64 `json:"pause_ms"`
}

// heldScript is a main.py that runs until it is stopped.
const heldScript = "#!/bin/sh\nexec sleep 3600\n"

// measureHeld starts a worker with n slots whose main.py sleeps, presses
// RUN on n projects, counts the worker's statements per second once every
// run is running, then marks the tenant past_due (which pauses at once, no
// grace) and times until no main.py is left.
func measureHeld(ctx context.Context, o Options, dir, bin string, pg *postgres, rds *redisServer, n int) (Held, error) {
	script := filepath.Join(dir, "held.sh")
	if err := os.WriteFile(script, []byte(heldScript), 0o755); err != nil {
		return Held{}, err
	}
	ho := o
	ho.runnerLine, ho.Concurrency = script, n
	s, err := startStack(ctx, ho, dir, bin, pg, rds, n)
	if err != nil {
		return Held{}, err
	}
	defer s.stop()
	projects, err := s.newProjects(ctx, n)
	if err != nil {
		return Held{}, err
	}
	execs := make([]string, n)
	err = parallel(n, 8, func(i int) error {
		var r struct {
			ExecutionID string `json:"execution_id"`
		}
		err := s.call(ctx, "/api/tenant/projects/"+projects[i]+"/run", nil, &r)
		execs[i] = r.ExecutionID
		return err
	})
	if err != nil {
		return Held{}, err
	}
	if err := waitFor(ctx, o.Timeout, func() (bool, error) {
		running, err := s.running(ctx, execs)
		return running == n && len(children(s.worker.pid())) >= n, err
	}); err != nil {
		return Held{}, fmt.Errorf("held runs never all running: %w (logs in %s)", err, dir)
	}
	time.Sleep(2 * time.Second) // past the first renewals of each run
	c0, err := s.begin(ctx)
	if err != nil {
		return Held{}, err
	}
	time.Sleep(max(o.Idle, 5*time.Second))
	w, err := s.end(ctx, c0)
	if err != nil {
		return Held{}, err
	}
	lease, err := s.pg.callsMatching(ctx, roleWorker, "SET lease_until")
	if err != nil {
		return Held{}, err
	}
	el := w.took.Seconds()
	out := Held{Runs: n, Seconds: el, WorkerStatements: float64(w.roles[roleWorker].Statements) / el,
		LeaseStatements: float64(lease) / el, WorkerCPUms: float64(w.cpu.worker) / float64(time.Millisecond) / el}

	t0 := time.Now()
	body := map[string]string{"status": "past_due"}
	if err := s.send(ctx, "PUT", "/api/admin/tenants/"+s.tenantID+"/subscription", adminToken, body, nil); err != nil {
		return out, err
	}
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		return len(children(s.worker.pid())) == 0, nil
	}); err != nil {
		return out, fmt.Errorf("main.py still running after the pause: %w", err)
	}
	out.PauseMs = float64(time.Since(t0)) / float64(time.Millisecond)
	return out, nil
}

// running counts the executions among execs that are running.
func (s *stack) running(ctx context.Context, execs []string) (n int, err error) {
	err = s.pg.conn.QueryRow(ctx, `SELECT count(*) FROM executions WHERE id = ANY($1::uuid[]) AND status = 'running'`,
		execs).Scan(&n)
	return n, err
}

// callsMatching is the calls by role since the last reset of the
// statements whose text holds part.
func (p *postgres) callsMatching(ctx context.Context, role, part string) (n int64, err error) {
	err = p.conn.QueryRow(ctx, `SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s
		JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1 AND strpos(s.query, $2) > 0`, role, part).Scan(&n)
	return n, err
}

// children is the pids of pid's child processes (main.py's, for a worker).
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// waitFor polls ok every 10 ms until it holds, fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, ok func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
