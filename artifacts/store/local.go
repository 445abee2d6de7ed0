package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Local keeps objects as files under a folder: key "a/b.zip" is
// <root>/a/b.zip, as q2o has always laid its artifacts out.
type Local struct {
	root string
}

// Folder returns the store on the folder root without touching the file
// system: the folders are made as objects are put.
func Folder(root string) *Local {
	// Absolute, so that a ref stays right whatever the working directory
	// (Q2O_OUTPUT_ROOT's default is relative).
	if abs, err := filepath.Abs(root); err == nil && root != "" {
		root = abs
	}
	return &Local{root: root}
}

// NewLocal returns the store on the folder root (created when missing).
func NewLocal(root string) (*Local, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("store: local folder: %w", err)
	}
	return Folder(root), nil
}

func (l *Local) file(key string) (string, error) {
	k, err := cleanKey(key)
	if err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(k)), nil
}

// Put writes into a temporary file beside the target and renames it over
// the target, so a reader sees the old file or the whole new one.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64) (Object, error) {
	name, err := l.file(key)
	if err != nil {
		return Object{}, err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return Object{}, fmt.Errorf("store: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".put-*")
	if err != nil {
		return Object{}, fmt.Errorf("store: put %s: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, size+1))
	if err == nil && n != size {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp's 0600 would hide it from a reader running as another user
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return Object{}, fmt.Errorf("store: put %s: %w", key, err)
	}
	o, err := l.Stat(ctx, key)
	o.SHA256 = hex.EncodeToString(h.Sum(nil))
	return o, err
}

// Open opens the file.
func (l *Local) Open(_ context.Context, key string) (Reader, error) {
	name, err := l.file(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: open %s: %w", key, err)
	}
	return &localReader{File: f, obj: localObject(key, fi)}, nil
}

// Stat describes the file; SHA256 stays empty.
func (l *Local) Stat(_ context.Context, key string) (Object, error) {
	name, err := l.file(key)
	if err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return Object{}, fmt.Errorf("store: stat %s: %w", key, err)
	}
	return localObject(key, fi), nil
}

// Delete removes the file.
func (l *Local) Delete(_ context.Context, key string) error {
	name, err := l.file(key)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	return nil
}

// Ref is the file's path.
func (l *Local) Ref(key string) string {
	name, err := l.file(key)
	if err != nil {
		return ""
	}
	return name
}

// Key is the key of a file under the folder; a relative ref (recorded
// when the folder was given relative) is taken from the working directory.
func (l *Local) Key(ref string) (string, error) {
	abs, err := filepath.Abs(ref)
	if err != nil || ref == "" {
		return "", fmt.Errorf("store: %q is not under the folder %s", ref, l.root)
	}
	rel, err := filepath.Rel(l.root, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("store: %s is not under the folder %s", ref, l.root)
	}
	return cleanKey(filepath.ToSlash(rel))
}

// putFile renames path to key's file, which it already is when the file
// was written in place.
func (l *Local) putFile(ctx context.Context, key, path string) (Object, error) {
	name, err := l.file(key)
	if err != nil {
		return Object{}, err
	}
	if abs, err := filepath.Abs(path); err != nil || abs != name {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return Object{}, fmt.Errorf("store: put %s: %w", key, err)
		}
		if err := os.Rename(path, name); err != nil {
			return Object{}, fmt.Errorf("store: put %s: %w", key, err)
		}
	}
	return l.Stat(ctx, key)
}

// localObject: the ETag is size and modification time, what a rewrite
// changes.
func localObject(key string, fi fs.FileInfo) Object {
	etag := `"` + strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16) + `"`
	return Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ETag: etag}
}

type localReader struct {
	*os.File
	obj Object
}

func (r *localReader) Object() Object { return r.obj }

// OSFile is the open file under r when r reads a local file, for what only
// an *os.File does (sendfile, the inode of a version).
func OSFile(r Reader) (*os.File, bool) {
	lr, ok := r.(*localReader)
	if !ok {
		return nil, false
	}
	return lr.File, true
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
