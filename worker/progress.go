package worker

import (
	"sync"
	"time"
)

// progressEvery is the least time between two progress writes of one run:
// a main.py that prints PROGRESS lines by the thousand gets its latest value
// stored a few times a second, not a row per line.
const progressEvery = 250 * time.Millisecond

// progressUpdate is one PROGRESS value.
type progressUpdate struct {
	percent int
	message string
}

// coalescer stands between main.py's PROGRESS lines and the database: the
// runner hands it every line at once (so main.py's output never waits on
// Postgres), and it stores the latest value at most every progressEvery.
// Close stores the last value, if not stored yet, and returns when done.
type coalescer struct {
	mu     sync.Mutex
	latest *progressUpdate
	wake   chan struct{}
	closed chan struct{}
	done   chan struct{}
}

func newCoalescer(store func(percent int, message string)) *coalescer {
	c := &coalescer{wake: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
	go c.loop(store)
	return c
}

// Offer is the runner's OnProgress: it keeps the value and returns at once.
func (c *coalescer) Offer(percent int, message string) {
	c.mu.Lock()
	c.latest = &progressUpdate{percent, message}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *coalescer) take() *progressUpdate {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.latest
	c.latest = nil
	return u
}

func (c *coalescer) loop(store func(int, string)) {
	defer close(c.done)
	var last time.Time
	for {
		select {
		case <-c.wake:
		case <-c.closed:
			if u := c.take(); u != nil {
				store(u.percent, u.message)
			}
			return
		}
		if wait := progressEvery - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-c.closed:
			}
		}
		if u := c.take(); u != nil {
			store(u.percent, u.message)
			last = time.Now()
		}
	}
}

// Close stores the last value offered, if it is not stored yet.
func (c *coalescer) Close() {
	close(c.closed)
	<-c.done
}
