package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// Live events (Server-Sent Events): GET /api/tenant/events streams every
// status and progress change of the tenant's projects;
// GET /api/public/projects/:project_id/events streams one project's, for a
// client holding its activation code. Each event is
//
//	id: <the event's id in the tenant's stream>
//	event: <kind: pending, running, progress, completed, failed, paused, zipped>
//	data: <the event as JSON>
//
// and a ": ping" comment comes whenever nothing else was sent for the
// broker's Heartbeat (15 s). A client that reconnects with the Last-Event-ID
// header (which EventSource sends by itself) or ?last_event_id= resumes
// after that event; see events.Broker.Follow for what an unknown or too old
// id does. Any replica serves any client: the events come through Redis.

// sseRetry is the reconnection delay, in milliseconds, that the stream asks
// of EventSource when it ends (a replica shutting down, Redis failing).
const sseRetry = 2000

// errEventsUnavailable answers when live events cannot be served now.
var errEventsUnavailable = models.Errorf(models.KindUnavailable, "events_unavailable",
	"live events are unavailable right now; try again shortly")

// eventRoutes: the tenant's and a client's live events. Plain handlers: an
// event stream writes its answer as it goes, which a typed endpoint's one
// encoded value cannot.
func (s *Server) eventRoutes(e *echo.Echo, tenant *echo.Group) {
	tenant.GET("/events", s.tenantEvents, s.requireTenant)
	e.GET("/api/public/projects/:project_id/events", s.publicProjectEvents, s.limitIP(ratelimit.PublicEvents))
}

// tenantEvents: GET /api/tenant/events.
// The tenant's credential is checked again about every heartbeat: a
// session ended (logout) or expired, or an API key revoked, ends the stream.
func (s *Server) tenantEvents(c echo.Context) error {
	return s.streamEvents(c, tenantID(c), nil, s.stillSignedIn(c))
}

// publicProjectEvents: GET /api/public/projects/:project_id/events, with the
// activation code (or a client session token) in X-Activation-Code, ?code=
// or the ClientCookie. A wrong code, or a code of another project, answers
// 404 not_found like the other client routes. The credential is checked
// again about every heartbeat: a code revoked, a client session expired or
// a project deleted meanwhile ends the stream, even while the project keeps
// sending events.
func (s *Server) publicProjectEvents(c echo.Context) error {
	id, err := pathID(c, "project_id", service.ErrPublicNotFound)
	if err != nil {
		return err
	}
	code := s.activationCode(c)
	p, err := s.svc.ProjectForCode(c.Request().Context(), id, code)
	if err != nil {
		return err
	}
	return s.streamEvents(c, p.TenantID, &clientView{projectID: p.ID}, func(ctx context.Context) error {
		_, err := s.svc.ProjectForCode(ctx, id, code)
		return err
	})
}

// clientView narrows a tenant's stream to what a client may see.
type clientView struct {
	projectID uuid.UUID
}

// clientEvent is a project event as a client sees it: nothing about the
// tenant, and no failure or pause details (a failure's text is the tail of
// main.py's stderr, from run.log, which clients never get; a pause's reason
// may be the tenant's billing state).
type clientEvent struct {
	ProjectID   uuid.UUID              `json:"project_id"`
	ExecutionID uuid.UUID              `json:"execution_id"`
	Kind        string                 `json:"kind"`
	Status      models.ExecutionStatus `json:"status"`
	Progress    int                    `json:"progress"`
	Message     string                 `json:"message"`
	At          time.Time              `json:"at"`
}

func newClientEvent(ev service.ProjectEvent) clientEvent {
	msg := ev.Message
	switch ev.Kind {
	case string(models.StatusFailed):
		msg = "the run failed"
	case string(models.StatusPaused):
		msg = "the run was paused"
	case string(models.StatusCancelled):
		msg = "the run was cancelled"
	}
	return clientEvent{ProjectID: ev.ProjectID, ExecutionID: ev.ExecutionID, Kind: ev.Kind, Status: ev.Status,
		Progress: ev.Progress, Message: msg, At: ev.At}
}

// streamEvents serves the tenant's events (narrowed by view, when set) as
// Server-Sent Events until the client goes away, the broker closes (the
// server is shutting down), or stillAllowed, called about every heartbeat,
// answers an application error (the credential no longer holds). Refusals
// before the stream starts are ordinary error answers: events_unavailable
// (503) when the broker or Redis is not there.
func (s *Server) streamEvents(c echo.Context, tenant uuid.UUID, view *clientView, stillAllowed func(ctx context.Context) error) error {
	broker, ok := s.svc.Events.(*events.Broker)
	if !ok {
		return errEventsUnavailable
	}
	ctx := c.Request().Context()
	lastID := c.Request().Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = c.QueryParam("last_event_id")
	}
	f, err := broker.Follow(ctx, tenant, strings.TrimSpace(lastID))
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, events.ErrClosed) {
			s.log.Warn("live events: cannot follow", "request_id", requestID(c), "error", err)
		}
		return errEventsUnavailable
	}
	defer f.Close()

	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream; charset=utf-8")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	buf.WriteString("retry: ")
	buf.WriteString(strconv.Itoa(sseRetry))
	buf.WriteString("\n\n")

	heartbeat := broker.Heartbeat
	lastSent, nextCheck := time.Now(), time.Now().Add(heartbeat)
	for {
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return nil // the client is gone
			}
			w.Flush()
			buf.Reset()
			lastSent = time.Now()
		}
		evs, err := f.Next(ctx, heartbeat-time.Since(lastSent))
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, events.ErrClosed) {
				s.log.Warn("live events: stream ended", "request_id", requestID(c), "error", err)
			}
			return nil // the client reconnects with Last-Event-ID
		}
		for _, ev := range evs {
			if view != nil && ev.ProjectID != view.projectID {
				continue
			}
			var data any = ev.ProjectEvent
			if view != nil {
				data = newClientEvent(ev.ProjectEvent)
			}
			if err := writeSSE(&buf, ev.ID, ev.Kind, data); err != nil {
				s.log.Error("live events: encode", "id", ev.ID, "error", err)
			}
		}
		if !time.Now().Before(nextCheck) {
			nextCheck = time.Now().Add(heartbeat)
			if err := stillAllowed(ctx); err != nil {
				if _, gone := models.AsError(err); gone {
					return nil // the credential no longer opens the stream
				}
				if ctx.Err() == nil {
					s.log.Warn("live events: recheck of the credential failed", "request_id", requestID(c), "error", err)
				}
			}
		}
		if buf.Len() == 0 && time.Since(lastSent) >= heartbeat {
			buf.WriteString(": ping\n\n")
		}
	}
}

// writeSSE appends one event to buf. JSON has no raw newlines, so data is
// one line; kind comes from our own constants but is cleaned all the same,
// since a newline in it would forge fields.
func writeSSE(buf *bytes.Buffer, id, kind string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	buf.WriteString("id: ")
	buf.WriteString(id)
	buf.WriteString("\nevent: ")
	buf.WriteString(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, kind))
	buf.WriteString("\ndata: ")
	buf.Write(b)
	buf.WriteString("\n\n")
	return nil
}
