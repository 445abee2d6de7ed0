package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

// view shows a followed run.
type view interface {
	show(runState)
	logLine(string)                            // a line of the run's log (--log)
	note(string)                               // a remark (reconnecting), on stderr
	done(runState, *apiclient.ExecutionDetail) // the end
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

func (l *lineView) done(st runState, ex *apiclient.ExecutionDetail) {
	summary(l.e.stdout, l.e.stderr, st, ex)
}

// jsonView prints each state as one JSON line (the API's ProjectEvent).
type jsonView struct {
	e  *env
	mu sync.Mutex
}

func (j *jsonView) logLine(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, _ := json.Marshal(logEntry{Kind: "log", Message: s})
	fmt.Fprintf(j.e.stdout, "%s\n", b)
}

func (j *jsonView) show(st runState) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, _ := json.Marshal(st)
	fmt.Fprintf(j.e.stdout, "%s\n", b)
}
func (j *jsonView) note(s string) { fmt.Fprintln(j.e.stderr, "q2o-cli:", s) }
func (j *jsonView) done(_ runState, ex *apiclient.ExecutionDetail) {
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

func (b *barView) done(st runState, ex *apiclient.ExecutionDetail) {
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
func summary(stdout, stderr io.Writer, st runState, ex *apiclient.ExecutionDetail) {
	switch st.Status {
	case "completed":
		fmt.Fprintf(stdout, "run %s completed\n", ex.Id)
	case "failed":
		msg := "the run failed"
		if ex.Error != nil {
			msg += ": " + *ex.Error
		}
		fmt.Fprintln(stderr, "q2o-cli:", msg)
	default:
		msg := "run " + ex.Id.String() + " " + st.Status
		if ex.Error != nil {
			msg += ": " + *ex.Error
		}
		fmt.Fprintln(stderr, "q2o-cli:", msg)
	}
}
