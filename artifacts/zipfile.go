package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// This file opens a zip WriteZip made, for a download: checked against what
// was recorded of it, so a client never gets another file under its ETag.

// OpenZip opens a recorded zip (its size and SHA-256 as recorded, each nil
// when not). A path that is not a regular file, not of
// the recorded size, or whose SHA-256 is not the recorded one counts as
// missing (fs.ErrNotExist): serving it would send the client something other
// than what was recorded, under the recorded ETag. The hash is checked once
// per version of the file (see verifiedZips), not at every download.
func OpenZip(path string, size *int64, sha *string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := CheckZip(f, size, sha)
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// CheckZip is OpenZip's check of an open file f, left at its start; the
// caller closes f.
func CheckZip(f *os.File, size *int64, sha *string) (fs.FileInfo, error) {
	path := f.Name()
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || size != nil && fi.Size() != *size) {
		err = fmt.Errorf("%s: not the recorded zip (mode %s, %d bytes): %w", path, fi.Mode(), fi.Size(), fs.ErrNotExist)
	}
	if err == nil && sha != nil {
		err = verifyZip(f, fi, path, *sha)
	}
	if err != nil {
		return nil, err
	}
	return fi, nil
}

// zipVersion tells one version of a file from another: a rewrite changes
// its inode or its change time, which no caller can set back.
type zipVersion struct {
	path       string
	ino, size  int64
	ctimeNanos int64
	sha        string
}

// verifiedZips holds the versions of zip files whose SHA-256 was checked.
var verifiedZips sync.Map // path → zipVersion

// verifyZip checks that f (open at path, fi its Stat) has SHA-256 want.
func verifyZip(f *os.File, fi fs.FileInfo, path, want string) error {
	v := zipVersion{path: path, size: fi.Size(), sha: want}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.ino, v.ctimeNanos = int64(st.Ino), st.Ctim.Nano()
	}
	if seen, ok := verifiedZips.Load(path); ok && seen.(zipVersion) == v {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: hash: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		verifiedZips.Delete(path)
		return fmt.Errorf("%s: SHA-256 %s, recorded %s: %w", path, got, want, fs.ErrNotExist)
	}
	verifiedZips.Store(path, v)
	return nil
}
