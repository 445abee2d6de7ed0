package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

// runState is where a run stands: from the API's project and execution, or
// from one live event (a ProjectEvent, which the stream's document does not
// type: TestFieldsAreInTheDocument checks the fields against it).
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
	switch apiclient.ExecutionStatus(s) {
	case apiclient.ExecutionStatusCompleted, apiclient.ExecutionStatusFailed,
		apiclient.ExecutionStatusPaused, apiclient.ExecutionStatusCancelled:
		return true
	}
	return false
}

// outcome is the exit of a command that followed a run to status s.
func outcome(s string) error {
	switch apiclient.ExecutionStatus(s) {
	case apiclient.ExecutionStatusCompleted:
		return nil
	case apiclient.ExecutionStatusFailed:
		return &exitError{code: exitFailed}
	default:
		return &exitError{code: exitStopped}
	}
}

// runID names one execution of a project.
type runID struct{ project, execution apiclient.UUID }

// state reads where the run stands now.
func (c *client) state(ctx context.Context, r runID) (runState, *apiclient.ExecutionDetail, error) {
	ex, _, err := answer(c.api.GetExecutionWithResponse(ctx, r.project, r.execution))
	if err != nil {
		return runState{}, nil, err
	}
	st := runState{ExecutionID: r.execution.String(), Kind: string(ex.Status), Status: string(ex.Status), At: time.Now().UTC()}
	p, _, err := answer(c.api.GetProjectWithResponse(ctx, r.project))
	if err != nil {
		return runState{}, nil, err
	}
	if p.LatestExecutionId != nil && *p.LatestExecutionId == r.execution {
		st.Progress, st.Message = p.Progress, p.ProgressMessage
	}
	return st, ex, nil
}

// retryable reports whether a failed request may work when tried again: no
// answer, or a 503.
func retryable(err error) bool {
	var ne *networkError
	var ae *apiError
	return errors.As(err, &ne) || (errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable)
}

// reconnecting decides, for a stream that could not be (re)opened, whether
// to try again: a retryable error, for at most giveUp in a row, after a
// growing pause. A nil answer means try again.
type reconnecting struct {
	ctx          context.Context
	note         func(string)
	wait         time.Duration
	failingSince time.Time
}

func newReconnecting(ctx context.Context, note func(string)) *reconnecting {
	return &reconnecting{ctx: ctx, note: note, wait: reconnectFirst}
}

func (r *reconnecting) retry(err error) error {
	if r.ctx.Err() != nil || !retryable(err) {
		return err
	}
	if r.failingSince.IsZero() {
		r.failingSince = time.Now()
	} else if time.Since(r.failingSince) > giveUp {
		return err
	}
	r.note(fmt.Sprintf("%v; reconnecting", err))
	if !backoff(r.ctx, &r.wait) {
		return r.ctx.Err()
	}
	return nil
}

// connected starts the count again after a stream was opened.
func (r *reconnecting) connected() { r.failingSince, r.wait = time.Time{}, reconnectFirst }

// follow shows the run live until it ends, and returns its final state. It
// listens to the tenant's events, reconnecting with Last-Event-ID after a
// dropped connection so that no event is missed, and reads the run's state
// each time the stream is (re)opened, so a run that ended while the stream
// was down is seen to have ended.
func (c *client) follow(ctx context.Context, r runID, v view) (runState, *apiclient.ExecutionDetail, error) {
	lastID := ""
	rc := newReconnecting(ctx, v.note)
	for {
		s, err := c.openSSE(func() (*http.Response, error) {
			return c.raw.TenantEvents(ctx, &apiclient.TenantEventsParams{LastEventID: orNil(lastID)}, acceptEvents)
		})
		if err != nil {
			if err := rc.retry(err); err != nil {
				return runState{}, nil, err
			}
			continue
		}
		st, ex, err := c.state(ctx, r)
		if err != nil {
			s.Close()
			if err := rc.retry(err); err != nil {
				return runState{}, nil, err
			}
			continue
		}
		rc.connected()
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
			if json.Unmarshal([]byte(ev.Data), &pe) != nil || pe.ExecutionID != r.execution.String() {
				continue
			}
			v.show(pe)
			if finished(pe.Status) {
				break // read the final state (error, zip) below
			}
		}
		s.Close()
		if ctx.Err() != nil {
			return runState{}, nil, ctx.Err()
		}
		if st, ex, err := c.state(ctx, r); err == nil && finished(st.Status) {
			return st, ex, nil
		}
		if lastID != "" {
			v.note("the connection dropped; resuming after event " + lastID)
		}
	}
}

// orNil is &s, or nil for "".
func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// followAndExit follows the run and turns its end into the exit code; with
// withLog the run's log is shown as it grows.
func (e *env) followAndExit(ctx context.Context, c *client, r runID, withLog bool) error {
	v := e.newView()
	var logDone chan struct{}
	logCtx, stopLog := context.WithCancel(ctx)
	defer stopLog()
	if withLog {
		logDone = make(chan struct{})
		go func() {
			defer close(logDone)
			tail := 10000
			_, _ = c.streamLog(logCtx, r.project, &apiclient.ProjectLogsParams{Tail: &tail, ExecutionId: &r.execution}, v.logLine, v.note)
		}()
	}
	st, ex, err := c.follow(ctx, r, v)
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
