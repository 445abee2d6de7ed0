package worker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/internal/testenv"
)

func testWaker(t *testing.T, lists ...string) (*waker, *redis.Client) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := opt.MakeRedisClient().(*redis.Client)
	k := &waker{client: client, lists: lists, log: t.Logf, woken: new(atomic.Int64)}
	t.Cleanup(func() { _ = k.close() })
	return k, client
}

// waitFor calls k.wait in a goroutine once it is blocked in Redis, and
// returns its outcome.
func waitFor(t *testing.T, k *waker, client *redis.Client) <-chan bool {
	t.Helper()
	out := make(chan bool, 1)
	go func() {
		came, err := k.wait(context.Background())
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		out <- came
	}()
	// Blocked: each of its connections shows in CLIENT LIST as in BLMOVE.
	for {
		k.idMu.Lock()
		args := []any{"CLIENT", "LIST", "ID"}
		for _, id := range k.ids {
			args = append(args, id)
		}
		k.idMu.Unlock()
		if len(args) == 3+len(k.lists) {
			list, err := client.Do(context.Background(), args...).Text()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(list, "cmd=blmove") == len(k.lists) {
				return out
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWakerWakesOnAnyQueue pushes onto the second of two queues: the wait
// ends with a task, the first queue's list is untouched and the second's is
// as it was pushed (BLMOVE RIGHT RIGHT puts its element back).
func TestWakerWakesOnAnyQueue(t *testing.T) {
	t.Parallel()
	k, client := testWaker(t, "asynq:{runs}:pending", "asynq:{artifacts}:pending")
	ctx := context.Background()
	out := waitFor(t, k, client)
	if err := client.LPush(ctx, "asynq:{artifacts}:pending", "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if !<-out {
		t.Fatal("the wait ended without a task")
	}
	if got, err := client.LRange(ctx, "asynq:{artifacts}:pending", 0, -1).Result(); err != nil || len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Errorf("artifacts list after the wait: %v, %v; want [b a]", got, err)
	}
	if n, _ := client.Exists(ctx, "asynq:{runs}:pending").Result(); n != 0 {
		t.Error("the runs list exists after the wait")
	}
	if k.busy.Load() {
		t.Error("busy after the wait ended")
	}
}

// TestWakerStopEndsTheWait: stop returns once the wait under way has ended,
// not after wakeWait, and without a task.
func TestWakerStopEndsTheWait(t *testing.T) {
	t.Parallel()
	k, client := testWaker(t, "asynq:{runs}:pending", "asynq:{control}:pending")
	out := waitFor(t, k, client)
	k.stop()
	if k.busy.Load() {
		t.Fatal("stop returned with the wait still under way (CLIENT UNBLOCK did not end it)")
	}
	if <-out {
		t.Error("the stopped wait says a task came")
	}
}
