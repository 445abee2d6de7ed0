package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// liveLog reads a followed log's events as they come.
type liveLog struct {
	t      *testing.T
	events chan apptest.Event // closed when the stream ends
}

// followLive opens path's followed log on app, resuming after lastID when
// set.
func followLive(t *testing.T, app *apptest.App, key, path, lastID string) *liveLog {
	t.Helper()
	res := app.SSE(key, path, lastID)
	l := &liveLog{t: t, events: make(chan apptest.Event, 100000)}
	go func() {
		defer close(l.events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev apptest.Event
		for sc.Scan() {
			line := sc.Text()
			field, value, _ := strings.Cut(line, ": ")
			switch {
			case line == "":
				if ev != (apptest.Event{}) {
					l.events <- ev
				}
				ev = apptest.Event{}
			case field == "id":
				ev.ID = value
			case field == "event":
				ev.Event = value
			case field == "data":
				ev.Data = value
			}
		}
	}()
	return l
}

// until returns the events up to the first that stop accepts (included),
// failing the test if it does not come within 30 s.
func (l *liveLog) until(stop func(apptest.Event) bool) []apptest.Event {
	l.t.Helper()
	var got []apptest.Event
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-l.events:
			if !ok {
				l.t.Fatalf("the followed log ended; got %v", got)
			}
			got = append(got, ev)
			if stop(ev) {
				return got
			}
		case <-timeout:
			l.t.Fatalf("not within 30 s; got %v", got)
		}
	}
}

func isEnd(ev apptest.Event) bool { return ev.Event == "end" }

func hasData(s string) func(apptest.Event) bool {
	return func(ev apptest.Event) bool { return ev.Data == s }
}

// offsetOf is the byte offset in a log event's id.
func offsetOf(t *testing.T, ev apptest.Event) int64 {
	t.Helper()
	_, off, _ := strings.Cut(ev.ID, "/")
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil {
		t.Fatalf("event id %q", ev.ID)
	}
	return n
}

// checkLines checks that line events follow each other in the log: each
// one's offset is the last one's plus its line and newline.
func checkLines(t *testing.T, from int64, evs []apptest.Event) {
	t.Helper()
	at := from
	for _, ev := range evs {
		if ev.Event != "" {
			continue
		}
		if off := offsetOf(t, ev); off != at+int64(len(ev.Data))+1 {
			t.Fatalf("line %q ends at %d, want %d: a gap or a repeat", ev.Data, off, at+int64(len(ev.Data))+1)
		}
		at = offsetOf(t, ev)
	}
}

func dataOf(evs []apptest.Event) []string {
	var d []string
	for _, ev := range evs {
		if ev.Event == "" {
			d = append(d, ev.Data)
		}
	}
	return d
}

// liveRun starts a loglines.py run of a new project through a and waits
// until it runs; it returns the tenant key, the logs path, the execution
// id and the run's output folder.
func liveRun(t *testing.T, a *apptest.App, name string) (key, logs, eid, dir string) {
	t.Helper()
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, name)
	eid = a.Run(tn.Key, pid)
	p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	return tn.Key, "/api/tenant/projects/" + pid + "/logs", eid, apptest.Deref(p.OutputFolderPath)
}

// A log followed through replica 2 shows, while the run lives, the lines a
// worker of replica 1 writes, when run.log is not in any folder the API can
// read (as with a worker on another host: only the stream has them), and
// goes on to the "end".
func TestLogFollowedThroughAnotherReplica(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{})
	a.StartWorker(a.LogLinesConfig("--phases 3,2", "--flush"))
	key, logs, eid, dir := liveRun(t, a, "followed elsewhere")
	a.WaitLog(key, logs, "phase 1 line 3") // main.py waits at its gate now
	// The worker writes on into the unlinked file.
	if err := os.Remove(filepath.Join(dir, "run.log")); err != nil {
		t.Fatal(err)
	}
	if got := b.Logs(key, logs+"?tail=2"); got != "phase 1 line 2\nphase 1 line 3\n" {
		t.Errorf("tail=2 through replica 2: %q", got)
	}

	fl := followLive(t, b, key, logs, "")
	first := fl.until(hasData("phase 1 line 3"))
	if !strings.HasPrefix(first[0].Data, "=== q2o execution "+eid) {
		t.Errorf("the followed log starts with %q, want run.log's header", first[0].Data)
	}
	checkLines(t, 0, first)
	apptest.OpenGate(t, dir, 1)
	rest := fl.until(isEnd)
	if got := rest[len(rest)-1].Data; got != "completed" {
		t.Errorf("end event %q, want completed", got)
	}
	checkLines(t, offsetOf(t, first[len(first)-1]), rest)
	if got, want := strings.Join(dataOf(rest), "|"), "phase 2 line 1|phase 2 line 2|PROGRESS 100 done"; got != want {
		t.Errorf("after the gate: %q, want %q", got, want)
	}
}

