package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// client returns a client of a Redis DB of this test's own.
func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newBroker returns a broker on its own client of the Redis DB at url (a
// replica of its own), closed when the test ends.
func newBroker(t *testing.T, url string) *Broker {
	t.Helper()
	return New(t.Context(), client(t, url), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func event(tenant, project uuid.UUID, i int) models.ProjectEvent {
	return models.ProjectEvent{TenantID: tenant, ProjectID: project, ExecutionID: project, Kind: models.LiveProgress,
		Status: models.StatusRunning, Progress: i, Message: fmt.Sprintf("step %d", i)}
}

// follow starts a follower that the test closes.
func follow(t *testing.T, b *Broker, tenant uuid.UUID, lastID string) *Follower {
	t.Helper()
	f, err := b.Follow(t.Context(), tenant, lastID)
	if err != nil {
		t.Fatalf("Follow(%q): %v", lastID, err)
	}
	t.Cleanup(f.Close)
	return f
}

// collect reads n events, failing if they do not come within 10 s (the
// wait of each Next is long: only a wake-up returns it early).
func collect(t *testing.T, f *Follower, n int) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out []Event
	for len(out) < n {
		evs, err := f.Next(ctx, time.Minute)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, evs...)
	}
	if len(out) != n {
		t.Fatalf("got %d events, want %d", len(out), n)
	}
	return out
}

// quiet checks that the follower has nothing more: a marker event published
// now must be the very next one.
func quiet(t *testing.T, b *Broker, f *Follower, tenant uuid.UUID) {
	t.Helper()
	marker := event(tenant, uuid.New(), -1)
	b.Publish(t.Context(), marker)
	got := collect(t, f, 1)
	if got[0].ProjectID != marker.ProjectID {
		t.Fatalf("want only the marker, got %+v first", got[0].ProjectEvent)
	}
}

func progresses(evs []Event) []int {
	out := make([]int, len(evs))
	for i, ev := range evs {
		out[i] = ev.Progress
	}
	return out
}

func TestResume(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	pub, sub := newBroker(t, url), newBroker(t, url)
	// history publishes five events of a new tenant and returns them as
	// read from the start.
	history := func() (uuid.UUID, []Event) {
		tenant, project := uuid.New(), uuid.New()
		for i := range 5 {
			pub.Publish(t.Context(), event(tenant, project, i))
		}
		all := collect(t, follow(t, sub, tenant, "0-0"), 5)
		if got := fmt.Sprint(progresses(all)); got != "[0 1 2 3 4]" {
			t.Fatalf("history: %s", got)
		}
		return tenant, all
	}

	cases := []struct {
		name   string
		lastID func(all []Event) string
		from   int // the first event of the history the follower gets
	}{
		{"after an event", func(all []Event) string { return all[1].ID }, 2},
		{"after the last event", func(all []Event) string { return all[4].ID }, 5},
		{"new follower: from now", func([]Event) string { return "" }, 5},
		{"not an id: from now", func([]Event) string { return "yesterday" }, 5},
		{"garbage that looks like an id: from now", func([]Event) string { return "1-2-3" }, 5},
		{"too old", func([]Event) string { return "1-0" }, 0},
		{"later than the stream: from now", func([]Event) string { return "99999999999999-0" }, 5},
	}
	for _, c := range cases {
		tenant, all := history()
		f := follow(t, sub, tenant, c.lastID(all))
		want := all[c.from:]
		if len(want) > 0 {
			got := collect(t, f, len(want))
			for i := range got {
				if got[i].ID != want[i].ID || got[i].Progress != want[i].Progress {
					t.Errorf("%s: event %d is %s/%d, want %s/%d", c.name, i, got[i].ID, got[i].Progress, want[i].ID, want[i].Progress)
				}
			}
		}
		quiet(t, pub, f, tenant)
	}
}

func TestTrimmedHistoryResumesFromOldestHeld(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	b := newBroker(t, url)
	b.MaxLen = 10
	tenant, project := uuid.New(), uuid.New()
	first := follow(t, b, tenant, "")
	const n = 500
	var seen []Event
	for i := range n {
		b.Publish(t.Context(), event(tenant, project, i))
		seen = append(seen, collect(t, first, 1)...) // before it is trimmed
	}

	rdb := client(t, url)
	held, err := rdb.XLen(t.Context(), StreamKey(tenant)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if held >= n || held < b.MaxLen {
		t.Fatalf("stream holds %d entries, want at least MaxLen=%d and fewer than the %d published", held, b.MaxLen, n)
	}
	if ttl := rdb.TTL(t.Context(), StreamKey(tenant)).Val(); ttl <= 0 || ttl > DefaultTTL {
		t.Errorf("stream TTL %s, want (0, %s]", ttl, DefaultTTL)
	}
	// Resuming from the trimmed first event: every held event, in order,
	// from the oldest, to the end.
	got := collect(t, follow(t, b, tenant, seen[0].ID), int(held))
	want := seen[n-int(held):]
	for i := range got {
		if got[i].ID != want[i].ID {
			t.Fatalf("event %d: %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
}

func TestWakeUpAcrossReplicasAndTenants(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	a, b := newBroker(t, url), newBroker(t, url)
	mine, theirs := uuid.New(), uuid.New()
	f := follow(t, b, mine, "")
	other := follow(t, b, theirs, "")
	a.Publish(t.Context(), event(theirs, uuid.New(), 7))
	a.Publish(t.Context(), event(mine, uuid.New(), 1))
	// collect waits a minute per Next: only the wake-up through Redis
	// pub/sub returns it in time.
	if got := collect(t, f, 1); got[0].TenantID != mine || got[0].Progress != 1 {
		t.Errorf("got %+v", got[0].ProjectEvent)
	}
	if got := collect(t, other, 1); got[0].TenantID != theirs || got[0].Progress != 7 {
		t.Errorf("other tenant got %+v", got[0].ProjectEvent)
	}
	quiet(t, a, f, mine)
}

// TestLostWakeUpIsCaughtAtHeartbeat: an entry whose wake-up never came is
// read when the wait runs out, not lost until the next event.
func TestLostWakeUpIsCaughtAtHeartbeat(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	b := newBroker(t, url)
	tenant := uuid.New()
	f := follow(t, b, tenant, "")
	// A new follower starts dirty and reads at once: use that read up, so
	// that what follows can only come through the timer.
	if evs, err := f.Next(t.Context(), time.Millisecond); err != nil || len(evs) != 0 {
		t.Fatalf("first Next on an empty stream: %v %v", evs, err)
	}
	// An entry added without its wake-up, as when the subscription was
	// reconnecting.
	err := client(t, url).XAdd(t.Context(), &redis.XAddArgs{Stream: StreamKey(tenant),
		Values: []any{"data", `{"kind":"progress","progress":42}`}}).Err()
	if err != nil {
		t.Fatal(err)
	}
	const heartbeat = 300 * time.Millisecond
	start := time.Now()
	evs, err := f.Next(t.Context(), heartbeat)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Progress != 42 {
		t.Fatalf("at the heartbeat: %+v, want the entry whose wake-up was lost", evs)
	}
	if waited := time.Since(start); waited < heartbeat-50*time.Millisecond {
		t.Errorf("the entry came after %s, before the heartbeat (%s): not through the lost-wake-up path", waited, heartbeat)
	}
}

func TestUndecodableEntrySkipped(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	b := newBroker(t, url)
	tenant := uuid.New()
	f := follow(t, b, tenant, "")
	if err := client(t, url).XAdd(t.Context(), &redis.XAddArgs{Stream: StreamKey(tenant), Values: []any{"data", "{not json"}}).Err(); err != nil {
		t.Fatal(err)
	}
	b.Publish(t.Context(), event(tenant, uuid.New(), 3))
	if got := collect(t, f, 1); got[0].Progress != 3 {
		t.Errorf("got %+v", got[0])
	}
}

func TestConcurrentPublishersOneOrder(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	brokers := []*Broker{newBroker(t, url), newBroker(t, url)}
	tenant := uuid.New()
	f := follow(t, newBroker(t, url), tenant, "")
	const perWriter, writers = 50, 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			project := uuid.New()
			for i := range perWriter {
				brokers[w%2].Publish(context.Background(), event(tenant, project, i))
			}
		}()
	}
	wg.Wait()
	got := collect(t, f, perWriter*writers)
	last := map[uuid.UUID]int{}
	var prev streamID
	for i, ev := range got {
		id, ok := parseID(ev.ID)
		if !ok || !prev.less(id) {
			t.Fatalf("event %d: id %s does not follow %s", i, ev.ID, prev)
		}
		prev = id
		if p, seen := last[ev.ProjectID]; seen && ev.Progress != p+1 || !seen && ev.Progress != 0 {
			t.Fatalf("writer %s: %d after %d", ev.ProjectID, ev.Progress, p)
		}
		last[ev.ProjectID] = ev.Progress
	}
	quiet(t, brokers[0], f, tenant)
}

func TestCloseEndsFollowers(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	ctx, shutdown := context.WithCancel(t.Context())
	b := New(ctx, client(t, url), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	tenant := uuid.New()
	f := follow(t, b, tenant, "")
	done := make(chan error, 1)
	go func() {
		_, err := f.Next(context.Background(), time.Hour)
		done <- err
	}()
	shutdown() // the server is shutting down
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next still waiting after the broker closed")
	}
	if _, err := b.Follow(t.Context(), tenant, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Follow after Close: %v", err)
	}
	// Publishing goes on (a worker in the same process finishing a run).
	b.Publish(t.Context(), event(tenant, uuid.New(), 1))
	if n := client(t, url).XLen(t.Context(), StreamKey(tenant)).Val(); n != 1 {
		t.Errorf("stream has %d entries after a publish on a closed broker, want 1", n)
	}
}

func TestSubscriptionHeldOnlyWhileFollowed(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	b := newBroker(t, url)
	rdb := client(t, url)
	subscribers := func() int64 { return rdb.PubSubNumSub(t.Context(), b.channel).Val()[b.channel] }
	tenant := uuid.New()
	f1 := follow(t, b, tenant, "")
	f2 := follow(t, b, uuid.New(), "")
	if n := subscribers(); n != 1 {
		t.Errorf("%d subscriptions with two followers, want 1", n)
	}
	f1.Close()
	f2.Close()
	f2.Close() // twice is harmless
	deadline := time.Now().Add(10 * time.Second)
	for subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("subscription still held after the last follower left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And it comes back with the next follower.
	f3 := follow(t, b, tenant, "")
	if n := subscribers(); n != 1 {
		t.Errorf("%d subscriptions after a new follower, want 1", n)
	}
	quiet(t, b, f3, tenant)
}

func TestPublishWithRedisDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	b := New(t.Context(), rdb, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	b.PublishPause = time.Hour
	ev := event(uuid.New(), uuid.New(), 1)
	b.Publish(t.Context(), ev) // fails, logged
	b.Publish(t.Context(), ev) // dropped without trying
	b.pubMu.Lock()
	paused, dropped := !b.pausedUntil.IsZero(), b.dropped
	b.pubMu.Unlock()
	if !paused || dropped != 2 {
		t.Errorf("after two publishes with Redis down: paused %v, dropped %d; want paused, 2", paused, dropped)
	}
	if _, err := b.Follow(t.Context(), ev.TenantID, ""); err == nil {
		t.Error("Follow with Redis down: no error")
	}
}

func TestStreamID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		ok   bool
		next string
	}{
		{"1700000000000-0", true, "1700000000000-1"},
		{"5-18446744073709551615", true, "6-0"},
		{"0-0", true, "0-1"},
		{"1700000000000", false, ""},
		{"-1-0", false, ""},
		{"a-b", false, ""},
		{"", false, ""},
	} {
		id, ok := parseID(c.in)
		if ok != c.ok || ok && id.next().String() != c.next {
			t.Errorf("parseID(%q) = %v, %v; next %s", c.in, id, ok, id.next())
		}
	}
	if !(streamID{1, 9}).less(streamID{2, 0}) || (streamID{2, 0}).less(streamID{1, 9}) || (streamID{1, 1}).less(streamID{1, 1}) {
		t.Error("less")
	}
}

// Head is "0-0" for an empty stream and the last event's id otherwise; a
// follower started with Head gets exactly the events published after the
// read, whether the stream was empty or not.
func TestHead(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	pub, sub := newBroker(t, url), newBroker(t, url)
	tenant, project := uuid.New(), uuid.New()

	head, err := sub.Head(t.Context(), tenant)
	if err != nil || head != "0-0" {
		t.Fatalf("Head of an empty stream = %q, %v; want 0-0", head, err)
	}
	// Events come between the page's Head and its follower: none is missed.
	for i := range 3 {
		pub.Publish(t.Context(), event(tenant, project, i))
	}
	all := collect(t, follow(t, sub, tenant, head), 3)
	if got := fmt.Sprint(progresses(all)); got != "[0 1 2]" {
		t.Fatalf("after an empty Head: %s", got)
	}

	head, err = sub.Head(t.Context(), tenant)
	if err != nil || head != all[2].ID {
		t.Fatalf("Head = %q, %v; want the last event's id %s", head, err, all[2].ID)
	}
	pub.Publish(t.Context(), event(tenant, project, 3))
	pub.Publish(t.Context(), event(tenant, project, 4))
	f := follow(t, sub, tenant, head)
	if got := fmt.Sprint(progresses(collect(t, f, 2))); got != "[3 4]" {
		t.Errorf("after Head: %s, want [3 4] (no event before Head, none lost after)", got)
	}
	quiet(t, pub, f, tenant)

	// Another tenant's stream is its own.
	if h, err := sub.Head(t.Context(), uuid.New()); err != nil || h != "0-0" {
		t.Errorf("Head of another tenant = %q, %v", h, err)
	}
}

func TestHeadWithRedisDown(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	b := New(t.Context(), down, slog.New(slog.DiscardHandler))
	if h, err := b.Head(t.Context(), uuid.New()); err == nil {
		t.Errorf("Head with Redis down = %q, nil; want an error", h)
	}
}
