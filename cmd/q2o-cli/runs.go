package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// runState is where a run stands: from the API's project and execution, or
// from one live event (a ProjectEvent).
type runState struct {
	ExecutionID string    `json:"execution_id"`
	Kind        string    `json:"kind"`
	Status      string    `json:"status"`
	Progress    int       `json:"progress"`
	Message     string    `json:"message"`
	At          time.Time `json:"at"`
}

// finished reports whether a run in status s has ended.
func finished(s string) bool {
	switch s {
	case "completed", "failed", "paused", "cancelled":
		return true
	}
	return false
}

// outcome is the exit of a command that followed a run to status s.
func outcome(s string) error {
	switch s {
	case "completed":
		return nil
	case "failed":
		return &exitError{code: exitFailed}
	default:
		return &exitError{code: exitStopped}
	}
}

// execution is the part of the API's Execution the CLI reads.
type execution struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Error      *string   `json:"error"`
	ExitCode   *int      `json:"exit_code"`
	ZipSHA256  *string   `json:"zip_sha256"`
	ZipSize    *int64    `json:"zip_size"`
	StartedAt  *string   `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt *string   `json:"finished_at"`
}

// state reads where execution eid of the project stands now.
func (c *client) state(ctx context.Context, projectID, eid string) (runState, execution, error) {
	var ex execution
	if _, err := c.getJSON(ctx, "/api/tenant/projects/"+escape(projectID)+"/executions/"+escape(eid), &ex); err != nil {
		return runState{}, ex, err
	}
	st := runState{ExecutionID: eid, Kind: ex.Status, Status: ex.Status, At: time.Now().UTC()}
	var p project
	if _, err := c.getJSON(ctx, "/api/tenant/projects/"+escape(projectID), &p); err != nil {
		return runState{}, ex, err
	}
	if str(p.LatestExecutionID) == eid {
		st.Progress, st.Message = p.Progress, p.ProgressMessage
	}
	return st, ex, nil
}

// latestExecution is the project's latest execution, or an error when it
// never ran.
func (c *client) latestExecution(ctx context.Context, projectID string) (string, error) {
	var p project
	if _, err := c.getJSON(ctx, "/api/tenant/projects/"+escape(projectID), &p); err != nil {
		return "", err
	}
	if p.LatestExecutionID == nil {
		return "", &exitError{code: exitRefused, msg: "the project has never run"}
	}
	return *p.LatestExecutionID, nil
}

// retryable reports whether a failed request may work when tried again: no
// answer, or a 503.
func retryable(err error) bool {
	var ne *networkError
	var ae *apiError
	return errors.As(err, &ne) || (errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable)
}

// follow shows execution eid of the project live until it ends, and returns
// its final state. It listens to the tenant's events, reconnecting with
// Last-Event-ID after a dropped connection so that no event is missed, and
// reads the run's state each time the stream is (re)opened, so a run that
// ended while the stream was down is seen to have ended.
func (c *client) follow(ctx context.Context, projectID, eid string, v view) (runState, execution, error) {
	lastID := ""
	wait := reconnectFirst
	var failingSince time.Time
	retry := func(err error) error {
		if ctx.Err() != nil || !retryable(err) {
			return err
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > giveUp {
			return err
		}
		v.note(fmt.Sprintf("%v; reconnecting", err))
		if !backoff(ctx, &wait) {
			return ctx.Err()
		}
		return nil
	}
	for {
		s, err := c.openSSE(ctx, "/api/tenant/events", lastID)
		if err != nil {
			if err := retry(err); err != nil {
				return runState{}, execution{}, err
			}
			continue
		}
		st, ex, err := c.state(ctx, projectID, eid)
		if err != nil {
			s.Close()
			if err := retry(err); err != nil {
				return runState{}, execution{}, err
			}
			continue
		}
		failingSince, wait = time.Time{}, reconnectFirst
		v.show(st)
		if finished(st.Status) {
			s.Close()
			return st, ex, nil
		}
		for {
			ev, err := s.next()
			if err != nil {
				break
			}
			if ev.ID != "" {
				lastID = ev.ID
			}
			var pe runState
			if json.Unmarshal([]byte(ev.Data), &pe) != nil || pe.ExecutionID != eid {
				continue
			}
			v.show(pe)
			if finished(pe.Status) {
				break // read the final state (error, zip) below
			}
		}
		s.Close()
		if ctx.Err() != nil {
			return runState{}, execution{}, ctx.Err()
		}
		if st, ex, err := c.state(ctx, projectID, eid); err == nil && finished(st.Status) {
			return st, ex, nil
		}
		if lastID != "" {
			v.note("the connection dropped; resuming after event " + lastID)
		}
	}
}

// view shows a followed run.
type view interface {
	show(runState)
	logLine(string)           // a line of the run's log (--log)
	note(string)              // a remark (reconnecting), on stderr
	done(runState, execution) // the end
}

// newView is a progress bar when stdout is a terminal, JSON lines with
// --output json, plain timestamped lines otherwise.
func (e *env) newView() view {
	switch {
	case e.json():
		return &jsonView{e: e}
	case isTerminal(e.stdout):
		return newBarView(e)
	}
	return &lineView{e: e}
}

// lineView prints one timestamped line per change.
type lineView struct {
	e    *env
	mu   sync.Mutex
	last string
}

func (l *lineView) logLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.e.stdout, "  | "+s)
}

func (l *lineView) show(st runState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := st.At
	if at.IsZero() {
		at = time.Now()
	}
	msg, _, _ := strings.Cut(st.Message, "\n") // a failure's stderr tail goes to stderr, in the summary
	text := fmt.Sprintf("%-9s %3d%%  %s", st.Status, st.Progress, msg)
	if text == l.last {
		return
	}
	l.last = text
	fmt.Fprintf(l.e.stdout, "%s  %s\n", at.UTC().Format(time.RFC3339), text)
}

func (l *lineView) note(s string) { fmt.Fprintln(l.e.stderr, "q2o-cli:", s) }

func (l *lineView) done(st runState, ex execution) { summary(l.e.stdout, l.e.stderr, st, ex) }

// jsonView prints each state as one JSON line (the API's ProjectEvent).
type jsonView struct {
	e  *env
	mu sync.Mutex
}

func (j *jsonView) logLine(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"kind": "log", "message": s})
	fmt.Fprintf(j.e.stdout, "%s\n", b)
}

func (j *jsonView) show(st runState) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, _ := json.Marshal(st)
	fmt.Fprintf(j.e.stdout, "%s\n", b)
}
func (j *jsonView) note(s string) { fmt.Fprintln(j.e.stderr, "q2o-cli:", s) }
func (j *jsonView) done(_ runState, ex execution) {
	if ex.Status == "failed" && ex.Error != nil {
		fmt.Fprintln(j.e.stderr, "q2o-cli: the run failed:", *ex.Error)
	}
}

// barView is a progress bar with the status, the progress message and the
// elapsed time, redrawn in place: at each change, and every second so the
// elapsed time moves while main.py is quiet.
type barView struct {
	e    *env
	bar  *progressbar.ProgressBar
	mu   sync.Mutex
	desc string
	stop chan struct{}
	wg   sync.WaitGroup
}

func newBarView(e *env) *barView {
	b := &barView{e: e, stop: make(chan struct{}), bar: progressbar.NewOptions(100,
		progressbar.OptionSetWriter(e.stdout),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionShowCount(),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.mu.Lock()
				b.bar.Describe(b.desc) // redraws with the elapsed time
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *barView) show(st runState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.desc = fmt.Sprintf("%-9s %s", st.Status, st.Message)
	_ = b.bar.Set(st.Progress)
	b.bar.Describe(b.desc)
}

func (b *barView) logLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.bar.Clear()
	fmt.Fprintln(b.e.stdout, s)
	b.bar.Describe(b.desc) // the bar again, under the line
}

func (b *barView) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.bar.Clear()
	fmt.Fprintln(b.e.stderr, "q2o-cli:", s)
}

func (b *barView) done(st runState, ex execution) {
	close(b.stop)
	b.wg.Wait()
	if st.Status == "completed" {
		_ = b.bar.Finish()
	} else {
		_ = b.bar.Exit()
	}
	fmt.Fprintln(b.e.stdout)
	summary(b.e.stdout, b.e.stderr, st, ex)
}

// summary prints how the run ended.
func summary(stdout, stderr io.Writer, st runState, ex execution) {
	switch st.Status {
	case "completed":
		fmt.Fprintf(stdout, "run %s completed\n", ex.ID)
	case "failed":
		msg := "the run failed"
		if ex.Error != nil {
			msg += ": " + *ex.Error
		}
		fmt.Fprintln(stderr, "q2o-cli:", msg)
	default:
		msg := "run " + ex.ID + " " + st.Status
		if ex.Error != nil {
			msg += ": " + *ex.Error
		}
		fmt.Fprintln(stderr, "q2o-cli:", msg)
	}
}

// followAndExit follows the run and turns its end into the exit code; with
// withLog the run's log is shown as it grows.
func (e *env) followAndExit(ctx context.Context, c *client, projectID, eid string, withLog bool) error {
	v := e.newView()
	var logDone chan struct{}
	logCtx, stopLog := context.WithCancel(ctx)
	defer stopLog()
	if withLog {
		logDone = make(chan struct{})
		go func() {
			defer close(logDone)
			q := url.Values{"tail": {"10000"}, "execution_id": {eid}}
			_, _ = c.streamLog(logCtx, "/api/tenant/projects/"+escape(projectID)+"/logs?", q, v.logLine, v.note)
		}()
	}
	st, ex, err := c.follow(ctx, projectID, eid, v)
	if logDone != nil {
		// The log ends once it is drained after the run's end; do not wait
		// long for it.
		select {
		case <-logDone:
		case <-time.After(logDrain):
		}
		stopLog()
		<-logDone
	}
	if err != nil {
		return err
	}
	v.done(st, ex)
	return outcome(st.Status)
}

// logDrain is how long a followed run waits, after its end, for the rest of
// its log (--log).
const logDrain = 10 * time.Second

// startRun sends RUN or resume and, with follow, follows the new run.
func (e *env) startRun(cmd *cobra.Command, projectID, action string, followIt, withLog bool) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	var started struct {
		ExecutionID string `json:"execution_id"`
		Status      string `json:"status"`
	}
	raw, err := c.call(cmd.Context(), http.MethodPost, "/api/tenant/projects/"+escape(projectID)+"/"+action, nil, &started)
	if err != nil {
		return err
	}
	if !followIt {
		if e.json() {
			return e.printJSON(raw)
		}
		fmt.Fprintln(e.stdout, started.ExecutionID)
		return nil
	}
	if !e.json() {
		fmt.Fprintf(e.stderr, "run %s %s\n", started.ExecutionID, started.Status)
	}
	return e.followAndExit(cmd.Context(), c, projectID, started.ExecutionID, withLog)
}

func newRunCmd(e *env) *cobra.Command {
	var followIt, withLog bool
	cmd := &cobra.Command{
		Use:   "run PROJECT",
		Short: "RUN the project; with --follow, show it live and exit with its outcome",
		Long: `Starts a run of the project and prints its execution id. With --follow it
