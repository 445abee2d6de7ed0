package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/service"
)

// A followed log comes from two places, whatever the artifact storage:
//
//   - the execution's live log stream in Redis (events.LogStreams), which
//     the worker running it fills on whichever host it is, while the run
//     lives and for a while after (events.DefaultLogLinger);
//   - the stored log (service.RunLog's Open), for what the stream does not
//     hold: the part before its oldest byte when a resume asks for it, and
//     all of it once the stream is gone.
//
// The two hold the same bytes at the same offsets, so the follower just
// sends each byte once, from whichever has it first: the SSE ids stay byte
// offsets and Last-Event-ID resumes exactly. Bytes neither holds (trimmed
// from the stream, and not stored yet) are skipped with a "gap" event.

// logFollower sends the lines of one execution's log as SSE events.
type logFollower struct {
	l          service.RunLog
	w          *echo.Response
	streams    *events.LogStreams // nil: the stored log alone
	log        *slog.Logger
	f          storedLog // the stored log, nil until it exists
	off        int64     // the next byte to send
	placed     bool      // off has been set (by the tail, or Last-Event-ID)
	cursor     string    // where the stream is read on from ("": from off)
	ended      bool      // the last entry read is the stream's end, at off
	drained    bool      // the complete stored log has been sent to its end
	streamDown bool      // the last read of the stream failed (and was logged)
	streamSeen bool      // an entry of the stream has been read
	line       []byte    // a line begun and not yet ended
	buf        []byte
}

// update takes in a fresh reading of the execution: its status, and its
// kept copy once the worker has made it (a copy of run.log, so the offsets
// carry over).
func (fl *logFollower) update(cur service.RunLog) {
	if cur.Final && !fl.l.Final {
		fl.close()
		fl.l.Path, fl.l.Final, fl.drained = cur.Path, true, false
	}
	fl.l.Status = cur.Status
}

func (fl *logFollower) close() {
	if fl.f != nil {
		_ = fl.f.Close()
		fl.f = nil
	}
}

// complete reports whether everything of the log has been sent: the
// stream's end was reached, or the complete stored log was read to its end.
func (fl *logFollower) complete() bool { return fl.ended || fl.l.Final && fl.drained }

// logSettleLive is logSettle while the live stream has been read and has
// not ended: its end entry comes once the stopped main.py is gone, which
// may take the worker's kill grace.
const logSettleLive = 30 * time.Second

// settle is how long the log of an ended run must stay still before the
// follow ends without the log's end.
func (fl *logFollower) settle() time.Duration {
	if fl.streamSeen && !fl.ended {
		return logSettleLive
	}
	return logSettle
}

// pump sends what is new in the log. While the run lives it waits up to
// wait for the stream to grow; then live is true, and the caller need not
// wait before the next call. It reports whether the log grew.
func (fl *logFollower) pump(ctx context.Context, wait time.Duration) (grew, live bool, err error) {
	if fl.streams != nil {
		grew, err = fl.fromStream(ctx, wait)
		switch {
		case err == nil:
			live = wait > 0
			fl.streamDown = false
		case ctx.Err() != nil:
			return grew, false, nil
		case !fl.streamDown:
			// Redis is away: the stored log may still serve the rest.
			fl.streamDown = true
			fl.log.Warn("follow log: read the live stream", "execution_id", fl.l.ExecutionID, "error", err)
		}
	}
	if fl.streams == nil || err != nil || fl.l.Status.Finished() && !grew && !fl.ended {
		g, err := fl.fromStored(ctx, -1)
		grew = grew || g
		if err != nil {
			return grew, false, err
		}
	}
	if grew {
		fl.w.Flush()
	}
	return grew, live, nil
}

// fromStream places the follower by the tail, if need be, then sends the
// entries past it.
func (fl *logFollower) fromStream(ctx context.Context, wait time.Duration) (grew bool, err error) {
	id := fl.l.ExecutionID
	if !fl.placed {
		tail, ok, err := fl.streams.LogTail(ctx, id, fl.l.Tail)
		if err != nil {
			return false, err
		}
		if !ok {
			if fl.l.Status.Finished() {
				return false, nil // the stored log places it
			}
			// Not started yet: wait for its first entry.
			chunks, err := fl.streams.ReadLog(ctx, id, events.LogCursor(0), wait)
			if err != nil || len(chunks) == 0 {
				return false, err
			}
			if tail, ok, err = fl.streams.LogTail(ctx, id, fl.l.Tail); err != nil || !ok {
				return false, err
			}
			wait = 0
		}
		fl.off, fl.placed = tail.Start, true
	}
	if fl.cursor == "" {
		fl.cursor = events.LogCursor(fl.off)
	}
	chunks, err := fl.streams.ReadLog(ctx, id, fl.cursor, wait)
	if err != nil {
		return false, err
	}
	for _, c := range chunks {
		fl.cursor, fl.streamSeen = c.ID, true
		if c.End {
			fl.ended = c.Off <= fl.off
			continue
		}
		fl.ended = false
		if c.Off+int64(len(c.Data)) <= fl.off {
			continue // sent already
		}
		grew = true
		if c.Off > fl.off {
			// The stream no longer holds what comes before this entry.
			if _, err := fl.fromStored(ctx, c.Off); err != nil {
				fl.log.Warn("follow log: read the stored log", "execution_id", id, "error", err)
			}
			if c.Off > fl.off {
				fl.gap(c.Off)
			}
		}
		fl.feed(c.Data[fl.off-c.Off:])
	}
	return grew, nil
}

