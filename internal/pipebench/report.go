package pipebench

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteTable prints the result as one aligned table: q2o's figure, the raw
// asynq and raw exec ones where they exist, and q2o ÷ asynq. Each row is
// per run unless it says otherwise.
func WriteTable(w io.Writer, r Result) error {
	sandbox := "off"
	if r.Sandbox {
		sandbox = "on"
	}
	fmt.Fprintf(w, "q2o pipeline: %d runs of %q, concurrency %d, sandbox %s — %s, %s, load %s\n\n",
		r.Runs, r.RunnerLine, r.Concurrency, sandbox, r.Date, r.Machine, r.Load)
	q, a, e := r.Q2O, r.RawAsynq, r.RawExec
	var rows [][]string
	row := func(cells ...string) { rows = append(rows, cells) }
	f := func(v float64) string {
		switch {
		case v >= 100:
			return fmt.Sprintf("%.0f", v)
		case v >= 10:
			return fmt.Sprintf("%.1f", v)
		default:
			return fmt.Sprintf("%.2f", v)
		}
	}
	x := func(v float64) string { return fmt.Sprintf("%.2f×", v) }
	pp := func(p Percentiles) string { return fmt.Sprintf("%s / %s", f(p.P50), f(p.P99)) }
	row("figure", "q2o", "raw asynq", "raw exec", "q2o/asynq")
	row("runs/s (first POST to last zip)", f(q.RunsPerSec), f(a.RunsPerSec), f(e.RunsPerSec), x(r.Ratios.RunsPerSecVsAsynq))
	row("  q2o/exec", "", "", "", x(r.Ratios.RunsPerSecVsExec))
	row("CPU ms per run, all processes", f(q.CPU.Total), f(a.CPUmsPerRun), f(e.CPUmsPerRun), x(r.Ratios.CPUVsAsynq))
	row("  api", f(q.CPU.API), "", "", "")
	row("  worker (with main.py)", f(q.CPU.Worker), f(a.ProcessCPUms), f(e.ProcessCPUms), "")
	row("    main.py alone", f(q.CPU.WorkerChildren), f(a.ChildCPUms), f(e.ChildCPUms), "")
	row("  Postgres backends", f(q.CPU.Postgres), "", "", "")
	row("  Redis", f(q.CPU.Redis), f(a.RedisCPUms), "", "")
	row("SQL statements per run", f(q.SQL.Statements), "", "", "")
	row("  api", f(q.SQL.API), "", "", "")
	row("  worker", f(q.SQL.Worker), "", "", "")
	row("  BEGIN…COMMIT transactions", f(q.SQL.Transactions), "", "", "")
	row("  writing transactions (xids)", f(q.SQL.WritingTransactions), "", "", "")
	row("  rollbacks", f(q.SQL.Rollbacks), "", "", "")
	row("Redis commands per run (with Lua's)", f(q.Redis.Commands), f(a.RedisPerRun), "", x(ratio(q.Redis.Commands, a.RedisPerRun)))
	row("  scripts (EVAL/EVALSHA)", f(q.Redis.Scripts), "", "", "")
	row(fmt.Sprintf("  round trips (MONITOR, %d runs)", q.Redis.MonitorRuns), f(q.Redis.RoundTrips), "", "", "")
	row("  called inside Lua (MONITOR)", f(q.Redis.InLua), "", "", "")
	row("POST→started ms p50 / p99 (burst)", pp(q.Latency.PostToStarted), "", "", "")
	row("finished→zipped ms p50 / p99", pp(q.Latency.FinishedToZipped), "", "", "")
	row(fmt.Sprintf("pickup ms p50 / p99 (idle, %d runs)", q.Latency.PickupRuns), pp(q.Latency.Pickup), "", "", "")
	row(fmt.Sprintf("idle worker CPU ms/s (%.0f s)", q.Idle.Seconds), f(q.Idle.WorkerCPUms), "", "", "")
	row("  idle api / Postgres / Redis CPU ms/s",
		fmt.Sprintf("%s / %s / %s", f(q.Idle.APICPUms), f(q.Idle.PostgresCPUms), f(q.Idle.RedisCPUms)), "", "", "")
	row("  idle Redis commands/s, SQL/s", fmt.Sprintf("%s, %s", f(q.Idle.RedisCommands), f(q.Idle.Statements)), "", "", "")
	if h := r.Held; h != nil {
		row(fmt.Sprintf("%d runs held running on one worker (%.0f s):", h.Runs, h.Seconds), "", "", "", "")
		row("  worker SQL statements/s, all", f(h.WorkerStatements), "", "", "")
		row("    lease renewals/s", f(h.LeaseStatements), "", "", "")
		row("  worker CPU ms/s", f(h.WorkerCPUms), "", "", "")
		row("  pause → every main.py gone, ms", f(h.PauseMs), "", "", "")
	}
	return writeAligned(w, rows)
}

// writeAligned pads the first column on the right and the figures on the
// left, so the numbers line up.
func writeAligned(w io.Writer, rows [][]string) error {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		line := ""
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				line += c + pad
			} else {
				line += "  " + pad + c
			}
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteStatements prints the burst's statements, per run, by role: where
// the SQL of a run goes.
func WriteStatements(w io.Writer, r Result) error {
	fmt.Fprintf(w, "\nSQL statements per run, by role (pg_stat_statements, %d runs):\n\n", r.Runs)
	var b strings.Builder
	fmt.Fprintf(&b, "%9s  %7s  %-6s  %s\n", "calls/run", "ms/call", "role", "statement")
	for _, s := range r.Q2O.Statements {
		fmt.Fprintf(&b, "%9.2f  %7.3f  %-6s  %s\n", s.PerRun, s.MeanMs, s.Role, s.Query)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
