// Package events carries the live events of project runs (status changes
// and progress, models.ProjectEvent) from whichever process makes them to
// every API replica, through Redis, so that any replica can serve any
// follower (the SSE routes).
//
// # Design
//
// Each tenant has one Redis stream, q2o:events:<tenant_id>, capped at about
// MaxLen entries (XADD MAXLEN ~) and expiring TTL after its last event. The
// stream is the ordered, shared history: its entry ids are the SSE event
// ids, and a follower that comes back with the last id it saw (Last-Event-ID)
// reads on from there, with no gap and no duplicate, for as long as the
// entries are held.
//
// Redis pub/sub carries only a wake-up: after each XADD the publisher
// PUBLISHes the tenant id on one channel. Each replica holds a single
// subscription (while it has followers) and wakes its followers of that
// tenant, which then read the stream from their own cursor (XRANGE). Why
// not the other ways:
//
//   - Events in the pub/sub messages themselves: pub/sub is at-most-once and
//     has no history, so a follower would lose what was published while it
//     was reconnecting, and two publishers' messages can arrive in another
//     order than their stream entries. Reading the stream keeps one order
//     for everyone and makes resuming and live following the same code.
//   - XREAD BLOCK per follower: each waiting follower would hold a Redis
//     connection of its own for as long as it is connected; with pub/sub a
//     replica holds one connection however many followers it serves.
//
// A lost wake-up (the subscription was reconnecting) costs latency, never an
// event: the subscription's re-confirmation after a reconnect wakes every
// follower, and every follower also re-reads its stream each Heartbeat.
//
// Publishing is best effort and bounded in time (PublishTimeout, then a
// short pause after a failure): the database stays the truth, and a run
// never waits long on Redis.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/models"
)

// Defaults of a Broker's settings.
const (
	DefaultMaxLen         = 1000
	DefaultTTL            = 24 * time.Hour
	DefaultHeartbeat      = 15 * time.Second
	DefaultPublishTimeout = 500 * time.Millisecond
	DefaultPublishPause   = 2 * time.Second
)

// readBatch is how many entries one read of a stream returns at most.
const readBatch = 100

// ErrClosed is returned to followers of a closed Broker (the server is
// shutting down).
var ErrClosed = errors.New("events: broker closed")

// Broker publishes project events to Redis and serves followers of them. It
// implements the service's EventPublisher. Set its fields before first use.
type Broker struct {
	// MaxLen is about how many events of a tenant are kept for resuming.
	MaxLen int64
	// TTL drops a tenant's stream about this long (at least 0.9 of it)
	// after its last event.
	TTL time.Duration
	// Heartbeat is the longest a follower waits without news: Next then
	// returns no events (the SSE route sends a keep-alive comment), after
	// reading the stream again in case a wake-up was lost.
	Heartbeat time.Duration
	// PublishTimeout bounds one Publish. It holds on a stalled connection
	// only when the Redis client honours context deadlines
	// (redis.Options.ContextTimeoutEnabled); otherwise the client's own
	// read and write timeouts bound it.
	PublishTimeout time.Duration
	// PublishPause is how long Publish drops events after a failure, so that
	// runs do not wait on a Redis that is down, one event after another.
	PublishPause time.Duration

	rdb     *redis.Client
	log     *slog.Logger
	channel string
	hub     hub

	closeOnce sync.Once
	closed    chan struct{}

	pubMu       sync.Mutex
	pausedUntil time.Time
	dropped     int
	expired     map[string]time.Time // when Publish last set a stream's TTL
}

// New returns a Broker over rdb. Its followers end (Next returns ErrClosed)
// when ctx is done, which is how the API's event streams end when the
// server shuts down; Publish keeps working after that, for a worker that is
// still finishing runs in the same process.
func New(ctx context.Context, rdb *redis.Client, log *slog.Logger) *Broker {
	// Pub/sub channels are not scoped by the Redis DB number, keys are: the
	// channel names the DB, so that two deployments (or test runs) on one
	// Redis server do not wake each other.
	channel := "q2o:events:notify:" + strconv.Itoa(rdb.Options().DB)
	b := &Broker{
		MaxLen: DefaultMaxLen, TTL: DefaultTTL, Heartbeat: DefaultHeartbeat,
		PublishTimeout: DefaultPublishTimeout, PublishPause: DefaultPublishPause,
		rdb: rdb, log: log, channel: channel, closed: make(chan struct{}),
		hub: hub{rdb: rdb, log: log, channel: channel, followers: map[string]map[*Follower]struct{}{}},
	}
	context.AfterFunc(ctx, b.Close)
	return b
}

