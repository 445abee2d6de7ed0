package pipebench

import (
	"context"
	"fmt"
	"time"
)

// cpuSnapshot is every process's CPU at one moment.
type cpuSnapshot struct{ api, worker, workerKids, pg, redis time.Duration }

func snapshotCPU(s *stack) cpuSnapshot {
	w, _ := readProc(s.worker.pid())
	return cpuSnapshot{api: cpuOf(s.api.pid()), worker: w.self + w.children, workerKids: w.children,
		pg: s.pg.cpu(), redis: s.rds.cpu()}
}

func (a cpuSnapshot) sub(b cpuSnapshot) cpuSnapshot {
	return cpuSnapshot{a.api - b.api, a.worker - b.worker, a.workerKids - b.workerKids, a.pg - b.pg, a.redis - b.redis}
}

// counters is every counter at one moment.
type counters struct {
	at   time.Time
	cpu  cpuSnapshot
	cmds map[string]int64
	xid  int64
}

// window is what the counters say happened between begin and end.
type window struct {
	took  time.Duration
	cpu   cpuSnapshot
	cmds  map[string]int64 // Redis calls by command
	xids  int64
	roles map[string]sqlCounts
}

// begin resets pg_stat_statements and reads the counters.
func (s *stack) begin(ctx context.Context) (counters, error) {
	if err := s.pg.reset(ctx); err != nil {
		return counters{}, err
	}
	return s.read(ctx)
}

func (s *stack) read(ctx context.Context) (c counters, err error) {
	if c.xid, err = s.pg.nextXID(ctx); err != nil {
		return c, err
	}
	if c.cmds, err = s.rds.commandStats(ctx); err != nil {
		return c, err
	}
	c.cpu, c.at = snapshotCPU(s), time.Now()
	return c, nil
}

func (s *stack) end(ctx context.Context, c0 counters) (window, error) {
	c1, err := s.read(ctx)
	if err != nil {
		return window{}, err
	}
	roles, err := s.pg.byRole(ctx)
	return window{took: c1.at.Sub(c0.at), cpu: c1.cpu.sub(c0.cpu), cmds: delta(c0.cmds, c1.cmds), xids: c1.xid - c0.xid, roles: roles}, err
}

// measureQ2O runs the q2o phases: a warm-up, the burst, idle, one run at a
// time (pickup), and a burst under MONITOR.
func measureQ2O(ctx context.Context, o Options, dir, bin string, pg *postgres, rds *redisServer) (Pipeline, error) {
	const warm = 2
	pickups, monitored := min(o.Runs, 20), min(o.Runs, 50)
	s, err := startStack(ctx, o, dir, bin, pg, rds, warm+o.Runs+pickups+monitored)
	if err != nil {
		return Pipeline{}, err
	}
	defer s.stop()
	projects, err := s.newProjects(ctx, warm+o.Runs+pickups+monitored)
	if err != nil {
		return Pipeline{}, err
	}
	take := func(n int) []string { p := projects[:n]; projects = projects[n:]; return p }
	if _, err := s.runAll(ctx, take(warm), 1, o.Timeout); err != nil {
		return Pipeline{}, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(500 * time.Millisecond)

	var out Pipeline
	// The burst.
	burst := take(o.Runs)
	c0, err := s.begin(ctx)
	if err != nil {
		return out, err
	}
	t0 := c0.at
	execs, err := s.runAll(ctx, burst, 2*o.Concurrency, o.Timeout)
	if err != nil {
		return out, err
	}
	w, err := s.end(ctx, c0)
	if err != nil {
		return out, err
	}
	cpu, roles, n := w.cpu, w.roles, o.Runs
	out.CPU = CPU{API: perRun(cpu.api, n), Worker: perRun(cpu.worker, n), WorkerChildren: perRun(cpu.workerKids, n),
		Postgres: perRun(cpu.pg, n), Redis: perRun(cpu.redis, n)}
	out.CPU.Total = out.CPU.API + out.CPU.Worker + out.CPU.Postgres + out.CPU.Redis
	api, wk := roles[roleAPI], roles[roleWorker]
	per := func(v int64) float64 { return float64(v) / float64(n) }
	out.SQL = SQL{Statements: per(api.Statements + wk.Statements), API: per(api.Statements), Worker: per(wk.Statements),
		Transactions: per(api.Explicit + wk.Explicit), WritingTransactions: per(w.xids), Rollbacks: per(api.Rollbacks + wk.Rollbacks)}
	if out.Statements, err = s.pg.statements(ctx, n); err != nil {
		return out, err
	}
	d := w.cmds
	out.Redis.Commands = per(sum(d))
	out.Redis.Scripts = per(d["eval"] + d["evalsha"] + d["fcall"] + d["eval_ro"] + d["evalsha_ro"])
	times, err := s.times(ctx, execs)
	if err != nil {
		return out, err
	}
	var started, zipped []time.Duration
	last := t0
	for _, t := range times {
		started = append(started, t.started.Sub(t.queued))
		zipped = append(zipped, t.zipped.Sub(t.finished))
		if t.zipped.After(last) {
			last = t.zipped
		}
	}
	out.Seconds = last.Sub(t0).Seconds()
	out.RunsPerSec = float64(n) / out.Seconds
	out.Latency.PostToStarted, out.Latency.FinishedToZipped = percentiles(started), percentiles(zipped)

	// Idle: nothing to do.
	time.Sleep(time.Second)
	if c0, err = s.begin(ctx); err != nil {
		return out, err
	}
	time.Sleep(o.Idle)
	if w, err = s.end(ctx, c0); err != nil {
		return out, err
	}
	el := w.took.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / el }
	out.Idle = Idle{Seconds: el, WorkerCPUms: ms(w.cpu.worker), APICPUms: ms(w.cpu.api), PostgresCPUms: ms(w.cpu.pg),
		RedisCPUms: ms(w.cpu.redis), RedisCommands: float64(sum(w.cmds)) / el,
		Statements: float64(w.roles[roleAPI].Statements+w.roles[roleWorker].Statements) / el}

	// Pickup: one run at a time, at different moments of the worker's poll.
	var pickup []time.Duration
	for i, p := range take(pickups) {
		time.Sleep(time.Duration(20+(i*37)%100) * time.Millisecond)
		ex, err := s.runAll(ctx, []string{p}, 1, o.Timeout)
		if err != nil {
			return out, fmt.Errorf("pickup: %w", err)
		}
		t, err := s.times(ctx, ex)
		if err != nil {
			return out, err
		}
		pickup = append(pickup, t[0].started.Sub(t[0].queued))
	}
	out.Latency.Pickup, out.Latency.PickupRuns = percentiles(pickup), pickups

	// Round trips: a burst under MONITOR.
	m, err := rds.startMonitor()
	if err != nil {
		return out, err
	}
	_, err = s.runAll(ctx, take(monitored), 2*o.Concurrency, o.Timeout)
	sent, inLua := m.stop()
	if err != nil {
		return out, fmt.Errorf("monitored burst: %w", err)
	}
	out.Redis.RoundTrips, out.Redis.InLua = float64(sent)/float64(monitored), float64(inLua)/float64(monitored)
	out.Redis.MonitorRuns = monitored
	return out, nil
}
