package runner

import (
	"io/fs"
	"path/filepath"
	"time"
)

// DefaultOutputCheck is how often a run's folder is measured against its
// OutputLimit.
const DefaultOutputCheck = time.Second

// watchSize measures dir every check (DefaultOutputCheck when zero) until
// done is closed, and closes the channel it returns when dir holds more
// than limit bytes.
func watchSize(dir string, limit int64, check time.Duration, done <-chan struct{}) <-chan struct{} {
	if check <= 0 {
		check = DefaultOutputCheck
	}
	over := make(chan struct{})
	go func() {
		t := time.NewTicker(check)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if DirSize(dir) > limit {
					close(over)
					return
				}
			}
		}
	}()
	return over
}

// DirSize is the bytes of the regular files under dir, links not followed;
// what it cannot read counts as nothing.
func DirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
