package pipebench

import (
	"context"
	"fmt"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// Baseline is what the same runner costs without q2o around it.
type Baseline struct {
	RunsPerSec   float64 `json:"runs_per_sec"`
	CPUmsPerRun  float64 `json:"cpu_ms_per_run"`          // this process, its children, and Redis for asynq
	RedisPerRun  float64 `json:"redis_commands_per_run"`  // asynq only
	RedisCPUms   float64 `json:"redis_cpu_ms_per_run"`    // asynq only
	ProcessCPUms float64 `json:"process_cpu_ms_per_run"`  // the client, the server and main.py
	ChildCPUms   float64 `json:"children_cpu_ms_per_run"` // main.py alone
	Seconds      float64 `json:"seconds"`
}

func execOnce(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %v\n%s", argv, err, out)
	}
	return nil
}

// rawAsynq enqueues n tasks with an asynq client and runs them on an asynq
// server of concurrency slots in this process, each task exec'ing argv:
// the floor q2o's queueing is compared with.
func rawAsynq(ctx context.Context, rds *redisServer, argv []string, n, concurrency int, poll time.Duration) (Baseline, error) {
	opt := asynq.RedisClientOpt{Addr: rds.addr, DB: 1}
	var done atomic.Int64
	var failed atomic.Pointer[error]
	finished := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:run", func(ctx context.Context, _ *asynq.Task) error {
		if err := execOnce(ctx, argv); err != nil {
			failed.CompareAndSwap(nil, &err)
		}
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: concurrency, TaskCheckInterval: poll,
		Logger: quietLogger{}, LogLevel: asynq.ErrorLevel})
	if err := srv.Start(mux); err != nil {
		return Baseline{}, err
	}
	defer srv.Shutdown()
	client := asynq.NewClient(opt)
	defer client.Close()
	time.Sleep(500 * time.Millisecond) // the server's first poll and heartbeat

	cpu0, rcpu0 := selfCPU(), rds.cpu()
	kids0 := childCPU()
	cmds0, err := rds.commandStats(ctx)
	if err != nil {
		return Baseline{}, err
	}
	t0 := time.Now()
	for range n {
		if _, err := client.EnqueueContext(ctx, asynq.NewTask("bench:run", nil), asynq.MaxRetry(0)); err != nil {
			return Baseline{}, err
		}
	}
	select {
	case <-finished:
	case <-ctx.Done():
		return Baseline{}, ctx.Err()
	}
	el := time.Since(t0)
	cpu, rcpu, kids := selfCPU()-cpu0, rds.cpu()-rcpu0, childCPU()-kids0
	cmds1, err := rds.commandStats(ctx)
	if err != nil {
		return Baseline{}, err
	}
	if err := failed.Load(); err != nil {
		return Baseline{}, *err
	}
	return Baseline{RunsPerSec: float64(n) / el.Seconds(), CPUmsPerRun: perRun(cpu+rcpu, n), ProcessCPUms: perRun(cpu, n),
		ChildCPUms: perRun(kids, n), RedisCPUms: perRun(rcpu, n), RedisPerRun: float64(sum(delta(cmds0, cmds1))) / float64(n),
		Seconds: el.Seconds()}, nil
}

// rawExec runs argv n times on concurrency goroutines: the floor of all.
func rawExec(ctx context.Context, argv []string, n, concurrency int) (Baseline, error) {
	cpu0, kids0 := selfCPU(), childCPU()
	t0 := time.Now()
	err := parallel(n, concurrency, func(int) error { return execOnce(ctx, argv) })
	el := time.Since(t0)
	if err != nil {
		return Baseline{}, err
	}
	cpu, kids := selfCPU()-cpu0, childCPU()-kids0
	return Baseline{RunsPerSec: float64(n) / el.Seconds(), CPUmsPerRun: perRun(cpu, n), ProcessCPUms: perRun(cpu, n),
		ChildCPUms: perRun(kids, n), Seconds: el.Seconds()}, nil
}

func perRun(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Millisecond) / float64(n)
}

// quietLogger drops asynq's log lines: the table is the output.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}
