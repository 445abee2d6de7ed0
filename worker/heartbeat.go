package worker

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/service"
)

// beats renews the leases of all of a worker's running executions with one
// statement per WatchInterval (service.RenewLeases), however many run, and
// stops each run whose row says it may not go on (paused, cancelled, or no
// longer this worker's). Its loop runs while at least one run is watched.
type beats struct {
	mu      sync.Mutex
	runs    map[uuid.UUID]watched
	looping bool
}

type watched struct {
	attempt int
	stop    func()
}

// watch adds a run; stop is called once, from the loop, when the run may not
// go on. The returned unwatch removes it (after it, stop is not called).
func (b *beats) watch(w *Worker, l service.Lease, stop func()) (unwatch func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.runs == nil {
		b.runs = map[uuid.UUID]watched{}
	}
	b.runs[l.ID] = watched{attempt: l.Attempt, stop: stop}
	if !b.looping {
		b.looping = true
		go b.loop(w)
	}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if r, ok := b.runs[l.ID]; ok && r.attempt == l.Attempt {
			delete(b.runs, l.ID)
		}
	}
}

// loop renews the watched runs' leases every WatchInterval until none is
// left.
func (b *beats) loop(w *Worker) {
	t := time.NewTicker(w.cfg.WatchInterval)
	defer t.Stop()
	for range t.C {
		b.mu.Lock()
		if len(b.runs) == 0 {
			b.looping = false
			b.mu.Unlock()
			return
		}
		leases := make([]service.Lease, 0, len(b.runs))
		for id, r := range b.runs {
			leases = append(leases, service.Lease{ID: id, Attempt: r.attempt})
		}
		b.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WatchInterval+5*time.Second)
		alive, err := w.svc.RenewLeases(ctx, w.cfg.ID, leases, w.lease())
		cancel()
		if err != nil { // main.py goes on; the leases may lapse
			w.log.Warn("run heartbeat", "executions", len(leases), "error", err)
			continue
		}
		var stops []func()
		b.mu.Lock()
		for _, l := range leases {
			if r, ok := b.runs[l.ID]; ok && r.attempt == l.Attempt && !alive[l.ID] {
				delete(b.runs, l.ID)
				stops = append(stops, r.stop)
			}
		}
		b.mu.Unlock()
		for _, stop := range stops {
			stop()
		}
	}
}
