package service

import (
	"context"

	"github.com/q2o/q2o/events"
)

// LiveTail reads the last l.Tail lines of a live run's log from its stream
// (Deps.LogStreams), for a run whose log is not stored yet: on another
// host, run.log is out of the API's reach. ok is false when the stream does
// not serve: no streams, a stored log (Final), no stream entry, or a tail
// the stream holds only part of while the stored log (run.log, in a shared
// folder) is there. The tenant's plain log tail and the admin's execution
// detail both read it so.
// Errors: Redis's (the caller may fall back to the stored log).
func (l RunLog) LiveTail(ctx context.Context) (body []byte, ok bool, err error) {
	streams := l.streams
	if streams == nil || l.Final {
		return nil, false, nil
	}
	tail, ok, err := streams.LogTail(ctx, l.ExecutionID, l.Tail)
	if err != nil || !ok {
		return nil, false, err
	}
	if !tail.Whole {
		if f, err := l.Open(ctx); err == nil && f != nil {
			_ = f.Close()
			return nil, false, nil
		}
	}
	body, err = readLive(ctx, streams, l, tail.Start, tail.End)
	if err != nil {
		return nil, false, err
	}
	return body, true, nil
}

// readLive reads the bytes from offset from to offset to of the log out of
// its stream: as many as it holds in one piece from from on (trimming may
// have taken the first ones since the tail was found).
func readLive(ctx context.Context, streams *events.LogStreams, l RunLog, from, to int64) ([]byte, error) {
	body := make([]byte, 0, to-from)
	at := from
	for cursor := events.LogCursor(from); at < to; {
		chunks, err := streams.ReadLog(ctx, l.ExecutionID, cursor, 0)
		if err != nil || len(chunks) == 0 {
			return body, err
		}
		for _, c := range chunks {
			cursor = c.ID
			if c.End || c.Off+int64(len(c.Data)) <= at {
				continue
			}
			if c.Off > at {
				body, at = body[:0], c.Off // trimmed meanwhile: what is left
			}
			piece := c.Data[at-c.Off : min(int64(len(c.Data)), to-c.Off)]
			body, at = append(body, piece...), at+int64(len(piece))
		}
	}
	return body, nil
}
