// Command q2o-bench is the pipeline benchmark (`make bench-pipeline`): a real
// q2o api and worker on a private Postgres and Redis, N runs through the
// HTTP API, and raw asynq and raw exec running the same runner beside it.
// It prints one table, or JSON with --json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/q2o/q2o/internal/pipebench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "q2o-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("q2o-bench", flag.ContinueOnError)
	var o pipebench.Options
	fs.IntVar(&o.Runs, "runs", 200, "runs pushed through the API in the burst")
	fs.StringVar(&o.Runner, "runner", "true", `the command the worker runs (Q2O_RUNNER); "python3" runs a do-nothing main.py`)
	fs.IntVar(&o.Concurrency, "concurrency", 4, "the worker's concurrency, and the baselines'")
	fs.BoolVar(&o.Sandbox, "sandbox", false, "run main.py in the worker's sandbox (needs root and the q2o-run user)")
	fs.StringVar(&o.Q2O, "q2o", "", "a built q2o binary (default: go build one)")
	fs.DurationVar(&o.Idle, "idle", 5*time.Second, "how long the idle worker is watched")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long a burst may take to be zipped")
	fs.IntVar(&o.Held, "held", 50, "runs held running on one worker, for heartbeat statements/s and pause latency (0: skip)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary folder with the api's and worker's logs")
	asJSON := fs.Bool("json", false, "print JSON instead of the table (the statements always in it)")
	statements := fs.Bool("statements", false, "also print the burst's SQL statements, per run and role")
	compare := fs.String("compare", "", "an earlier --json output: also print every figure beside it, with the ratio")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var before []byte
	if *compare != "" {
		var err error
		if before, err = os.ReadFile(*compare); err != nil {
			return err
		}
	}
	res, err := pipebench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if err := pipebench.WriteTable(stdout, res); err != nil {
		return err
	}
	if *statements {
		if err := pipebench.WriteStatements(stdout, res); err != nil {
			return err
		}
	}
	if before != nil {
		return pipebench.WriteComparison(stdout, before, res)
	}
	return nil
}
