package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// This file is how an idle worker waits for a task without polling Redis
// every Q2O_WORKER_POLL_INTERVAL. asynq's processor polls: when every queue
// is empty it sleeps TaskCheckInterval and asks again, each time one Lua
// script per queue. At 50 ms that is 20 wake-ups a second per server, which
// cost an idle worker ~10 ms of CPU a second and Redis 60-180 commands.
//
// waker is a go-redis hook on the server's own Redis client: when asynq's
// dequeue script finds the server's first queue empty, the hook waits, up to
// wakeWait, in `BLMOVE pending pending RIGHT RIGHT` on each of the server's
// queues at once (one connection each). BLMOVE returns as soon as a task is
// pushed onto its list and leaves the list as it was (it takes the last
// element and puts it back in the same place). The first to return ends the
// others (CLIENT UNBLOCK) and the dequeue runs once more; asynq then looks at
// its other queues as usual. So a task is picked up within a round trip of
// being enqueued (or moved there by asynq's forwarder or recoverer), and an
// idle server asks Redis a few times a minute instead of sixty times a
// second. Shutting down ends a wait at once.
//
// It depends on asynq's dequeue script taking the keys pending, paused,
// active and lease of one queue (asynq v0.26, internal/rdb); if that changes
// the hook never matches and the worker polls as before (TestWakeOnEnqueue
// fails then). A Redis without BLMOVE (before 6.2) turns the hook off. On a
// Redis Cluster client (no dedicated connections), or where CLIENT UNBLOCK
// is refused, it waits on the first queue alone, through the pool, for at
// most poolWait.

const (
	// wakeWait is the longest one wait lasts; a new one starts at once.
	wakeWait = 10 * time.Second
	// poolWait is the wait without dedicated connections: it bounds how late
	// the server's other queues are looked at, and its shutdown.
	poolWait = time.Second
	// unblockEvery is how often a wait that should end is told to again: a
	// CLIENT UNBLOCK that reaches Redis before the BLMOVE does is lost.
	unblockEvery = 5 * time.Millisecond
)

// waker is the hook for one asynq server.
type waker struct {
	client    redis.UniversalClient
	lists     []string // the pending lists of the server's queues; the first is the one whose empty dequeue waits
	stopped   atomic.Bool
	off       atomic.Bool
	noUnblock atomic.Bool
	warn      sync.Once
	log       func(msg string, args ...any)
	woken     *atomic.Int64

	mu     sync.Mutex // held for a whole wait: the server's processor dequeues from one goroutine
	conns  []*redis.Conn
	owners []*redis.Client // the clients of conns, one each
	busy   atomic.Bool     // a wait is under way on conns
	idMu   sync.Mutex      // ids are read by stop while a wait holds mu
	ids    []int64         // the client ids of conns, for CLIENT UNBLOCK
}

// newWakingServer returns an asynq server on a Redis client of its own, and
// the waker on that client, waiting on the server's queues, first first.
func (w *Worker) newWakingServer(cfg asynq.Config, first string) (*asynq.Server, *waker, error) {
	client, ok := w.redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, fmt.Errorf("asynq Redis options %T do not make a go-redis client", w.redis)
	}
	k := &waker{client: client, lists: []string{pendingList(first)}, log: w.log.Warn, woken: &w.woken}
	for q := range cfg.Queues {
		if q != first {
			k.lists = append(k.lists, pendingList(q))
		}
	}
	client.AddHook(k)
	return asynq.NewServerFromRedisClient(client, cfg), k, nil
}

// pendingList is asynq's list of the pending tasks of queue.
func pendingList(queue string) string { return "asynq:{" + queue + "}:pending" }

// stop ends a wait under way and makes dequeues return at once from now on,
// so that the server's shutdown is not held up.
func (k *waker) stop() {
	k.stopped.Store(true)
	deadline := time.Now().Add(wakeWait)
	for k.busy.Load() && time.Now().Before(deadline) {
		k.unblock(context.Background())
		time.Sleep(unblockEvery)
	}
}

// close closes the dedicated connections and the server's Redis client,
// once the server has shut down.
func (k *waker) close() error {
	k.mu.Lock()
	k.dropConns()
	k.mu.Unlock()
	return k.client.Close()
}

func (k *waker) DialHook(next redis.DialHook) redis.DialHook { return next }

func (k *waker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (k *waker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if !errors.Is(err, redis.Nil) || k.stopped.Load() || k.off.Load() || !k.isDequeue(cmd) {
			return err
		}
		came, werr := k.wait(ctx)
		if werr != nil {
			if strings.Contains(strings.ToLower(werr.Error()), "unknown command") {
				k.off.Store(true)
			}
			k.warn.Do(func() {
				k.log("waiting for tasks with BLMOVE failed: the worker polls Redis until it works again", "error", werr)
			})
			return err
		}
		if !came {
			return err
		}
		k.woken.Add(1)
		// Something is on one of the queues: ask again (another worker may
		// win it, it may be on another queue, which asynq looks at next, or
		// the queue be paused, and the processor sleeps as before).
		return next(ctx, cmd)
	}
}

