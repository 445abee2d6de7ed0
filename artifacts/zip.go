package artifacts

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

const (
	// maxSkipped caps ZipResult.Skipped; SkippedTotal still counts them all.
	maxSkipped = 100
	// maxDepth bounds how deep WriteZip descends, and so how many directory
	// descriptors it holds open at once. Deeper folders are left out.
	maxDepth = 128
	// copyBufSize is how much of a file is read at once; ctx is checked
	// before each read.
	copyBufSize = 256 << 10
	// outBufSize batches the zip's writes to the temporary file.
	outBufSize = 256 << 10
)

// openFlags opens read-only, never follows a symlink at the last path
// component, never blocks on a fifo or device swapped in after the walk saw a
// regular file, and never makes a terminal the controlling one.
const openFlags = syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC | syscall.O_NONBLOCK | syscall.O_NOCTTY

// ErrNotDir is returned (wrapped) when the folder to zip is not a directory,
// including when it is a symlink, which WriteZip does not follow.
var ErrNotDir = errors.New("artifacts: source is not a directory")

// ErrDestInSource is returned (wrapped) when the zip would be written inside
// the folder being zipped.
var ErrDestInSource = errors.New("artifacts: zip destination is inside the source folder")

// ZipResult describes a zip that WriteZip wrote.
type ZipResult struct {
	// Path is where the zip is (WriteZip's dstPath).
	Path string
	// Size is the length of the zip in bytes.
	Size int64
	// SHA256 is the hex SHA-256 of the zip.
	SHA256 string
	// Files counts the regular files in the zip; directories are not counted.
	Files int
	// Skipped holds the relative paths that were left out (a folder once,
	// ending in "/", not its contents), at most 100 of them, for logging.
	Skipped []string
	// SkippedTotal counts every path left out, including those beyond Skipped.
	SkippedTotal int
}

// WriteZip writes the tree under srcDir as a zip archive at dstPath, following
// the policy of Included, and leaving out files with more than one hard link
// and entries deeper than 128 folders.
//
// The zip holds a directory entry (ending in "/") for every folder kept, so
// empty folders survive, then its contents, in lexical walk order, so the same
// tree always gives the same zip. Permission bits and modification times are
// kept. Files are deflated in chunks on every core (see pipeline.go), at a
// level that depends only on their bytes and extension (see deflate.go), so
// the zip is still one ordered stream and the same for the same tree. Each entry is opened relative
// to its parent's open descriptor with O_NOFOLLOW and re-checked on the
// descriptor (regular file, one link), so nothing outside srcDir is ever read.
// A file is copied up to the size it had when opened, so a file still growing
// cannot keep the zip growing. A file that vanishes, is unreadable (EACCES) or
// turns out to be a symlink or special file once opened is left out and listed
// in Skipped, not an error.
//
// The zip is written to a hidden temporary file in dstPath's directory (made
// with mode 0755 if missing) and renamed to dstPath, mode 0644, only when
// complete, replacing any earlier file there. On any error, including ctx being
// done (the error then wraps ctx.Err()), the temporary file is removed and
// dstPath is untouched. Memory use does not depend on the size of the tree or
// its files: at most three chunks of 512 KiB per core are in flight.
//
// Errors: srcDir missing wraps fs.ErrNotExist; srcDir not a directory (or a
// symlink) wraps ErrNotDir; dstPath inside srcDir wraps ErrDestInSource.
func WriteZip(ctx context.Context, srcDir, dstPath string) (ZipResult, error) {
	if err := ctx.Err(); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: zip %s: %w", srcDir, err)
	}
	src, err := openSource(srcDir)
	if err != nil {
		return ZipResult{}, err
	}
	defer src.Close()
	if err := checkOutside(srcDir, dstPath); err != nil {
		return ZipResult{}, err
	}

	dir := filepath.Dir(dstPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: zip folder: %w", err)
	}
	// The leading dot keeps the temporary file out of any zip of its folder.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dstPath)+".*.tmp")
	if err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: temporary zip: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close() // already closed on some paths; nothing to report then
			_ = os.Remove(tmp.Name())
		}
	}()

	sum := sha256.New()
	var size countingWriter
	out := bufio.NewWriterSize(io.MultiWriter(tmp, sum, &size), outBufSize)
	z := &zipper{
		ctx: ctx,
		zw:  zip.NewWriter(out),
		buf: make([]byte, 0, dictSize),
	}
	z.zw.RegisterCompressor(zip.Deflate, z.pipe.replay.compressor)
	defer z.pipe.stop()
	if err := z.walk(src, "", 0); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: zip %s: %w", srcDir, err)
	}
	if err := z.pipe.flush(z.zw); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: zip %s: %w", srcDir, err)
	}
	if err := z.zw.Close(); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: finish zip: %w", err)
	}
	if err := out.Flush(); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: write zip: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: write zip: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: write zip: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: write zip: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: zip %s: %w", srcDir, err)
	}
	if err := os.Rename(tmp.Name(), dstPath); err != nil {
		return ZipResult{}, fmt.Errorf("artifacts: place zip: %w", err)
	}
	committed = true
	// Make the rename durable. The zip is already in place and complete, so a
	// failure here is not reported as a failed zip.
	syncDir(dir)

	z.res.Path = dstPath
	z.res.Size = int64(size)
	z.res.SHA256 = hex.EncodeToString(sum.Sum(nil))
	return z.res, nil
}

