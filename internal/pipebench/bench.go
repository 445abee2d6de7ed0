// Package pipebench measures what q2o's orchestration costs around main.py:
// a real `q2o api` and `q2o worker`, each its own process, on a private
// Postgres (with pg_stat_statements) and a private Redis, push N runs
// through the public HTTP API, and the same runner is then driven by raw
// asynq and by raw exec in the same invocation, for the ratios.
//
// CPU comes from /proc (the api; the worker with the main.py processes it
// waited for; the postmaster with every backend, live or exited; Redis),
// statements from pg_stat_statements (the api and the worker connect as
// roles of their own), writing transactions from the transaction ids taken,
// Redis commands from INFO commandstats, and round trips from MONITOR on a
// separate, smaller burst (MONITOR slows Redis).
package pipebench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Options says what to measure.
type Options struct {
	Runs        int           // runs in the burst
	Runner      string        // Q2O_RUNNER; "python3" alone runs a do-nothing main.py
	Concurrency int           // the worker's slots, asynq's and exec's
	Sandbox     bool          // Q2O_SANDBOX=on (needs root and the q2o-run user)
	Q2O         string        // a built q2o binary; empty: go build one
	Idle        time.Duration // how long the idle worker is watched
	Timeout     time.Duration // for each burst to be zipped
	Keep        bool          // keep the temporary folder (logs) for a look
	Held        int           // runs held running on one worker (heartbeats, pause); 0: not measured

	runnerLine string
}

// CPU is CPU milliseconds per run.
type CPU struct {
	Total          float64 `json:"total"`
	API            float64 `json:"api"`
	Worker         float64 `json:"worker"`          // with its children
	WorkerChildren float64 `json:"worker_children"` // main.py
	Postgres       float64 `json:"postgres"`
	Redis          float64 `json:"redis"`
}

// SQL is per run, from POST to zip recorded.
type SQL struct {
	Statements          float64 `json:"statements"` // transaction control left out
	API                 float64 `json:"api_statements"`
	Worker              float64 `json:"worker_statements"`
	Transactions        float64 `json:"explicit_transactions"` // BEGIN blocks
	WritingTransactions float64 `json:"writing_transactions"`  // transaction ids taken
	Rollbacks           float64 `json:"rollbacks"`
}

// Redis is per run.
type Redis struct {
	Commands    float64 `json:"commands"`    // INFO commandstats, those inside Lua included
	Scripts     float64 `json:"scripts"`     // EVAL/EVALSHA/FCALL
	RoundTrips  float64 `json:"round_trips"` // commands clients sent (MONITOR burst)
	InLua       float64 `json:"in_lua"`      // commands scripts called (MONITOR burst)
	MonitorRuns int     `json:"monitor_runs"`
}

// Percentiles are milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

// Latency is from the executions table's timestamps.
type Latency struct {
	PostToStarted    Percentiles `json:"post_to_started"` // queued_at → started_at, in the burst
	FinishedToZipped Percentiles `json:"finished_to_zipped"`
	Pickup           Percentiles `json:"pickup"` // queued_at → started_at, one run at a time on an idle worker
	PickupRuns       int         `json:"pickup_runs"`
}

// Idle is per second with no work.
type Idle struct {
	Seconds       float64 `json:"seconds"`
	WorkerCPUms   float64 `json:"worker_cpu_ms_per_sec"`
	APICPUms      float64 `json:"api_cpu_ms_per_sec"`
	PostgresCPUms float64 `json:"postgres_cpu_ms_per_sec"`
	RedisCPUms    float64 `json:"redis_cpu_ms_per_sec"`
	RedisCommands float64 `json:"redis_commands_per_sec"`
	Statements    float64 `json:"sql_statements_per_sec"`
}

// Pipeline is q2o's figures.
type Pipeline struct {
	RunsPerSec float64 `json:"runs_per_sec"` // first POST to last zip
	Seconds    float64 `json:"seconds"`
	CPU        CPU     `json:"cpu_ms_per_run"`
	SQL        SQL     `json:"sql_per_run"`
	Redis      Redis   `json:"redis_per_run"`
	Latency    Latency `json:"latency"`
	Idle       Idle    `json:"idle"`
	// Statements is the burst's SQL statement by statement, per run.
	Statements []Statement `json:"statements"`
}

// Ratios compare q2o with the baselines (q2o ÷ baseline).
type Ratios struct {
	RunsPerSecVsAsynq float64 `json:"runs_per_sec_vs_asynq"`
	RunsPerSecVsExec  float64 `json:"runs_per_sec_vs_exec"`
	CPUVsAsynq        float64 `json:"cpu_per_run_vs_asynq"`
	CPUVsExec         float64 `json:"cpu_per_run_vs_exec"`
}

