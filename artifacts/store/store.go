// Package store keeps artifacts (run zips and logs) under a key, either in a
// local folder or in an S3-compatible bucket, behind one small interface so
// the worker and the API need not know which.
package store

import (
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"time"
)

// ErrNotFound is returned by Open, Stat and Delete for a key that holds no
// object (Delete of a missing key is not an error: it returns nil).
var ErrNotFound = errors.New("store: no such object")

// Object describes one stored object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag is an opaque validator for If-None-Match: it changes when the
	// object is written again.
	ETag string
	// SHA256 is the hex SHA-256 of the content, computed while it streamed
	// in. Put always sets it; Stat sets it where the store recorded it (S3:
	// an object tag; local: empty, the file is at hand).
	SHA256 string
}

// Reader reads one object. It seeks, so http.ServeContent can answer Range
// requests from it; on S3 each seek-then-read is a ranged GET.
type Reader interface {
	io.ReadSeekCloser
	Object() Object
}

// Store is where artifacts live.
type Store interface {
	// Put streams size bytes from r into key, replacing what was there;
	// readers never see a partial object. It fails when r gives more or
	// fewer than size bytes.
	Put(ctx context.Context, key string, r io.Reader, size int64) (Object, error)
	// Open opens key for reading; ErrNotFound when it is missing.
	Open(ctx context.Context, key string) (Reader, error)
	// Stat describes key; ErrNotFound when it is missing.
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// cleanKey refuses keys that are empty, absolute or climb out with "..",
// and returns the key with slashes cleaned.
func cleanKey(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", errors.New("store: invalid key " + quote(key))
	}
	c := path.Clean(key)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", errors.New("store: invalid key " + quote(key))
	}
	return c, nil
}

func quote(s string) string { return "\"" + s + "\"" }

// countingReader counts what passes through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var (
	_ Store = (*Local)(nil)
	_ Store = (*S3)(nil)
)

// New returns the store Q2O_ARTIFACTS names: "local", the folder root
// (Q2O_OUTPUT_ROOT's artifacts), or "s3", the bucket of cfg.
func New(ctx context.Context, mode, root string, cfg S3Config) (Store, error) {
	switch mode {
	case "", "local":
		return NewLocal(root)
	case "s3":
		return NewS3(ctx, cfg)
	}
	return nil, errors.New("store: Q2O_ARTIFACTS must be local or s3, got " + quote(mode))
}
