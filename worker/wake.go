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
)

// This file is how an idle worker waits for a task without polling Redis
// every Q2O_WORKER_POLL_INTERVAL. asynq's processor polls: when every queue
// is empty it sleeps TaskCheckInterval and asks again, each time one Lua
// script per queue. At 50 ms that is 20 wake-ups a second per server, which
// cost an idle worker ~10 ms of CPU a second and Redis 60-180 commands.
//
// waker is a go-redis hook on the server's own Redis client: when asynq's
// dequeue script finds the wait queue empty, the hook blocks (up to
// wakeWait) in `BLMOVE pending pending RIGHT RIGHT`, which returns as soon as
// a task is pushed onto the queue and leaves the list exactly as it was (it
// takes the last element and puts it back in the same place), then runs the
// dequeue once more. So a task is picked up within a round trip of being
// enqueued (or moved there by asynq's forwarder or recoverer), and an idle
// server asks Redis about three times a second instead of sixty.
//
// It depends on asynq's dequeue script taking the keys pending, paused,
// active and lease of one queue (asynq v0.26, internal/rdb); if that changes
// the hook never matches and the worker polls as before (TestWakeOnEnqueue
// fails then). A Redis without BLMOVE (before 6.2) turns the hook off.

// wakeWait is the longest a dequeue waits for a task: it bounds how late the
// server's other queues (the artifacts queue behind runs) are looked at, and
// how long its shutdown waits for the processor.
const wakeWait = time.Second

// waker is the hook for one asynq server; queue is the queue it waits on.
type waker struct {
	client  redis.UniversalClient
	pending string // asynq's pending list of queue
	stopped atomic.Bool
	off     atomic.Bool
	warn    sync.Once
	log     func(msg string, args ...any)
	woken   *atomic.Int64
}

// newWakingServer returns an asynq server on a Redis client of its own, and
// the waker on that client, waiting on queue.
func (w *Worker) newWakingServer(cfg asynq.Config, queue string) (*asynq.Server, *waker, error) {
	client, ok := w.redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, fmt.Errorf("asynq Redis options %T do not make a go-redis client", w.redis)
	}
	k := &waker{client: client, pending: "asynq:{" + queue + "}:pending", log: w.log.Warn, woken: &w.woken}
	client.AddHook(k)
	return asynq.NewServerFromRedisClient(client, cfg), k, nil
}

// stop makes dequeues return at once from now on (a wait under way ends
// within wakeWait), so that the server's shutdown is not held up.
func (k *waker) stop() { k.stopped.Store(true) }

// close closes the server's Redis client, once the server has shut down.
func (k *waker) close() error { return k.client.Close() }

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
		werr := k.client.BLMove(ctx, k.pending, k.pending, "RIGHT", "RIGHT", wakeWait).Err()
		switch {
		case errors.Is(werr, redis.Nil): // nothing came: the queue is still empty
			return err
		case werr != nil:
			if strings.Contains(strings.ToLower(werr.Error()), "unknown command") {
				k.off.Store(true)
			}
			k.warn.Do(func() {
				k.log("waiting for tasks with BLMOVE failed: the worker polls Redis instead", "error", werr)
			})
			return err
		}
		k.woken.Add(1)
		// Something is on the queue: ask again (another worker may win it,
		// or the queue be paused, and the processor sleeps as before).
		return next(ctx, cmd)
	}
}

// isDequeue reports whether cmd is asynq's dequeue script for the wait
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
	return key == k.pending && strings.HasSuffix(paused, ":paused")
}
