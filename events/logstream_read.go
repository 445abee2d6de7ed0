package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Reading a log stream (see logstream.go for its entries).

// logReadBatch is how many entries one read returns at most (each up to
// maxEntry bytes).
const logReadBatch = 16

// LogChunk is one entry of a log stream: Data, the bytes of the log from
// offset Off; or, with End, the mark that the attempt's log was complete at
// Off.
type LogChunk struct {
	// ID is the entry's id, the cursor to read on from.
	ID   string
	Off  int64
	Data []byte
	End  bool
}

// LogCursor is the cursor after which ReadLog returns the entries holding
// the bytes from offset off on (and an end entry at off).
func LogCursor(off int64) string { return strconv.FormatInt(max(off, 0), 10) + "-0" }

// ReadLog returns the entries of the execution's log stream after cursor
// (an id ReadLog returned, or a LogCursor), in order, a batch at most. When
// there are none it waits up to wait for one (no wait when wait <= 0), and
// returns none when wait passes or the stream does not exist (yet, or any
// more). An entry that does not decode is skipped.
// Errors: ctx's, or Redis's.
func (s *LogStreams) ReadLog(ctx context.Context, execID uuid.UUID, cursor string, wait time.Duration) ([]LogChunk, error) {
	args := &redis.XReadArgs{Streams: []string{LogStreamKey(execID), cursor}, Count: logReadBatch, Block: -1}
	if wait > 0 {
		select {
		case s.blocking <- struct{}{}:
			defer func() { <-s.blocking }()
			args.Block = max(wait, time.Millisecond) // BLOCK 0 would wait for ever
		default:
			// Every blocking slot is taken: poll instead, so followers
			// never hold the whole connection pool.
			defer func() {
				select {
				case <-ctx.Done():
				case <-time.After(min(wait, logPollWhenBusy)):
				}
			}()
		}
	}
	for {
		res, err := s.rdb.XRead(ctx, args).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", LogStreamKey(execID), err)
		}
		var chunks []LogChunk
		last := ""
		for _, st := range res {
			for _, m := range st.Messages {
				last = m.ID
				if c, ok := decodeLogEntry(m); ok {
					chunks = append(chunks, c)
				}
			}
		}
		if len(chunks) > 0 || last == "" {
			return chunks, nil
		}
		// Only entries that are not ours: read on past them.
		args.Streams[1], args.Block = last, -1
	}
}

// logPollWhenBusy is how often a follower that found no blocking slot reads.
const logPollWhenBusy = 300 * time.Millisecond

// LogTail is where the last lines of a log begin, as far as its stream
// holds it.
type LogTail struct {
	// Start is the offset of the tail's first byte: of the n-th line from
	// the end, or, when the stream holds fewer lines, of the first whole
	// line it holds.
	Start int64
	// End is where the log ends, as far as the stream holds it.
	End int64
	// Whole is true when the stream holds every line asked for (or the log
	// from its start).
	Whole bool
}

// LogTail finds the last n lines of the log in its stream. ok is false when
// the stream holds no entry.
// Errors: ctx's, or Redis's.
func (s *LogStreams) LogTail(ctx context.Context, execID uuid.UUID, n int) (tail LogTail, ok bool, err error) {
	key := LogStreamKey(execID)
	tail.End = -1
	lines := 0
	first := int64(-1)  // the offset of the first byte held
	lineAt := int64(-1) // the start of the earliest whole line seen
	for upper := "+"; ; {
		msgs, err := s.rdb.XRevRangeN(ctx, key, upper, "-", logReadBatch).Result()
		if err != nil {
			return tail, false, fmt.Errorf("read %s: %w", key, err)
		}
		for _, m := range msgs {
			c, ok := decodeLogEntry(m)
			if !ok {
				continue
			}
			if tail.End < 0 {
				tail.End = c.Off + int64(len(c.Data))
				if n <= 0 {
					return LogTail{Start: tail.End, End: tail.End, Whole: true}, true, nil
				}
			}
			first = c.Off
			for i := len(c.Data) - 1; i >= 0; i-- {
				at := c.Off + int64(i)
				if c.Data[i] != '\n' || at == tail.End-1 {
					continue
				}
				lineAt = at + 1
				if lines++; lines == n {
					tail.Start, tail.Whole = lineAt, true
					return tail, true, nil
				}
			}
		}
		if len(msgs) < logReadBatch {
			break
		}
		prev, ok := parseID(msgs[len(msgs)-1].ID)
		if !ok || prev == (streamID{}) {
			break
		}
		upper = prevID(prev).String()
	}
	switch {
	case tail.End < 0:
		return LogTail{}, false, nil
	case first == 0:
		tail.Start, tail.Whole = 0, true
	case lineAt < 0:
		tail.Start = first
	default:
		tail.Start = lineAt
	}
	return tail, true, nil
}

// prevID is the greatest id before id (XREVRANGE's end is inclusive).
func prevID(id streamID) streamID {
	if id.seq == 0 {
		return streamID{id.ms - 1, ^uint64(0)}
	}
	return streamID{id.ms, id.seq - 1}
}

func decodeLogEntry(m redis.XMessage) (LogChunk, bool) {
	end, isEnd, ok := parseLogID(m.ID)
	if !ok {
		return LogChunk{}, false
	}
	if isEnd {
		size, _ := m.Values["end"].(string)
		return LogChunk{ID: m.ID, Off: end, End: true}, size == strconv.FormatInt(end, 10)
	}
	data, _ := m.Values["data"].(string)
	off, err := strconv.ParseInt(fmt.Sprint(m.Values["off"]), 10, 64)
	if err != nil || off+int64(len(data)) != end || len(data) == 0 {
		return LogChunk{}, false
	}
	return LogChunk{ID: m.ID, Off: off, Data: []byte(data)}, true
}
