package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Retry is how long a write is tried again while the store fails, so that a
// short outage of the object store (a restart, a failover) does not lose a
// run's zip or log.
type Retry struct {
	// For bounds the time spent waiting between tries; 0 tries once.
	For time.Duration
	// First is the first wait (1 s when zero), doubled after each failure
	// up to Max (15 s when zero).
	First, Max time.Duration
}

// PutFileRetrying is PutFile, tried again as Retrying does.
func PutFileRetrying(ctx context.Context, s Store, key, path string, r Retry, onRetry func(err error, wait time.Duration)) (Object, error) {
	return Retrying(ctx, r, onRetry, func() (Object, error) { return PutFile(ctx, s, key, path) })
}

// Retrying calls put, and again with backoff while it fails, until r.For
// has been spent waiting or ctx is done. onRetry, when set, is told of each
// failure that will be tried again, and the wait. A missing file or a bad
// key is not tried again: waiting would not change them.
func Retrying(ctx context.Context, r Retry, onRetry func(err error, wait time.Duration), put func() (Object, error)) (Object, error) {
	wait, maxWait := r.First, r.Max
	if wait <= 0 {
		wait = time.Second
	}
	if maxWait <= 0 {
		maxWait = 15 * time.Second
	}
	left := r.For
	for tries := 1; ; tries++ {
		o, err := put()
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, errBadKey) || left <= 0 || ctx.Err() != nil {
			if err != nil && tries > 1 {
				err = fmt.Errorf("%w (%d tries)", err, tries)
			}
			return o, err
		}
		wait = min(wait, left)
		if onRetry != nil {
			onRetry(err, wait)
		}
		select {
		case <-ctx.Done():
			return Object{}, fmt.Errorf("%w (%d tries): %w", err, tries, ctx.Err())
		case <-time.After(wait):
		}
		left -= wait
		wait = min(2*wait, maxWait)
	}
}