// A follower that reconnects to another replica with Last-Event-ID, while
// the run lives, goes on after the line it names: no gap, no repeat.
func TestLogResumeOnAnotherReplica(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{})
	a.StartWorker(a.LogLinesConfig("--phases 4,3", "--flush"))
	key, logs, _, dir := liveRun(t, a, "resumed")

	seen := followLive(t, a, key, logs, "").until(hasData("phase 1 line 4"))
	resumeAt := seen[2] // "phase 1 line 2"
	apptest.OpenGate(t, dir, 1)
	rest := followLive(t, b, key, logs, resumeAt.ID).until(isEnd)
	checkLines(t, offsetOf(t, resumeAt), rest)
	full := a.Logs(key, logs+"?tail=10000")
	got := strings.Join(append(dataOf(seen[:3]), dataOf(rest)...), "\n") + "\n"
	if got != full {
		t.Errorf("seen up to %q, then resumed:\n%s\nwant the log:\n%s", resumeAt.Data, got, full)
	}
}

// A resume from an offset the stream no longer holds, while the stored
// log is not there, sends a "gap" event, then what the stream has.
func TestLogResumeIntoTrimmedStreamShowsTheGap(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.LogStreams().MaxBytes = 32 << 10
	a.StartWorker(a.LogLinesConfig("--phases 5000,1", "--width 40"))
	key, logs, eid, dir := liveRun(t, a, "trimmed")
	fl := followLive(t, a, key, logs, "")
	fl.until(hasData(padded("phase 1 line 5000", 40)))
	fi, err := os.Stat(filepath.Join(dir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "run.log")); err != nil { // the stored log is not there yet
		t.Fatal(err)
	}

	r := followLive(t, a, key, logs, eid+"/41")
	gap := r.until(func(apptest.Event) bool { return true })[0]
	var g struct{ From, To int64 }
	if err := json.Unmarshal([]byte(gap.Data), &g); err != nil || gap.Event != "gap" || g.From != 41 || g.To <= 41 ||
		gap.ID != fmt.Sprintf("%s/%d", eid, g.To) {
		t.Fatalf("first event %+v, want a gap from 41", gap)
	}
	if held := fi.Size() - g.To; held > 32<<10+64<<10+8<<10 {
		t.Errorf("the stream held %d bytes, more than its bound", held)
	}
	apptest.OpenGate(t, dir, 1)
	rest := r.until(isEnd)
	if d := dataOf(rest); len(d) < 2 || d[len(d)-1] != "PROGRESS 100 done" || d[len(d)-2] != padded("phase 2 line 1", 40) {
		t.Errorf("after the gap: %q", d)
	}
}

func padded(s string, width int) string { return s + strings.Repeat(".", width-1-len(s)) }

// A follow of a finished run whose stream has gone reads the stored log.
func TestLogFollowOfAFinishedRunReadsTheStoredLog(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{})
	a.LogStreams().Linger = 100 * time.Millisecond
	a.StartWorker(a.LogLinesConfig("--phases 3,2"))
	key, logs, eid, dir := liveRun(t, a, "finished")
	apptest.OpenGate(t, dir, 1)
	pid := strings.Split(logs, "/")[4]
	a.AwaitProject(key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	apptest.WaitFor(t, "the stream goes away", 10*time.Second, func() bool {
		return a.Redis.Exists(t.Context(), events.LogStreamKey(uuid.MustParse(eid))).Val() == 0
	})
	full := a.Logs(key, logs+"?tail=10000")
	evs := followLive(t, b, key, logs, "").until(isEnd)
	checkLines(t, 0, evs)
	if got := strings.Join(dataOf(evs), "\n") + "\n"; got != full || evs[len(evs)-1].Data != "completed" {
		t.Errorf("followed %q (end %q), want the stored log %q", got, evs[len(evs)-1].Data, full)
	}
	evs = followLive(t, b, key, logs+"?tail=1", "").until(isEnd)
	if d := dataOf(evs); len(d) != 1 || d[0] != "PROGRESS 100 done" {
		t.Errorf("tail=1 of the stored log: %q", d)
	}
}