// openSource opens the folder to zip, refusing anything but a real directory.
func openSource(srcDir string) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(srcDir, openFlags|syscall.O_DIRECTORY, 0)
		if err != syscall.EINTR {
			break
		}
	}
	switch {
	case errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP):
		return nil, fmt.Errorf("%w: %s (symlinks are not followed)", ErrNotDir, srcDir)
	case err != nil:
		return nil, fmt.Errorf("artifacts: source folder: %w", &os.PathError{Op: "open", Path: srcDir, Err: err})
	}
	f := os.NewFile(uintptr(fd), srcDir)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("artifacts: source folder: %w", err)
	}
	if !fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotDir, srcDir)
	}
	return f, nil
}

// checkOutside refuses a dstPath inside srcDir: the zip would be zipped again
// next time, growing with every run.
func checkOutside(srcDir, dstPath string) error {
	absSrc, err := filepath.Abs(srcDir)
	if err != nil {
		return fmt.Errorf("artifacts: source folder: %w", err)
	}
	absDst, err := filepath.Abs(dstPath)
	if err != nil {
		return fmt.Errorf("artifacts: zip path: %w", err)
	}
	if rel, err := filepath.Rel(absSrc, absDst); err == nil && filepath.IsLocal(rel) {
		return fmt.Errorf("%w: %s in %s", ErrDestInSource, dstPath, srcDir)
	}
	return nil
}

func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// zipper walks one tree into one zip.
type zipper struct {
	ctx  context.Context
	zw   *zip.Writer
	buf  []byte // the end of the chunk last read: the next chunk's dictionary
	res  ZipResult
	pipe pipeline
}

func (z *zipper) skip(rel string) {
	z.res.SkippedTotal++
	if len(z.res.Skipped) < maxSkipped {
		z.res.Skipped = append(z.res.Skipped, rel)
	}
}

// walk adds the contents of dir, whose path in the zip is rel ("" for the
// top), in lexical order.
func (z *zipper) walk(dir *os.File, rel string, depth int) error {
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("read folder %q: %w", rel+"/", err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		if err := z.ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		if !Included(childRel, e.Type()) {
			if e.IsDir() {
				childRel += "/"
			}
			z.skip(childRel)
			continue
		}
		if e.IsDir() {
			err = z.addDir(dir, name, childRel, depth+1)
		} else {
			err = z.addFile(dir, name, childRel)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (z *zipper) addDir(parent *os.File, name, rel string, depth int) error {
	if depth > maxDepth {
		z.skip(rel + "/")
		return nil
	}
	d, err := openAt(parent, name, syscall.O_DIRECTORY)
	if err != nil {
		if leaveOut(err) {
			z.skip(rel + "/")
			return nil
		}
		return fmt.Errorf("open folder %q: %w", rel, err)
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return fmt.Errorf("stat folder %q: %w", rel, err)
	}
	if !fi.IsDir() {
		z.skip(rel + "/")
		return nil
	}
	if err := z.create(fi, rel+"/", zip.Store); err != nil {
		return err
	}
	return z.walk(d, rel, depth)
}

func (z *zipper) addFile(parent *os.File, name, rel string) error {
	f, err := openAt(parent, name, 0)
	if err != nil {
		if leaveOut(err) {
			z.skip(rel)
			return nil
		}
		return fmt.Errorf("open %q: %w", rel, err)
	}
	defer f.Close()
	// The descriptor, not the name, decides: the walk's view may be stale.
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %q: %w", rel, err)
	}
	if !singleLinkRegular(fi) {
		z.skip(rel)
		return nil
	}
	if err := z.create(fi, rel, zip.Deflate); err != nil {
		return err
	}
	if err := z.copyFile(f, rel, fi.Size()); err != nil {
		return fmt.Errorf("copy %q: %w", rel, err)
	}
	z.res.Files++
	return nil
}

// create queues the header of the zip entry name for the file described by
// fi; the entry is started when its turn to be written comes.
func (z *zipper) create(fi fs.FileInfo, name string, method uint16) error {
	h, err := zip.FileInfoHeader(fi)
	if err != nil {
		return fmt.Errorf("zip header %q: %w", name, err)
	}
	h.Name = name
	h.Method = method
	// Setuid, setgid and sticky bits mean nothing to a client.
	h.SetMode(fi.Mode() & (fs.ModeDir | fs.ModePerm))
	z.pipe.addHeader(h)
	return nil
}

// singleLinkRegular reports whether fi is a regular file with exactly one
// hard link; a second link may be a name for a file outside the folder.
func singleLinkRegular(fi fs.FileInfo) bool {
	if !fi.Mode().IsRegular() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Nlink) == 1
}

// leaveOut reports whether an open error means the entry is simply left out:
// it vanished, became a symlink (ELOOP; EMLINK on some BSDs), is not what the
// walk saw, is a special file, or is unreadable.
func leaveOut(err error) bool {
	for _, e := range []syscall.Errno{
		syscall.ENOENT, syscall.ELOOP, syscall.EMLINK, syscall.ENOTDIR, syscall.ENXIO,
		syscall.EACCES, syscall.EPERM, syscall.EAGAIN, syscall.EOPNOTSUPP,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
