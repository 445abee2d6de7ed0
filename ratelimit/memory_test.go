package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// The in-memory fallback is GCRA like redis_rate: a burst, then one request
// per increment, with the wait until the next one.
func TestMemoryGCRA(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := newMemory(func() time.Time { return now })
	limit := redis_rate.Limit{Rate: 3, Burst: 3, Period: time.Minute} // one per 20 s
	for i := range 3 {
		if _, ok := m.allow("b", limit); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	wait, ok := m.allow("b", limit)
	if ok || wait != 20*time.Second {
		t.Fatalf("4th request: allowed %v, wait %s; want refused, 20s", ok, wait)
	}
	now = now.Add(19 * time.Second)
	if _, ok := m.allow("b", limit); ok {
		t.Fatal("allowed before the increment passed")
	}
	now = now.Add(time.Second)
	if _, ok := m.allow("b", limit); !ok {
		t.Fatal("refused once the increment passed")
	}
	if _, ok := m.allow("b", limit); ok {
		t.Fatal("a second request in the same increment allowed")
	}
	// A refusal does not push the next allowed time back.
	now = now.Add(20 * time.Second)
	if _, ok := m.allow("b", limit); !ok {
		t.Fatal("refused after a refused request and a full increment")
	}
}

// The fallback's memory is bounded: full buckets are dropped to make room,
// and when none can be, a new key is refused rather than remembered.
func TestMemoryBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := newMemory(func() time.Time { return now })
	limit := redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Hour}
	for i := range memoryMaxBuckets {
		if _, ok := m.allow(fmt.Sprint(i), limit); !ok {
			t.Fatalf("key %d refused", i)
		}
	}
	if _, ok := m.allow("one too many", limit); ok {
		t.Fatal("a new key allowed with every bucket in use")
	}
	now = now.Add(time.Hour)
	if _, ok := m.allow("after the refill", limit); !ok || len(m.tat) != 1 {
		t.Fatalf("after every bucket refilled: allowed %v, %d buckets kept", ok, len(m.tat))
	}
}
