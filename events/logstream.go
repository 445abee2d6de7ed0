package events

// Run logs, live, across hosts.
//
// While a run lives, the worker running it publishes what main.py writes to
// run.log into a Redis stream of the execution's own, q2o:log:<execution_id>
// (separate from the tenants' event streams): any API replica follows the
// log from there, on any host, and the stored log (service.RunLog's Open)
// serves it once the run has ended.
//
// # Entries
//
// A data entry holds one piece of the log, "off" (the byte offset of its
// first byte in run.log, decimal) and "data" (the bytes). Its id is
// <off+len(data)>-0: the offset of the byte after it. An end entry, written
// when the attempt's log is complete, holds "end" (the log's size) and has
// the id <size>-1. So the ids grow with the offsets, and
//
//   - XREAD after <o>-0 returns exactly the entries that hold bytes from
//     offset o on (and an end entry at o): a follower resumes from a byte
//     offset (the SSE ids stay byte offsets) with no second index;
//   - XADD MINID ~ <size-MaxBytes> trims the stream by bytes kept, not by
//     entries;
//   - a second attempt that appends to the same run.log, or a publisher that
//     retries a flush, cannot add bytes the stream already has: Redis refuses
//     an id that is not past the last one.
//
// # Cost
//
// Writes are batched: a flush at most every FlushEvery, or as soon as
// FlushBytes are waiting, each one pipelined round trip of one XADD per
// entry of at most maxEntry bytes (and, now and then, an EXPIRE). A main.py
// that prints 10,000 short lines a second costs about a dozen commands a
// second, not 10,000. A stream expires TTL after its publisher last touched
// it (a crashed worker's goes away), and Linger after its end entry.

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Defaults of LogStreams' settings.
const (
	DefaultLogMaxBytes   = 2 << 20
	DefaultLogFlushEvery = 100 * time.Millisecond
	DefaultLogFlushBytes = 32 << 10
	DefaultLogTTL        = 10 * time.Minute
	DefaultLogLinger     = 2 * time.Minute
	DefaultLogTimeout    = 2 * time.Second
)

// maxEntry is the most bytes one data entry holds.
const maxEntry = 64 << 10

// retryEvery is how soon bytes a flush could not send are tried again.
const retryEvery = 500 * time.Millisecond

// LogStreams publishes run logs to Redis and reads them back. Set its fields
// before first use.
type LogStreams struct {
	// MaxBytes is about how many of a log's last bytes its stream keeps
	// (a little more: trimming drops whole entries).
	MaxBytes int64
	// FlushEvery is the longest a written byte waits before it is sent.
	FlushEvery time.Duration
	// FlushBytes sends at once when this many bytes are waiting.
	FlushBytes int
	// TTL drops a stream this long after its publisher last touched it
	// (renewed while the run lives, even when it is silent).
	TTL time.Duration
	// Linger drops a stream this long after its end entry: by then the
	// stored log serves the run.
	Linger time.Duration
	// Timeout bounds one flush.
	Timeout time.Duration

	rdb *redis.Client
	log *slog.Logger
	// blocking bounds the followers waiting in XREAD BLOCK at once, each
	// holding a connection of rdb's pool; the others poll.
	blocking chan struct{}
}

// NewLogStreams returns LogStreams over rdb with the default settings.
func NewLogStreams(rdb *redis.Client, log *slog.Logger) *LogStreams {
	return &LogStreams{
		MaxBytes: DefaultLogMaxBytes, FlushEvery: DefaultLogFlushEvery, FlushBytes: DefaultLogFlushBytes,
		TTL: DefaultLogTTL, Linger: DefaultLogLinger, Timeout: DefaultLogTimeout,
		rdb: rdb, log: log, blocking: make(chan struct{}, max(1, rdb.Options().PoolSize/2)),
	}
}

// LogStreamKey is the Redis key of an execution's log stream.
func LogStreamKey(execID uuid.UUID) string { return "q2o:log:" + execID.String() }