shows the run live (a progress bar on a terminal, timestamped lines
otherwise, JSON lines with --output json) and exits 0 when it completed, 1
when it failed, 2 when it was cancelled or paused.`,
		Example: "  q2o-cli run $PROJECT --follow",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.startRun(cmd, args[0], "run", followIt, withLog)
		},
	}
	cmd.Flags().BoolVarP(&followIt, "follow", "f", false, "follow the run until it ends")
	cmd.Flags().BoolVar(&withLog, "log", false, "with --follow, show the run's log too")
	return cmd
}

func newResumeCmd(e *env) *cobra.Command {
	var followIt, withLog bool
	cmd := &cobra.Command{
		Use:     "resume PROJECT",
		Short:   "Run a paused project again (a new run); --follow as for run",
		Example: "  q2o-cli resume $PROJECT --follow",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.startRun(cmd, args[0], "resume", followIt, withLog)
		},
	}
	cmd.Flags().BoolVarP(&followIt, "follow", "f", false, "follow the new run until it ends")
	cmd.Flags().BoolVar(&withLog, "log", false, "with --follow, show the run's log too")
	return cmd
}

func newFollowCmd(e *env) *cobra.Command {
	var eid string
	var withLog bool
	cmd := &cobra.Command{
		Use:   "follow PROJECT",
		Short: "Show the project's latest run live and exit with its outcome",
		Long: `Follows the project's latest run (or --execution's) until it ends, as