// isDequeue reports whether cmd is asynq's dequeue script for the first
// queue: EVALSHA (or EVAL) with the keys pending, paused, active and lease.
func (k *waker) isDequeue(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) < 7 || (cmd.Name() != "evalsha" && cmd.Name() != "eval") {
		return false
	}
	if n, ok := args[2].(int); !ok || n != 4 {
		return false
	}
	key, _ := args[3].(string)
	paused, _ := args[4].(string)
	return key == k.lists[0] && strings.HasSuffix(paused, ":paused")
}

// wait blocks until a task is pushed onto one of the lists (true), or
// wakeWait passes or stop is called (false).
func (k *waker) wait(ctx context.Context) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.noUnblock.Load() {
		k.dropConns()
	} else if err := k.dialConns(ctx); err != nil {
		k.dropConns()
		return false, err
	}
	if k.conns == nil { // no dedicated connections: the first list, through the pool
		err := k.client.BLMove(ctx, k.lists[0], k.lists[0], "RIGHT", "RIGHT", poolWait).Err()
		if errors.Is(err, redis.Nil) {
			return false, nil
		}
		return err == nil, err
	}
	k.busy.Store(true)
	defer k.busy.Store(false)
	if k.stopped.Load() { // stop may have looked at busy before it was set
		return false, nil
	}
	results := make(chan error, len(k.conns))
	for i, c := range k.conns {
		go func() { results <- c.BLMove(ctx, k.lists[i], k.lists[i], "RIGHT", "RIGHT", wakeWait).Err() }()
	}
	came, failed := false, error(nil)
	take := func(err error) {
		switch {
		case err == nil:
			came = true
		case !errors.Is(err, redis.Nil): // a timeout or an unblock is Nil
			failed = err
		}
	}
	take(<-results)
	if left := len(k.conns) - 1; left > 0 {
		// End the others; unblocking one that returned already does nothing.
		k.unblock(ctx)
		tick := time.NewTicker(unblockEvery)
		defer tick.Stop()
		for left > 0 {
			select {
			case r := <-results:
				take(r)
				left--
			case <-tick.C:
				k.unblock(ctx)
			}
		}
	}
	if failed != nil {
		k.dropConns()
	}
	return came, failed
}

// unblock ends the waits under way on the dedicated connections.
func (k *waker) unblock(ctx context.Context) {
	if k.noUnblock.Load() {
		return // the waits end by their timeout
	}
	k.idMu.Lock()
	ids := k.ids
	k.idMu.Unlock()
	for _, id := range ids {
		// 0 when it was not blocked; an error when CLIENT UNBLOCK is not
		// allowed (an ACL, a managed Redis): waits then go through the pool.
		if err := k.client.ClientUnblock(ctx, id).Err(); err != nil && !k.noUnblock.Swap(true) {
			k.log("CLIENT UNBLOCK failed: the worker waits for tasks on its first queue alone, for a second at a time", "error", err)
		}
	}
}

// dialConns makes the dedicated connections, one per list, unless the
// client cannot (a Cluster client: conns stays nil).
func (k *waker) dialConns(ctx context.Context) error {
	if k.conns != nil {
		return nil
	}
	c, ok := k.client.(*redis.Client)
	if !ok {
		return nil
	}
	ids := make([]int64, len(k.lists))
	for i := range k.lists {
		// Each wait connection comes from a client of its own, not from
		// c.Conn(): a Conn shares its client's options, and go-redis writes
		// them (under the client's lock, not the Conn's) when the server
		// refuses the maintenance-notifications handshake, as Redis 7.0
		// does: a data race with asynq's own commands on c. The waits need
		// no such notifications.
		o := *c.Options()
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns = 1, 0, 1
		own := redis.NewClient(&o)
		k.owners = append(k.owners, own)
		k.conns = append(k.conns, own.Conn())
		id, err := k.conns[i].ClientID(ctx).Result()
		if err != nil {
			return err
		}
		ids[i] = id
	}
	k.idMu.Lock()
	k.ids = ids
	k.idMu.Unlock()
	return nil
}

// dropConns closes the dedicated connections; the next wait makes new ones.
func (k *waker) dropConns() {
	for _, c := range k.conns {
		_ = c.Close()
	}
	for _, c := range k.owners {
		_ = c.Close()
	}
	k.conns, k.owners = nil, nil
	k.idMu.Lock()
	k.ids = nil
	k.idMu.Unlock()
}