// Publish starts publishing an attempt's log: the caller hands it every
// byte written to run.log (Write) and Closes it once the attempt's log is
// complete. It never blocks the caller on Redis: a flush that fails is
// logged and retried with the next one, and at most 2 MaxBytes wait.
func (s *LogStreams) Publish(execID uuid.UUID) *LogPublisher {
	p := &LogPublisher{s: s, key: LogStreamKey(execID), log: s.log.With("execution_id", execID.String()),
		wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// LogPublisher sends one attempt's log to its stream. Write and Close may
// be called from any goroutine.
type LogPublisher struct {
	s   *LogStreams
	key string
	log *slog.Logger

	mu     sync.Mutex
	buf    []byte // bytes waiting, from bufOff
	bufOff int64
	closed bool

	wake          chan struct{}
	closing, done chan struct{}
	closeOnce     sync.Once

	// Owned by run.
	top       int64 // the stream's end: bytes before it are there already (-1: not read yet)
	expiredAt time.Time
	failing   bool
}

// Write takes bytes b written to the log at offset off; b is copied. Bytes
// that do not follow the ones waiting replace them: the stream then skips
// those (followers see a gap, the stored log has them), never reorders.
func (p *LogPublisher) Write(off int64, b []byte) {
	if p == nil || len(b) == 0 {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if len(p.buf) == 0 || p.bufOff+int64(len(p.buf)) != off {
		// A gap (or the first bytes): what waits is dropped rather than
		// sent out of order; it is at most a flush's worth, and the stored
		// log has it.
		p.buf, p.bufOff = p.buf[:0], off
	}
	p.buf = append(p.buf, b...)
	if int64(len(p.buf)) > 2*p.s.MaxBytes {
		// Redis is slow or down: keep the newest bytes, as the stream
		// would (down to MaxBytes, so the copy is rare).
		over := int64(len(p.buf)) - p.s.MaxBytes
		p.buf = append(p.buf[:0], p.buf[over:]...)
		p.bufOff += over
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Close sends what waits and the end entry, and returns once it has (or
// Timeout has passed).
func (p *LogPublisher) Close() {
	if p == nil {
		return
	}
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.closing)
	})
	<-p.done
}

func (p *LogPublisher) run() {
	defer close(p.done)
	p.top = -1
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	var flushC <-chan time.Time
	renew := time.NewTicker(max(p.s.TTL/4, time.Second))
	defer renew.Stop()
	for {
		select {
		case <-p.wake:
			if p.waiting() < p.s.FlushBytes {
				if flushC == nil {
					flush.Reset(p.s.FlushEvery)
					flushC = flush.C
				}
				continue
			}
			// Sent for its size: the timer starts again with the next byte.
			flush.Stop()
			flushC = nil
			p.flush(false)
		case <-flushC:
			flushC = nil
			p.flush(false)
		case <-renew.C:
			p.renew()
		case <-p.closing:
			flush.Stop()
			p.flush(true)
			return
		}
		if flushC == nil && p.waiting() > 0 {
			// More came during the flush, or it failed: send it soon.
			wait := p.s.FlushEvery
			if p.failing {
				wait = max(wait, retryEvery)
			}
			flush.Reset(wait)
			flushC = flush.C
		}
	}
}

func (p *LogPublisher) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

// flush sends the waiting bytes in one pipelined round trip, and with end
// the end entry and the Linger.
func (p *LogPublisher) flush(end bool) {
	p.mu.Lock()
	skip := max(0, int64(len(p.buf))-p.s.MaxBytes) // the stream would trim them at once
	data, off := append([]byte(nil), p.buf[skip:]...), p.bufOff+skip
	p.mu.Unlock()
	if len(data) == 0 && !end {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.s.Timeout)
	defer cancel()
	if p.top < 0 {
		top, err := p.readTop(ctx)
		if err != nil {
			p.failed(err)
			return
		}
		p.top = top
	}
	// What the stream has already (an earlier attempt's, or a retried
	// flush's) is not sent again.
	if skip := p.top - off; skip > 0 {
		skip = min(skip, int64(len(data)))
		data, off = data[skip:], off+skip
	}
	size := off + int64(len(data))
	expire := time.Since(p.expiredAt) >= p.s.TTL/4
	type entry struct {
		cmd *redis.StringCmd
		end int64 // the offset after it
	}
	var entries []entry
	_, err := p.s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for at := off; at < size; {
			n := min(size-at, maxEntry)
			piece := data[at-off : at-off+n]
			entries = append(entries, entry{pl.XAdd(ctx, &redis.XAddArgs{
				Stream: p.key, ID: logID(at+n, false), MinID: p.minID(at + n), Approx: true,
				Values: []any{"off", strconv.FormatInt(at, 10), "data", piece},
			}), at + n})
			at += n
		}
		if end && size >= p.top {
			entries = append(entries, entry{pl.XAdd(ctx, &redis.XAddArgs{Stream: p.key, ID: logID(size, true),
				Values: []any{"end", strconv.FormatInt(size, 10)}}), size})
			pl.PExpire(ctx, p.key, p.s.Linger)
		} else if expire {
			pl.PExpire(ctx, p.key, p.s.TTL)
		}
		return nil
	})
	// Each entry that went in (or was there already) is done with.
	ok := true
	for _, e := range entries {
		if e.cmd.Err() != nil && !isStale(e.cmd.Err()) {
			ok = false
			break
		}
		p.top = max(p.top, e.end)
	}
	p.mu.Lock()
	if done := p.top - p.bufOff; done > 0 {
		done = min(done, int64(len(p.buf)))
		p.buf = append(p.buf[:0], p.buf[done:]...)
		p.bufOff += done
	}
	p.mu.Unlock()
	if !ok || err != nil && !isStale(err) {
		p.top = -1 // read it again: some entries may have gone in
		p.failed(err)
		return
	}
	if expire || end {
		p.expiredAt = time.Now()
	}
	if p.failing {
		p.failing = false
		p.log.Info("live log: publishing again")
	}
}

// renew keeps a silent run's stream alive.
func (p *LogPublisher) renew() {
	if time.Since(p.expiredAt) < p.s.TTL/4 || p.expiredAt.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.s.Timeout)
	defer cancel()
	if err := p.s.rdb.PExpire(ctx, p.key, p.s.TTL).Err(); err != nil {
		p.failed(err)
		return
	}
	p.expiredAt = time.Now()
}