// Close ends every follower now and refuses new ones. Publishing goes on.
func (b *Broker) Close() {
	b.closeOnce.Do(func() { close(b.closed) })
}

// Closed is closed once the Broker is (the server is shutting down): a
// long answer that is not a follower, such as a followed log, ends with it.
func (b *Broker) Closed() <-chan struct{} { return b.closed }

// KeepAlive is the Heartbeat: how often a follower's stream hears from the
// broker when nothing happens.
func (b *Broker) KeepAlive() time.Duration { return b.Heartbeat }

// StreamKey is the Redis key of a tenant's event stream.
func StreamKey(tenantID uuid.UUID) string { return "q2o:events:" + tenantID.String() }

// Publish appends ev to its tenant's stream and wakes the followers. It
// never fails the caller: an error is logged, and for PublishPause after it
// events are dropped without trying.
func (b *Broker) Publish(ctx context.Context, ev models.ProjectEvent) {
	if !b.publishing() {
		return
	}
	data, err := json.Marshal(ev)
	if err != nil {
		b.log.Error("live event not published", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.PublishTimeout)
	defer cancel()
	key := StreamKey(ev.TenantID)
	expire := b.expireDue(key)
	// One round trip: a single Redis runs a pipeline's commands in order,
	// so the wake-up still goes only once the entry is there (rdb is one
	// server's client, not a cluster's).
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: b.MaxLen, Approx: true, Values: []any{"data", data}})
		if expire {
			p.Expire(ctx, key, b.TTL)
		}
		p.Publish(ctx, b.channel, ev.TenantID.String())
		return nil
	})
	if err != nil {
		b.forgetExpire(key)
		b.publishFailed(ev, err)
	}
}

// expireDue reports whether Publish sets the stream's TTL again: not on
// every event, only when this process last did more than a tenth of TTL ago
// (so a stream still lives at least 0.9 TTL after its last event).
func (b *Broker) expireDue(key string) bool {
	now := time.Now()
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.expired == nil || len(b.expired) > maxExpireMemo {
		b.expired = map[string]time.Time{}
	}
	if last, ok := b.expired[key]; ok && now.Sub(last) < b.TTL/10 {
		return false
	}
	b.expired[key] = now
	return true
}

func (b *Broker) forgetExpire(key string) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	delete(b.expired, key)
}

// maxExpireMemo bounds expireDue's memory of streams (then it starts over).
const maxExpireMemo = 10000

// publishing reports whether Publish should try, and logs the end of a
// pause.
func (b *Broker) publishing() bool {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.pausedUntil.IsZero() {
		return true
	}
	if time.Now().Before(b.pausedUntil) {
		b.dropped++
		return false
	}
	b.log.Info("live events: publishing again", "dropped", b.dropped)
	b.pausedUntil, b.dropped = time.Time{}, 0
	return true
}

func (b *Broker) publishFailed(ev models.ProjectEvent, err error) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	b.pausedUntil = time.Now().Add(b.PublishPause)
	b.dropped++
	b.log.Warn("live events: publish failed; dropping events for a while (the database keeps the state)",
		"error", err, "kind", ev.Kind, "execution_id", ev.ExecutionID.String(), "pause", b.PublishPause.String())
}

// Event is a project event with its id in the tenant's stream (the SSE id).
type Event struct {
	ID string
	models.ProjectEvent
}

// Follower reads one tenant's events in order. It is not safe for
// concurrent use; Close it when done.
type Follower struct {
	b      *Broker
	tenant string
	key    string
	cursor streamID // the last entry read
	wake   chan struct{}
	dirty  bool // there may be entries after cursor
}

