package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the wake-up side of a Broker (see the package comment): one
// pub/sub subscription per replica, held while it has followers.

// hub is a replica's one subscription to the wake-up channel, held while it
// has followers, and the followers it wakes.
type hub struct {
	rdb     *redis.Client
	log     *slog.Logger
	channel string

	mu        sync.Mutex
	ps        *redis.PubSub // nil while there are no followers
	followers map[string]map[*Follower]struct{}
	count     int
}

// subscribeTimeout bounds subscribing to the wake-up channel.
const subscribeTimeout = 5 * time.Second

func (h *hub) add(ctx context.Context, f *Follower) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ps == nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), subscribeTimeout)
		defer cancel()
		ps := h.rdb.Subscribe(sctx, h.channel)
		// Wait for the confirmation: from then on, no wake-up is missed.
		msg, err := ps.Receive(sctx)
		if err == nil {
			if _, ok := msg.(*redis.Subscription); !ok {
				err = fmt.Errorf("unexpected %T while subscribing", msg)
			}
		}
		if err != nil {
			_ = ps.Close()
			return fmt.Errorf("subscribe to %s: %w", h.channel, err)
		}
		h.ps = ps
		go h.listen(ps.ChannelWithSubscriptions())
	}
	set := h.followers[f.tenant]
	if set == nil {
		set = map[*Follower]struct{}{}
		h.followers[f.tenant] = set
	}
	set[f] = struct{}{}
	h.count++
	return nil
}

func (h *hub) remove(f *Follower) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.followers[f.tenant]
	if _, ok := set[f]; !ok {
		return
	}
	delete(set, f)
	if len(set) == 0 {
		delete(h.followers, f.tenant)
	}
	h.count--
	if h.count == 0 {
		_ = h.ps.Close() // ends listen
		h.ps = nil
	}
}

// listen wakes the followers of each tenant named on the channel until the
// subscription is closed. A subscription message after the first means the
// connection was re-established: wake-ups may have been lost meanwhile, so
// every follower is woken.
func (h *hub) listen(ch <-chan any) {
	for msg := range ch {
		switch m := msg.(type) {
		case *redis.Message:
			h.wake(m.Payload)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.log.Info("live events: subscription re-established; waking every follower")
				h.wake("")
			}
		}
	}
}

// wake wakes tenant's followers, or every follower when tenant is "".
func (h *hub) wake(tenant string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t, set := range h.followers {
		if tenant != "" && t != tenant {
			continue
		}
		for f := range set {
			select {
			case f.wake <- struct{}{}:
			default: // already woken
			}
		}
	}
}
