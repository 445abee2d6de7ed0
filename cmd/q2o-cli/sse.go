package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"time"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

// sseStream reads the events of one open stream.
type sseStream struct {
	res *http.Response
	r   *bufio.Reader
}

// openSSE opens a stream with open, a generated request. An answer that
// is not 200 is an *apiError, none a *networkError.
func (c *client) openSSE(open func() (*http.Response, error)) (*sseStream, error) {
	res, err := open()
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		return nil, readRefusal(res)
	}
	return &sseStream{res: res, r: bufio.NewReaderSize(res.Body, 64<<10)}, nil
}

// acceptEvents asks for a stream where the document gives no Accept
// parameter.
func acceptEvents(_ context.Context, req *http.Request) error {
	req.Header.Set("Accept", "text/event-stream")
	return nil
}

// next returns the next event; comments (": ping") and retry fields are
// skipped. An error is the stream's end: io.EOF when the server closed it.
func (s *sseStream) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return sseEvent{}, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if seen {
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, seen = value, true
		case "event":
			ev.Event, seen = value, true
		case "data":
			data, seen = append(data, value), true
		}
	}
}

func (s *sseStream) Close() error { return s.res.Body.Close() }

// Reconnecting after a dropped stream: the pause grows from the first to the
// last, and a stream that cannot be opened for giveUp is a network error.
const (
	reconnectFirst = 200 * time.Millisecond
	reconnectLast  = 5 * time.Second
	giveUp         = 2 * time.Minute
)

// backoff waits before the next reconnection; false when ctx ended.
func backoff(ctx context.Context, wait *time.Duration) bool {
	t := time.NewTimer(*wait)
	defer t.Stop()
	*wait = min(*wait*2, reconnectLast)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