// Result is one invocation's figures.
type Result struct {
	Date        string   `json:"date"`
	Machine     string   `json:"machine"`
	Load        string   `json:"load"` // /proc/loadavg at the start: others' work skews the figures
	Runs        int      `json:"runs"`
	Runner      string   `json:"runner"`
	RunnerLine  string   `json:"runner_line"` // what the worker ran (Q2O_RUNNER)
	Concurrency int      `json:"concurrency"`
	Sandbox     bool     `json:"sandbox"`
	Q2O         Pipeline `json:"q2o"`
	Held        *Held    `json:"held,omitempty"`
	RawAsynq    Baseline `json:"raw_asynq"`
	RawExec     Baseline `json:"raw_exec"`
	Ratios      Ratios   `json:"ratios"`
}

// Run measures q2o and the baselines. It needs Debian's postgresql (with
// its contrib's pg_stat_statements), redis-server and Go on the machine.
func Run(ctx context.Context, o Options) (_ Result, err error) {
	if o.Runs < 1 || o.Concurrency < 1 {
		return Result{}, fmt.Errorf("runs and concurrency must be at least 1")
	}
	dir, err := os.MkdirTemp("", "q2o-bench-")
	if err != nil {
		return Result{}, err
	}
	if o.Keep {
		fmt.Fprintln(os.Stderr, "q2o-bench: logs and data in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	o.runnerLine = o.Runner
	if strings.TrimSpace(o.Runner) == "python3" {
		script, err := writeScript(dir)
		if err != nil {
			return Result{}, err
		}
		o.runnerLine = pythonExecutable(ctx) + " " + script
	}
	argv := strings.Fields(o.runnerLine)
	if len(argv) == 0 {
		return Result{}, fmt.Errorf("no runner")
	}
	bin := o.Q2O
	if bin == "" {
		if bin, err = BuildQ2O(ctx, dir); err != nil {
			return Result{}, err
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		return Result{}, err
	}

	pg, err := startPostgres(ctx)
	if err != nil {
		return Result{}, err
	}
	defer pg.stop()
	rds, err := startRedis(ctx, dir)
	if err != nil {
		return Result{}, err
	}
	defer rds.stop()

	res := Result{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine(), Load: loadavg(), Runs: o.Runs,
		Runner: o.Runner, RunnerLine: o.runnerLine,
		Concurrency: o.Concurrency, Sandbox: o.Sandbox}
	if res.Q2O, err = measureQ2O(ctx, o, dir, bin, pg, rds); err != nil {
		return Result{}, err
	}
	if o.Held > 0 {
		h, err := measureHeld(ctx, o, dir, bin, pg, rds, o.Held)
		if err != nil {
			return Result{}, fmt.Errorf("held runs: %w", err)
		}
		res.Held = &h
	}
	if _, err := rds.client.FlushAll(ctx).Result(); err != nil {
		return Result{}, err
	}
	if res.RawAsynq, err = rawAsynq(ctx, rds, argv, o.Runs, o.Concurrency, 50*time.Millisecond); err != nil {
		return Result{}, fmt.Errorf("raw asynq: %w", err)
	}
	if res.RawExec, err = rawExec(ctx, argv, o.Runs, o.Concurrency); err != nil {
		return Result{}, fmt.Errorf("raw exec: %w", err)
	}
	res.Ratios = Ratios{RunsPerSecVsAsynq: ratio(res.Q2O.RunsPerSec, res.RawAsynq.RunsPerSec),
		RunsPerSecVsExec: ratio(res.Q2O.RunsPerSec, res.RawExec.RunsPerSec),
		CPUVsAsynq:       ratio(res.Q2O.CPU.Total, res.RawAsynq.CPUmsPerRun),
		CPUVsExec:        ratio(res.Q2O.CPU.Total, res.RawExec.CPUmsPerRun)}
	return res, nil
}

func delta(a, b map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range b {
		if v-a[k] != 0 {
			d[k] = v - a[k]
		}
	}
	return d
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.5) - 1
		return float64(s[max(0, min(i, len(s)-1))]) / float64(time.Millisecond)
	}
	return Percentiles{P50: at(0.50), P99: at(0.99)}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// pythonExecutable is the system's python3 (Debian's starts in ~10 ms of
// CPU), else the interpreter python3 resolves to: a version manager's shim
// (pyenv's is a shell script) and its site-packages would otherwise be
// measured as part of main.py, the same in q2o and the baselines but
// swamping what is compared (pyenv's 3.11 here: ~100 ms a start).
func pythonExecutable(ctx context.Context) string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if p := strings.TrimSpace(string(out)); err == nil && filepath.IsAbs(p) {
		return p
	}
	return "python3"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// machine names the CPU and its cores, for the README's record.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d × %s", runtime.NumCPU(), model)
}