// fromStored opens the stored log if it has appeared, places the follower
// by the tail if need be, and sends what it holds from off on, up to offset
// upTo (to its end when upTo < 0).
func (fl *logFollower) fromStored(ctx context.Context, upTo int64) (grew bool, err error) {
	if fl.f == nil {
		f, err := openStored(ctx, fl.l)
		if err != nil || f == nil {
			return false, err
		}
		fl.f = f
	}
	size, err := storedSize(fl.f)
	if err != nil {
		return false, fmt.Errorf("read log: %w", err)
	}
	if !fl.placed {
		if fl.off, err = service.TailStart(fl.f, size, fl.l.Tail); err != nil {
			return false, err
		}
		fl.placed = true
	}
	if size < fl.off && upTo < 0 {
		return false, errLogReplaced
	}
	end := size
	if upTo >= 0 {
		end = min(size, upTo)
	}
	for fl.off < end {
		n, err := fl.f.ReadAt(fl.buf[:min(int64(len(fl.buf)), end-fl.off)], fl.off)
		if n > 0 {
			grew = true
			fl.feed(fl.buf[:n])
		}
		if n == 0 || err != nil {
			if err == nil || errors.Is(err, io.EOF) {
				break
			}
			return grew, fmt.Errorf("read log: %w", err)
		}
	}
	fl.drained = upTo < 0 && fl.off >= size
	return grew, nil
}

// feed sends the bytes of the log at off, line by line; a line not yet
// ended waits for its end (or is sent in pieces past logMaxLine).
func (fl *logFollower) feed(chunk []byte) {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			fl.line = append(fl.line, chunk...)
			fl.off += int64(len(chunk))
			if len(fl.line) >= logMaxLine {
				fl.send()
			}
			return
		}
		fl.line = append(fl.line, chunk[:i]...)
		fl.off += int64(i + 1)
		chunk = chunk[i+1:]
		fl.send()
	}
}

// gap skips to offset to, past bytes neither the stream nor the stored log
// holds: a "gap" event (data: {"from":…,"to":…}, id: the offset resumed at)
// says what was skipped.
func (fl *logFollower) gap(to int64) {
	if len(fl.line) > 0 {
		fl.send()
	}
	_, _ = fmt.Fprintf(fl.w, "id: %s/%d\nevent: gap\ndata: {\"from\":%d,\"to\":%d}\n\n", fl.l.ExecutionID, to, fl.off, to)
	fl.off = to
}

// send writes the pending line as one event, as valid UTF-8 with no line
// breaks (SSE would split it).
func (fl *logFollower) send() {
	text := strings.ToValidUTF8(string(bytes.TrimSuffix(fl.line, []byte("\r"))), "\uFFFD")
	text = strings.ReplaceAll(text, "\r", " ")
	_, _ = fmt.Fprintf(fl.w, "id: %s/%d\ndata: %s\n\n", fl.l.ExecutionID, fl.off, text)
	fl.line = fl.line[:0]
}

// end sends what is left of an unfinished last line and the "end" event.
func (fl *logFollower) end() error {
	if len(fl.line) > 0 {
		fl.send()
	}
	_, _ = fmt.Fprintf(fl.w, "event: end\ndata: %s\n\n", fl.l.Status)
	fl.w.Flush()
	return nil
}

// storedLog is what the follower needs of the stored log that
// service.RunLog's Open returns: reads at an offset, and its size.
type storedLog interface {
	io.ReaderAt
	io.Closer
}

// openStored opens l's stored log (service.RunLog's Open): nil, and no
// error, while there is none yet.
func openStored(ctx context.Context, l service.RunLog) (storedLog, error) {
	f, err := l.Open(ctx) // with an object store, its reads are bounded by ctx
	if err != nil || f == nil {
		return nil, err
	}
	return f, nil
}

// storedSize is the stored log's length now (run.log grows while its run
// lives).
func storedSize(f storedLog) (int64, error) {
	switch f := f.(type) {
	case interface{ Size() (int64, error) }:
		return f.Size()
	case interface{ Stat() (os.FileInfo, error) }:
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	case io.Seeker:
		return f.Seek(0, io.SeekEnd)
	}
	return 0, errors.New("the stored log does not say its size")
}

// tailLive answers a log's tail (tailLog) from the live stream, for a run
// whose log is not stored yet (service.RunLog's LiveTail): on another host,
// run.log is out of the API's reach. It answers nothing (false) when the
// stream does not serve, and tailLog reads the stored log.
func (s *Server) tailLive(c echo.Context, l service.RunLog) (bool, error) {
	body, ok, err := l.LiveTail(c.Request().Context())
	if err != nil {
		s.log.Warn("log tail: read the live stream", "execution_id", l.ExecutionID, "error", err)
		return false, nil
	}
	if !ok {
		return false, nil
	}
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Execution-Id", l.ExecutionID.String())
	return true, c.Blob(http.StatusOK, "text/plain; charset=utf-8", body)
}