// A followed log of a run cancelled while main.py runs gets the lines
// main.py writes while it stops, however long it takes (within the kill
// grace), then the "end".
func TestLogFollowOfAStoppedRunWaitsForItsLastLines(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.LogLinesConfig("--phases 2,1", "--flush", "--term-wait 4") // longer than logSettle (3 s)
	cfg.KillGrace = 30 * time.Second
	a.StartWorker(cfg)
	key, logs, _, _ := liveRun(t, a, "stopped")
	fl := followLive(t, a, key, logs, "")
	fl.until(hasData("phase 1 line 2"))
	a.Cancel(key, strings.Split(logs, "/")[4])
	rest := fl.until(isEnd)
	if d := dataOf(rest); len(d) != 1 || d[0] != "stopped after SIGTERM" || rest[len(rest)-1].Data != "cancelled" {
		t.Errorf("after the cancel: %q, end %q; want main.py's last line, then cancelled", d, rest[len(rest)-1].Data)
	}
}

// logCommands counts the Redis commands on log streams, and the round
// trips that carry them.
type logCommands struct{ cmds, trips atomic.Int64 }

func onLogStream(cmd redis.Cmder) bool {
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && strings.HasPrefix(s, "q2o:log:") {
			return true
		}
	}
	return false
}

func (h *logCommands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *logCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if onLogStream(cmd) {
			h.cmds.Add(1)
			h.trips.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *logCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, c := range cmds {
			if onLogStream(c) {
				n++
			}
		}
		if n > 0 {
			h.cmds.Add(int64(n))
			h.trips.Add(1)
		}
		return next(ctx, cmds)
	}
}

// A chatty main.py (10,000 lines a second, each flushed) costs a few Redis
// commands a second, its stream keeps about MaxBytes of the log's end, and
// the stream goes away after the run.
func TestLogStreamOfAChattyRun(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	ls := a.LogStreams()
	ls.MaxBytes, ls.Linger = 256<<10, 200*time.Millisecond
	var count logCommands
	a.Redis.AddHook(&count)
	const lines, width = 30000, 40
	a.StartWorker(a.LogLinesConfig(fmt.Sprintf("--phases %d,1", lines), fmt.Sprintf("--width %d", width), "--rate 10000", "--flush"))
	key, logs, eid, dir := liveRun(t, a, "chatty")
	began, cmds0, trips0 := time.Now(), count.cmds.Load(), count.trips.Load()
	runLog := filepath.Join(dir, "run.log")
	head := apptest.WaitFile(t, runLog, 10*time.Second)
	wantSize := int64(strings.IndexByte(head, '\n')+1) + lines*width // the header, then the lines
	key2 := events.LogStreamKey(uuid.MustParse(eid))
	var size int64
	apptest.WaitFor(t, "main.py prints its lines", 60*time.Second, func() bool {
		fi, err := os.Stat(runLog)
		if err == nil {
			size = fi.Size()
		}
		return size >= wantSize
	})
	took := time.Since(began)
	cmds, trips := count.cmds.Load()-cmds0, count.trips.Load()-trips0

	// Live (main.py waits at its gate): the stream ends where run.log does,
	// and holds about MaxBytes of it.
	var held, end int64
	apptest.WaitFor(t, "the stream catches up with run.log", 10*time.Second, func() bool {
		held, end = streamSpan(t, a.Redis, key2)
		return end == size
	})
	if held < ls.MaxBytes || held > ls.MaxBytes+64<<10+8<<10 {
		t.Errorf("the stream holds %d bytes, want about %d", held, ls.MaxBytes)
	}
	perSec := float64(cmds) / took.Seconds()
	t.Logf("%d lines (%d bytes) in %s (%.0f lines/s): %d Redis commands in %d round trips on the log stream, %.1f commands/s; the stream holds %d bytes",
		lines, lines*width, took.Round(time.Millisecond), float64(lines)/took.Seconds(), cmds, trips, perSec, held)
	// The promise: a flush at most every FlushEvery, or per FlushBytes
	// written (and a few more: the first read of the stream's end, the
	// EXPIREs), however many lines.
	if limit := int64(took/ls.FlushEvery) + lines*width/int64(ls.FlushBytes) + 10; cmds > limit {
		t.Errorf("%d commands for %d lines in %s, want at most %d: the writes are not batched", cmds, lines, took, limit)
	}

	apptest.OpenGate(t, dir, 1)
	a.AwaitProject(key, strings.Split(logs, "/")[4], 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	apptest.WaitFor(t, "the stream goes away after the run", 10*time.Second, func() bool {
		return a.Redis.Exists(t.Context(), key2).Val() == 0
	})
}

// streamSpan returns how many bytes of the log a stream holds and where it
// ends.
func streamSpan(t *testing.T, rdb *redis.Client, key string) (held, end int64) {
	t.Helper()
	msgs, err := rdb.XRange(t.Context(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if d, ok := m.Values["data"].(string); ok {
			held += int64(len(d))
		}
		e, _, _ := strings.Cut(m.ID, "-")
		end, _ = strconv.ParseInt(e, 10, 64)
	}
	return held, end
}
