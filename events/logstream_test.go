package events

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/internal/testenv"
)

func newLogStreams(t *testing.T) *LogStreams {
	t.Helper()
	return NewLogStreams(client(t, testenv.RedisURL(t)), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
}

// readAll reads the whole stream after cursor, without waiting.
func readAll(t *testing.T, s *LogStreams, id uuid.UUID, cursor string) []LogChunk {
	t.Helper()
	var all []LogChunk
	for {
		chunks, err := s.ReadLog(t.Context(), id, cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) == 0 {
			return all
		}
		all = append(all, chunks...)
		cursor = chunks[len(chunks)-1].ID
	}
}

// join checks that chunks are contiguous from their first offset and
// returns their bytes, that offset and whether they end with an end entry.
func join(t *testing.T, chunks []LogChunk) (data []byte, from int64, ended bool) {
	t.Helper()
	if len(chunks) == 0 {
		return nil, 0, false
	}
	from = chunks[0].Off
	next := from
	for i, c := range chunks {
		if c.Off != next {
			t.Fatalf("entry %d at %d, want %d: a gap or an overlap", i, c.Off, next)
		}
		if c.End {
			if i != len(chunks)-1 {
				t.Fatalf("an end entry at %d is not the last", i)
			}
			return data, from, true
		}
		data = append(data, c.Data...)
		next += int64(len(c.Data))
	}
	return data, from, false
}

// Many small writes go out in a few flushes, in order, each entry at its
// byte offset; Close adds the end entry and the Linger.
func TestLogPublisherBatches(t *testing.T) {
	t.Parallel()
	s := newLogStreams(t)
	s.Linger = time.Minute
	id := uuid.New()
	p := s.Publish(id)
	var want bytes.Buffer
	for i := range 5000 {
		line := fmt.Appendf(nil, "line %d\n", i)
		p.Write(int64(want.Len()), line)
		want.Write(line)
	}
	p.Close()
	p.Write(int64(want.Len()), []byte("after the close\n")) // dropped

	chunks := readAll(t, s, id, LogCursor(0))
	data, from, ended := join(t, chunks)
	if from != 0 || !ended || !bytes.Equal(data, want.Bytes()) {
		t.Fatalf("stream from %d, ended %v, %d bytes; want from 0, ended, %d bytes", from, ended, len(data), want.Len())
	}
	t.Logf("%d bytes in %d writes: %d entries", want.Len(), 5000, len(chunks))
	if len(chunks) > 10 {
		t.Errorf("%d entries for %d bytes written at once: the writes were not batched", len(chunks), want.Len())
	}
	ttl := s.rdb.TTL(t.Context(), LogStreamKey(id)).Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL after the end %v, want the Linger (1m)", ttl)
	}
	// A cursor at any offset reads on from the entry that holds it.
	mid := int64(want.Len() / 2)
	rest := readAll(t, s, id, LogCursor(mid))
	if rest[0].Off > mid || rest[0].Off+int64(len(rest[0].Data)) <= mid {
		t.Errorf("read from %d starts with the entry at %d (+%d)", mid, rest[0].Off, len(rest[0].Data))
	}
	if got := readAll(t, s, id, LogCursor(int64(want.Len()))); len(got) != 1 || !got[0].End {
		t.Errorf("read from the end: %+v, want only the end entry", got)
	}
}

// The stream keeps about MaxBytes of the log's end, however much is written.
func TestLogStreamIsBoundedByBytes(t *testing.T) {
	t.Parallel()
	s := newLogStreams(t)
	s.MaxBytes, s.FlushBytes = 100<<10, 4<<10
	id := uuid.New()
	p := s.Publish(id)
	line := []byte(strings.Repeat("x", 99) + "\n")
	var off int64
	for range 20000 { // 2 MB
		p.Write(off, line)
		off += int64(len(line))
		if off%(200<<10) == 0 {
			time.Sleep(10 * time.Millisecond) // let flushes go out between writes, as a real run does
		}
	}
	p.Close()
	data, from, ended := join(t, readAll(t, s, id, LogCursor(0)))
	if !ended || from+int64(len(data)) != off {
		t.Fatalf("stream ends at %d (ended %v), want %d", from+int64(len(data)), ended, off)
	}
	t.Logf("%d bytes written, the stream holds the last %d", off, len(data))
	if limit := s.MaxBytes + maxEntry + 8<<10; int64(len(data)) > limit || int64(len(data)) < s.MaxBytes {
		t.Errorf("the stream holds %d bytes, want about MaxBytes (%d), at most %d", len(data), s.MaxBytes, limit)
	}
}

// A second attempt that hands over the log from its start (the header, the
// first attempt's output) adds only what the stream lacks.
func TestLogPublisherSkipsWhatTheStreamHas(t *testing.T) {
	t.Parallel()
	s := newLogStreams(t)
	id := uuid.New()
	first := []byte("=== attempt 1 ===\nhello\n")
	p := s.Publish(id)
	p.Write(0, first)
	p.Close()
	more := []byte("=== attempt 2 ===\nagain\n")
	p = s.Publish(id)
	p.Write(0, append(append([]byte(nil), first...), more...))
	p.Close()
	chunks := readAll(t, s, id, LogCursor(0))
	var data []byte
	ends := 0
	next := int64(0)
	for _, c := range chunks {
		if c.End {
			ends++
			continue
		}
		if c.Off != next {
			t.Fatalf("entry at %d, want %d", c.Off, next)
		}
		data = append(data, c.Data...)
		next += int64(len(c.Data))
	}
	if want := string(first) + string(more); string(data) != want || ends != 2 {
		t.Errorf("stream %q with %d end entries, want %q and 2", data, ends, want)
	}
}

