package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// How a followed log (Accept: text/event-stream) is read.
const (
	logPoll        = 300 * time.Millisecond // how often the file is read for new lines
	logStatusEvery = time.Second            // how often the execution's row is read
	logPing        = 15 * time.Second       // a ": ping" comment at least this often
	// logSettle is how long the log of an ended run must stay still before
	// the stream ends, when the worker has not (yet) recorded its kept copy:
	// a cancelled main.py may write a few more lines while it is stopped.
	logSettle = 3 * time.Second
	// logMaxLine bounds the memory a follower holds for a line not yet
	// ended: a longer one is sent in pieces.
	logMaxLine = 64 << 10
)

// logRoutes: a project's run log. A plain handler: the log is text, or a
// stream of events as it grows, not one encoded value.
func (s *Server) logRoutes(tenant *echo.Group) {
	tenant.GET("/projects/:project_id/logs", s.projectLogs, s.requireTenant)
}

// projectLogs: GET /api/tenant/projects/:project_id/logs?tail&execution_id.
// It answers the last tail lines of the execution's log as text/plain (an
// empty body when the run has not written any yet), or, with Accept:
// text/event-stream, follows the log live: one SSE event per line, whose id
// ("<execution_id>/<byte offset>") lets a reconnecting client resume with
// Last-Event-ID, a ": ping" comment every 15 s, and a last "end" event
// (data: the execution's status) once the run has ended and its log is
// drained. X-Execution-Id names the execution served. A followed log ends
// (without "end") within about a second once the credential that opened it
// no longer holds: a session ended or expired, an API key revoked.
func (s *Server) projectLogs(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	l, err := s.svc.RunLog(c.Request().Context(), tenantID(c), id,
		service.LogQuery{Tail: c.QueryParam("tail"), ExecutionID: c.QueryParam("execution_id")})
	if err != nil {
		return err
	}
	if acceptsEventStream(c.Request()) {
		return s.followLog(c, l)
	}
	if done, err := s.tailLive(c, l); done {
		return err
	}
	return tailLog(c, l)
}

func acceptsEventStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get(echo.HeaderAccept), ",") {
		if isEventStream(part) {
			return true
		}
	}
	return false
}

// tailLog sends the last l.Tail lines of the log as it is now, streamed from
// the file: only the block being scanned for line ends is held in memory.
func tailLog(c echo.Context, l service.RunLog) error {
	f, err := l.Open(c.Request().Context())
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Execution-Id", l.ExecutionID.String())
	if f == nil {
		return c.NoContent(http.StatusOK)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("stat log: %w", err)
	}
	start, err := service.TailStart(f, size, l.Tail)
	if err != nil {
		return err
	}
	h.Set(echo.HeaderContentLength, strconv.FormatInt(size-start, 10))
	c.Response().WriteHeader(http.StatusOK)
	// An error here is the client going away: the answer is already sent.
	_, _ = io.Copy(c.Response(), io.NewSectionReader(f, start, size-start))
	return nil
}

// followLog streams the log as server-sent events until the run has ended
// and its log is drained, or the client goes away.
func (s *Server) followLog(c echo.Context, l service.RunLog) error {
	ctx := c.Request().Context()
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Execution-Id", l.ExecutionID.String())
	w.WriteHeader(http.StatusOK)
	w.Flush()

	fl := &logFollower{l: l, w: w, streams: s.cfg.LogStreams, log: s.log, buf: make([]byte, 32<<10)}
	defer fl.close()
	if off, ok := resumeOffset(c.Request().Header.Get("Last-Event-ID"), l.ExecutionID); ok {
		fl.off, fl.placed = off, true
	}
	// A read of the live stream waits in Redis: it ends when the server
	// shuts down too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if down := s.shuttingDown(); down != nil {
		go func() {
			select {
			case <-down:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	stillSignedIn := s.stillSignedIn(c)
	poll := time.NewTicker(logPoll)
	defer poll.Stop()
	lastStatus, lastPing := time.Now(), time.Now()
	var stillSince time.Time // while the run has ended: since when the log has not grown
	for {
		var wait time.Duration // while the run lives: how long the stream may keep us
		if !fl.l.Status.Finished() {
			wait = max(logStatusEvery-time.Since(lastStatus), time.Millisecond)
		}
		grew, live, err := fl.pump(ctx, wait)
		if err != nil {
			if !errors.Is(err, errLogReplaced) {
				s.log.Warn("follow log", "execution_id", l.ExecutionID, "error", err)
			}
			return fl.end()
		}
		now := time.Now()
		if now.Sub(lastStatus) >= logStatusEvery {
			lastStatus = now
			if err := stillSignedIn(ctx); err != nil {
				if _, gone := models.AsError(err); gone {
					return nil // logged out, expired or revoked: no "end", the run has not ended
				}
			}
			cur, err := s.svc.RunLog(ctx, tenantID(c), l.ProjectID, service.LogQuery{ExecutionID: l.ExecutionID.String()})
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Warn("follow log: read execution", "execution_id", l.ExecutionID, "error", err)
			case err == nil:
				fl.update(cur)
			}
		}
		if fl.l.Status.Finished() {
			switch {
			case fl.complete():
				return fl.end()
			case grew || stillSince.IsZero():
				stillSince = now
			case now.Sub(stillSince) >= fl.settle():
				return fl.end()
			}
		}
		if now.Sub(lastPing) >= logPing {
			lastPing = now
			_, _ = io.WriteString(w, ": ping\n\n")
			w.Flush()
		}
		if live {
			// The stream's read was the wait (the server's shutdown ends it).
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil // the client went away, or the server shuts down: it resumes elsewhere with Last-Event-ID
		case <-poll.C:
		}
	}
}

// shuttingDown is closed when the server shuts down: the live-events broker
// closes then (its context is the server's). http.Server.Shutdown waits for
// every request, and cancels none, so a followed log must watch for it.
func (s *Server) shuttingDown() <-chan struct{} {
	if s.cfg.Events != nil {
		return s.cfg.Events.Closed()
	}
	return nil
}

// errLogReplaced means the followed file shrank: run.log was emptied by a
// newer run.
var errLogReplaced = errors.New("the log was replaced")

// resumeOffset reads a Last-Event-ID this stream sent: it applies only to the
// same execution.
func resumeOffset(lastID string, execID uuid.UUID) (int64, bool) {
	id, off, ok := strings.Cut(lastID, "/")
	if !ok || id != execID.String() {
		return 0, false
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
