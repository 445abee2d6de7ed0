package ratelimit

import (
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// memoryMaxBuckets bounds the fallback's memory. Buckets whose budget is
// whole again are dropped first; if that is not enough (a flood of keys
// during an outage), every new key is refused until buckets refill.
const memoryMaxBuckets = 100_000

// memory is the in-process fallback: GCRA over a map of theoretical
// arrival times, one per bucket.
type memory struct {
	now func() time.Time

	mu  sync.Mutex
	tat map[string]time.Time
}

func newMemory(now func() time.Time) *memory {
	return &memory{now: now, tat: map[string]time.Time{}}
}

// allow counts one request in bucket under limit; refused, it says how long
// to wait.
func (m *memory) allow(bucket string, limit redis_rate.Limit) (time.Duration, bool) {
	if limit.Rate <= 0 || limit.Period <= 0 {
		return 0, true
	}
	increment := limit.Period / time.Duration(limit.Rate)
	burst := max(limit.Burst, 1)
	now := m.now()

	m.mu.Lock()
	defer m.mu.Unlock()
	tat, seen := m.tat[bucket]
	if !seen && len(m.tat) >= memoryMaxBuckets {
		m.sweep(now)
		if len(m.tat) >= memoryMaxBuckets {
			return increment, false
		}
	}
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(increment)
	if allowAt := next.Add(-time.Duration(burst) * increment); now.Before(allowAt) {
		return allowAt.Sub(now), false
	}
	m.tat[bucket] = next
	return 0, true
}

// sweep drops the buckets that are full again (their arrival time passed).
func (m *memory) sweep(now time.Time) {
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
}