// ReadLog waits for the next entry, and returns none when the wait passes.
func TestReadLogWaits(t *testing.T) {
	t.Parallel()
	s := newLogStreams(t)
	id := uuid.New()
	got := make(chan []LogChunk, 1)
	go func() {
		chunks, err := s.ReadLog(t.Context(), id, LogCursor(0), 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- chunks
	}()
	p := s.Publish(id)
	p.Write(0, []byte("first\n"))
	select {
	case chunks := <-got:
		if len(chunks) != 1 || string(chunks[0].Data) != "first\n" {
			t.Errorf("ReadLog: %+v", chunks)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ReadLog did not return the entry written while it waited")
	}
	p.Close()
	chunks, err := s.ReadLog(t.Context(), id, "6-1", 50*time.Millisecond)
	if err != nil || len(chunks) != 0 {
		t.Errorf("after the last entry: %+v, %v", chunks, err)
	}
}

func TestLogTail(t *testing.T) {
	t.Parallel()
	s := newLogStreams(t)
	s.MaxBytes, s.FlushBytes = 1<<10, 64
	id := uuid.New()
	if _, ok, err := s.LogTail(t.Context(), id, 3); ok || err != nil {
		t.Fatalf("no stream: ok %v, %v", ok, err)
	}
	p := s.Publish(id)
	log := []byte("one\ntwo\nthree\n")
	p.Write(0, log)
	p.Close()
	for n, want := range map[int]int64{0: 14, 1: 8, 2: 4, 3: 0, 10: 0} {
		if tail, ok, err := s.LogTail(t.Context(), id, n); !ok || err != nil || tail != (LogTail{want, 14, true}) {
			t.Errorf("tail %d: %+v %v %v, want from %d to 14, whole", n, tail, ok, err, want)
		}
	}
	// A stream trimmed of the log's start: the tail starts at the first
	// whole line it holds.
	id = uuid.New()
	p = s.Publish(id)
	var off int64
	for i := range 4000 { // 40 kB: trimming drops whole nodes of the stream, 4 kB each
		line := fmt.Appendf(nil, "line %04d\n", i) // 10 bytes
		p.Write(off, line)
		off += int64(len(line))
		if i%50 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	p.Close()
	chunks := readAll(t, s, id, LogCursor(0))
	first := chunks[0].Off
	tail, ok, err := s.LogTail(t.Context(), id, 100000)
	if !ok || err != nil || tail.Whole || tail.End != off || first == 0 || tail.Start < first || tail.Start%10 != 0 || tail.Start-first > 10 {
		t.Errorf("tail of a trimmed stream (held from %d to %d): %+v %v %v", first, off, tail, ok, err)
	}
	if tail, _, _ := s.LogTail(t.Context(), id, 3); !tail.Whole || tail.Start != off-30 {
		t.Errorf("tail 3 of a trimmed stream: %+v, want the last 30 bytes, whole", tail)
	}
}

// With Redis away, Write never waits and Close returns within Timeout.
func TestLogPublisherNeverBlocksOnRedis(t *testing.T) {
	t.Parallel()
	o, err := redis.ParseURL("redis://127.0.0.1:1/0") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	o.ContextTimeoutEnabled, o.MaxRetries = true, -1
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	s := NewLogStreams(rdb, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	s.MaxBytes, s.Timeout = 64<<10, 200*time.Millisecond
	p := s.Publish(uuid.New())
	line := []byte(strings.Repeat("y", 999) + "\n")
	began := time.Now()
	for i := range 10000 { // 10 MB: far more than MaxBytes waits
		p.Write(int64(i*len(line)), line)
	}
	wrote := time.Since(began)
	p.Close()
	if w := p.waiting(); w > 2*int(s.MaxBytes) {
		t.Errorf("%d bytes wait for a Redis that is away, more than 2 MaxBytes", w)
	}
	t.Logf("10 MB written in %s, closed %s later", wrote, time.Since(began)-wrote)
}

// Entries that are not a log's (another writer's) are read past, not
// returned, and never stall a reader.
func TestReadLogSkipsForeignEntries(t *testing.T) {
	t.Parallel()
	s := newLogStreams(t)
	id := uuid.New()
	key := LogStreamKey(id)
	type entry struct {
		id     string
		values []any
	}
	var entries []entry
	for i := range 2 * logReadBatch { // more than a read returns
		entries = append(entries, entry{fmt.Sprintf("1-%d", i), []any{"x", "y"}})
	}
	entries = append(entries, entry{"2-0", []any{"off", "0", "data", "too long for its id"}},
		entry{"9-0", []any{"off", "3", "data", "abcdef"}})
	for _, e := range entries {
		if err := s.rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: key, ID: e.id, Values: e.values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	chunks, err := s.ReadLog(t.Context(), id, LogCursor(0), time.Second)
	if err != nil || len(chunks) != 1 || chunks[0].Off != 3 || string(chunks[0].Data) != "abcdef" {
		t.Errorf("ReadLog: %+v, %v; want the one log entry", chunks, err)
	}
	if chunks, err := s.ReadLog(t.Context(), id, "2-0", 0); err != nil || len(chunks) != 1 {
		t.Errorf("ReadLog past the foreign entries: %+v, %v", chunks, err)
	}
}
