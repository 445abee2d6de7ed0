package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/q2o/q2o/internal/pipebench"
)

// The benchmark keeps building and working: five runs, and every figure is
// there with a plausible value (timings are not asserted).
func TestBenchPipelineSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, Redis, the api and a worker")
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--runs", "5", "--idle", "1s", "--held", "3", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var r pipebench.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.Bytes())
	}
	q := r.Q2O
	positive := map[string]float64{
		"q2o runs/s": q.RunsPerSec, "raw asynq runs/s": r.RawAsynq.RunsPerSec, "raw exec runs/s": r.RawExec.RunsPerSec,
		"q2o CPU per run": q.CPU.Total, "worker CPU": q.CPU.Worker,
		"api statements": q.SQL.API, "worker statements": q.SQL.Worker, "transactions": q.SQL.Transactions,
		"writing transactions": q.SQL.WritingTransactions, "Redis commands": q.Redis.Commands,
		"Redis scripts": q.Redis.Scripts, "round trips": q.Redis.RoundTrips, "inside Lua": q.Redis.InLua,
		"asynq Redis commands": r.RawAsynq.RedisPerRun, "POST→started p50": q.Latency.PostToStarted.P50,
		"pickup p50":   q.Latency.Pickup.P50,
		"idle seconds": q.Idle.Seconds, "ratio vs asynq": r.Ratios.RunsPerSecVsAsynq, "ratio vs exec": r.Ratios.RunsPerSecVsExec,
	}
	for name, v := range positive {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	// Sane bounds, far from what any version of q2o should come near.
	if math.Abs(q.SQL.Statements-(q.SQL.API+q.SQL.Worker)) > 0.01 || q.SQL.Statements > 1000 { // per-run means: compare within rounding
		t.Errorf("statements per run %v (api %v + worker %v)", q.SQL.Statements, q.SQL.API, q.SQL.Worker)
	}
	// CPU comes from /proc in 10 ms clock ticks: over five runs a process
	// that costs a millisecond or two a run may show none at all.
	if q.CPU.API < 0 || q.CPU.Postgres < 0 || r.RawAsynq.CPUmsPerRun < 0 || r.RawExec.CPUmsPerRun < 0 {
		t.Errorf("negative CPU: q2o %+v, raw asynq %v, raw exec %v", q.CPU, r.RawAsynq.CPUmsPerRun, r.RawExec.CPUmsPerRun)
	}
	if q.CPU.Total > 10_000 || q.CPU.WorkerChildren > q.CPU.Worker {
		t.Errorf("CPU per run %+v", q.CPU)
	}
	// The zip is recorded in the statement that records the run's end, so
	// finished→zipped is 0 unless the fallback task made it.
	if q.Latency.FinishedToZipped.P50 < 0 || q.Latency.FinishedToZipped.P99 < q.Latency.FinishedToZipped.P50 {
		t.Errorf("finished→zipped %+v", q.Latency.FinishedToZipped)
	}
	if len(q.Statements) == 0 || q.Statements[0].PerRun <= 0 || q.Statements[0].Query == "" {
		t.Errorf("no per-statement breakdown: %+v", q.Statements)
	}
	if q.Latency.PostToStarted.P99 < q.Latency.PostToStarted.P50 || q.Latency.Pickup.P99 < q.Latency.Pickup.P50 {
		t.Errorf("p99 below p50: %+v", q.Latency)
	}
	// An idle worker waits in Redis (worker/wake.go) rather than polls: in
	// the smoke test's short idle window it may send no command at all.
	if q.Idle.WorkerCPUms < 0 || q.Idle.RedisCommands < 0 || q.Idle.Statements < 0 {
		t.Errorf("idle %+v: negative figures", q.Idle)
	}
	// Three runs held running: their leases are renewed, and a pause stops
	// every main.py.
	if h := r.Held; h == nil || h.Runs != 3 || !(h.LeaseStatements > 0) || h.LeaseStatements > h.WorkerStatements || !(h.PauseMs > 0) {
		t.Errorf("held runs: %+v", r.Held)
	}
	if r.Runs != 5 || r.Concurrency != 4 || r.Runner != "true" || r.Date == "" || r.Machine == "" {
		t.Errorf("the run's description: %+v", r)
	}

	var table bytes.Buffer
	if err := pipebench.WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	var stmts bytes.Buffer
	if err := pipebench.WriteStatements(&stmts, r); err != nil || !strings.Contains(stmts.String(), "calls/run") ||
		!strings.Contains(stmts.String(), "api") || !strings.Contains(stmts.String(), "worker") {
		t.Errorf("--statements: %v\n%s", err, stmts.String())
	}
	for _, label := range []string{"runs/s", "CPU ms per run", "api", "worker", "Postgres", "Redis", "SQL statements",
		"transactions", "Redis commands", "round trips", "POST→started", "finished→zipped", "pickup", "idle worker CPU", "q2o/asynq"} {
		if !strings.Contains(table.String(), label) {
			t.Errorf("the table has no %q row:\n%s", label, table.String())
		}
	}

	var cmp bytes.Buffer
	if err := pipebench.WriteComparison(&cmp, out.Bytes(), r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"q2o.runs_per_sec", "q2o.sql_per_run.statements", "raw_asynq.runs_per_sec", "1.00×"} {
		if !strings.Contains(cmp.String(), want) {
			t.Errorf("the comparison with itself has no %q:\n%s", want, cmp.String())
		}
	}
}
