// Package store keeps artifacts (run zips and logs) under a key, either in a
// local folder or in an S3-compatible bucket, behind one small interface so
// the worker and the API need not know which.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// ErrNotFound is returned by Open, Stat and Delete for a key that holds no
// object (Delete of a missing key is not an error: it returns nil).
var ErrNotFound = errors.New("store: no such object")

var errBadKey = errors.New("store: invalid key")

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
	io.ReaderAt
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
	// Ref is what an execution row records for key (zip_path, log_path):
	// the local file's path, as q2o has always recorded it, or
	// s3://<bucket>/<prefix><key>.
	Ref(key string) string
	// Key is the key of a ref Ref gave; an error for a ref of another store
	// (another folder, bucket or prefix), which this store cannot reach.
	Key(ref string) (string, error)
}

// cleanKey refuses keys that are empty, absolute or climb out with "..",
// and returns the key with slashes cleaned.
func cleanKey(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("%w %s", errBadKey, quote(key))
	}
	c := path.Clean(key)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w %s", errBadKey, quote(key))
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

// Remote reports whether s is elsewhere than this host's folder: its
// objects outlive the worker's scratch, which can then be removed, and a
// file it lost cannot be made again from a folder on this host.
func Remote(s Store) bool {
	_, local := s.(*Local)
	return !local
}

// Presigner is a store whose objects can be fetched by a client directly,
// with a URL that carries its own short-lived signature (S3).
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration, disposition, contentType string) (*url.URL, error)
}

var _ Presigner = (*S3)(nil)

// filePutter is a store that can take a whole file more cheaply than
// reading it through Put (Local: a rename).
type filePutter interface {
	putFile(ctx context.Context, key, path string) (Object, error)
}

// PutFile moves the regular file at path into key: the local store renames
// it into place (nothing to do when path is already key's file), another
// store uploads it and the file is removed once the upload succeeded. The
// returned Object's SHA256 is set by an upload, not by a rename (the caller
// that wrote the file knows it). On error the file stays at path.
func PutFile(ctx context.Context, s Store, key, path string) (Object, error) {
	if fp, ok := s.(filePutter); ok {
		return fp.putFile(ctx, key, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return Object{}, fmt.Errorf("store: put %s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Object{}, fmt.Errorf("store: put %s: %w", key, err)
	}
	o, err := s.Put(ctx, key, f, fi.Size())
	if err != nil {
		return Object{}, err
	}
	if err := os.Remove(path); err != nil {
		return o, fmt.Errorf("store: put %s: uploaded, but the local copy stays: %w", key, err)
	}
	return o, nil
}

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