// Follow starts following a tenant's events after lastID:
//
//   - "" (a new follower): from now on; what happened before is in the
//     database (the project's status and progress).
//   - the id of an event it saw: from the next one, with no gap and no
//     duplicate, if the stream still holds the events after it.
//   - an id older than every event held (they were trimmed or expired): from
//     the oldest one held. The events in between are lost to the follower.
//   - anything else (not a stream id, or an id later than the stream's last
//     event): from now on, like a new follower. No stream of ours sent it,
//     so it says nothing about what its sender has seen; replaying the
//     whole backlog for it would let any garbage cost a full read.
//
// Errors: ErrClosed, or Redis's when it cannot be reached.
func (b *Broker) Follow(ctx context.Context, tenantID uuid.UUID, lastID string) (*Follower, error) {
	select {
	case <-b.closed:
		return nil, ErrClosed
	default:
	}
	f := &Follower{b: b, tenant: tenantID.String(), key: StreamKey(tenantID), wake: make(chan struct{}, 1), dirty: true}
	// Listening starts before the starting point is read: an event added
	// after that read has its wake-up delivered.
	if err := b.hub.add(ctx, f); err != nil {
		return nil, err
	}
	start, err := b.startAfter(ctx, f.key, lastID)
	if err != nil {
		b.hub.remove(f)
		return nil, err
	}
	f.cursor = start
	return f, nil
}

// Head returns the id of the last event in the tenant's stream, or "0-0"
// when the stream holds none. A page rendered after reading Head, whose
// follower then starts with Follow(Head) (last_event_id=Head), misses no
// event: every event added after the read has a greater id, and "0-0" is
// before every id, so an empty stream's follower gets everything from its
// first event on.
// Errors: Redis's when it cannot be reached.
func (b *Broker) Head(ctx context.Context, tenantID uuid.UUID) (string, error) {
	key := StreamKey(tenantID)
	msgs, err := b.rdb.XRevRangeN(ctx, key, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read the end of %s: %w", key, err)
	}
	if len(msgs) == 0 {
		return streamID{}.String(), nil
	}
	return msgs[0].ID, nil
}

// startAfter resolves where a follower starts (see Follow).
func (b *Broker) startAfter(ctx context.Context, key, lastID string) (streamID, error) {
	msgs, err := b.rdb.XRevRangeN(ctx, key, "+", "-", 1).Result()
	if err != nil {
		return streamID{}, fmt.Errorf("read the end of %s: %w", key, err)
	}
	var last streamID
	if len(msgs) == 1 {
		last, _ = parseID(msgs[0].ID)
	}
	if lastID == "" {
		return last, nil
	}
	id, ok := parseID(lastID)
	if !ok || last.less(id) {
		return last, nil
	}
	return id, nil
}

// Next returns the follower's next events in order, waiting up to wait for
// some; it returns none when wait passes without any.
// Errors: ErrClosed, ctx's error, or Redis's.
func (f *Follower) Next(ctx context.Context, wait time.Duration) ([]Event, error) {
	timer := time.NewTimer(max(wait, 0))
	defer timer.Stop()
	for {
		if f.dirty {
			f.dirty = false
			evs, err := f.read(ctx)
			if err != nil || len(evs) > 0 {
				return evs, err
			}
		}
		select {
		case <-f.wake:
			f.dirty = true
		case <-timer.C:
			return f.read(ctx) // in case a wake-up was lost
		case <-f.b.closed:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// read returns the entries after the cursor (a batch at most) and moves the
// cursor past them. An entry that does not decode is logged and skipped.
func (f *Follower) read(ctx context.Context) ([]Event, error) {
	msgs, err := f.b.rdb.XRangeN(ctx, f.key, f.cursor.next().String(), "+", readBatch).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.key, err)
	}
	if len(msgs) == readBatch {
		f.dirty = true
	}
	evs := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		id, ok := parseID(m.ID)
		if !ok {
			continue
		}
		f.cursor = id
		data, _ := m.Values["data"].(string)
		var ev models.ProjectEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			f.b.log.Warn("live events: undecodable entry skipped", "key", f.key, "id", m.ID, "error", err)
			continue
		}
		evs = append(evs, Event{ID: m.ID, ProjectEvent: ev})
	}
	return evs, nil
}

// Close stops following.
func (f *Follower) Close() { f.b.hub.remove(f) }