func (p *LogPublisher) minID(end int64) string {
	if low := end - p.s.MaxBytes; low > 0 {
		return strconv.FormatInt(low, 10) + "-0"
	}
	return ""
}

// readTop returns the offset the stream ends at (0 when there is none).
func (p *LogPublisher) readTop(ctx context.Context) (int64, error) {
	msgs, err := p.s.rdb.XRevRangeN(ctx, p.key, "+", "-", 1).Result()
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	end, _, _ := parseLogID(msgs[0].ID)
	return end, nil
}

func (p *LogPublisher) failed(err error) {
	if !p.failing {
		p.failing = true
		p.log.Warn("live log: publish failed; retrying with the next flush (the stored log keeps every line)", "error", err)
	}
}

// isStale: Redis refused an entry the stream already has.
func isStale(err error) bool {
	return err != nil && strings.Contains(err.Error(), "equal or smaller than the target stream top item")
}

// parseLogID splits a log entry's id: the end offset, and whether it is an
// end entry.
func parseLogID(id string) (end int64, isEnd, ok bool) {
	sid, ok := parseID(id)
	if !ok || sid.ms > 1<<62 || sid.seq > 1 {
		return 0, false, false
	}
	return int64(sid.ms), sid.seq == 1, true
}

// logID is the id of the entry that ends at offset end.
func logID(end int64, isEnd bool) string {
	if isEnd {
		return strconv.FormatInt(end, 10) + "-1"
	}
	return strconv.FormatInt(end, 10) + "-0"
}