run --follow does; a run that has already ended is shown once.`,
		Example: "  q2o-cli follow $PROJECT && echo done",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			id := eid
			if id == "" {
				if id, err = c.latestExecution(cmd.Context(), args[0]); err != nil {
					return err
				}
			}
			return e.followAndExit(cmd.Context(), c, args[0], id, withLog)
		},
	}
	cmd.Flags().StringVar(&eid, "execution", "", "an execution of the project (default: the latest)")
	cmd.Flags().BoolVar(&withLog, "log", false, "show the run's log too")
	return cmd
}

func newCancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel PROJECT",
		Short:   "Stop the project's pending or running run (the project is paused)",
		Example: "  q2o-cli cancel $PROJECT",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var p project
			raw, err := c.call(cmd.Context(), http.MethodPost, "/api/tenant/projects/"+escape(args[0])+"/cancel", nil, &p)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			fmt.Fprintf(e.stdout, "Cancelled: the project is %s.\n", p.status())
			return nil
		},
	}
}

func newRunsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "The runs (executions) of a project"}
	var page int
	list := &cobra.Command{
		Use:     "list PROJECT",
		Short:   "List the project's runs, newest first (10 a page)",
		Example: "  q2o-cli runs list $PROJECT --output json | jq -r '.items[0].status'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var pg struct {
				Items []struct {
					execution
					Attempt  int    `json:"attempt"`
					QueuedAt string `json:"queued_at"`
				} `json:"items"`
				Page       int `json:"page"`
				TotalPages int `json:"total_pages"`
				Total      int `json:"total"`
			}
			raw, err := c.getJSON(cmd.Context(), "/api/tenant/projects/"+escape(args[0])+"/executions?page="+strconv.Itoa(page), &pg)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			rows := make([][]string, 0, len(pg.Items))
			for _, it := range pg.Items {
				code := "-"
				if it.ExitCode != nil {
					code = strconv.Itoa(*it.ExitCode)
				}
				rows = append(rows, []string{it.ID, it.Status, strconv.Itoa(it.Attempt), it.QueuedAt, orDash(str(it.FinishedAt)), code})
			}
			e.table([]string{"ID", "STATUS", "ATTEMPT", "QUEUED", "FINISHED", "EXIT"}, rows)
			fmt.Fprintf(e.stderr, "page %d of %d, %d runs\n", pg.Page, pg.TotalPages, pg.Total)
			return nil
		},
	}
	list.Flags().IntVar(&page, "page", 1, "the page")
	cmd.AddCommand(list)
	return cmd
}
