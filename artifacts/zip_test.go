package artifacts

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// mtime is the modification time every test tree gets, to check it survives.
var mtime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// secret is the content of files outside the output folder; it must never
// appear in a zip.
const secret = "SECRET-OUTSIDE-THE-OUTPUT-FOLDER"

// treeFile is one file of a test tree.
type treeFile struct {
	rel  string
	data []byte
	perm fs.FileMode
}

// makeTree creates files and empty dirs under root, then sets every mtime.
func makeTree(t *testing.T, root string, files []treeFile, emptyDirs ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, f.perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.perm); err != nil { // umask-proof
			t.Fatal(err)
		}
	}
	for _, d := range emptyDirs {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touchAll(t, root)
}

// touchAll sets mtime on root and everything under it (not through symlinks).
func touchAll(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() && !d.IsDir() {
			return err
		}
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// zipEntry is one entry read back from a zip.
type zipEntry struct {
	name     string
	mode     fs.FileMode
	modified time.Time
	method   uint16
	data     []byte
}

// readZip reads every entry of the zip at path, in order.
func readZip(t *testing.T, path string) []zipEntry {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	defer r.Close()
	var out []zipEntry
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open entry %s: %v", f.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read entry %s: %v", f.Name, err)
		}
		out = append(out, zipEntry{name: f.Name, mode: f.Mode(), modified: f.Modified, method: f.Method, data: data})
	}
	return out
}

func entryNames(entries []zipEntry) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.name
	}
	return names
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// dirs returns a fresh output folder and a zip path outside it.
func dirs(t *testing.T) (src, dst string) {
	t.Helper()
	base := t.TempDir()
	src = filepath.Join(base, "out")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	return src, filepath.Join(base, "zips", "run.zip")
}

func TestWriteZipKeepsContentModesAndTimes(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	files := []treeFile{
		{"README.md", []byte("# result\n"), 0o644},
		{"bin/run.sh", []byte("#!/bin/sh\necho hi\n"), 0o755},
		{"data/big.bin", randomBytes(1, 3*copyBufSize+123), 0o600}, // several copy chunks
		{"data/empty.txt", nil, 0o640},
		{"sub/run.log", []byte("a nested run.log is the client's\n"), 0o644},
		{"sub/deep/er/notes.txt", []byte("deep"), 0o444},
	}
	makeTree(t, src, files, "empty")

	res, err := WriteZip(context.Background(), src, dst)
	if err != nil {
		t.Fatalf("WriteZip: %v", err)
	}

	entries := readZip(t, dst)
	want := []string{
		"README.md", "bin/", "bin/run.sh", "data/", "data/big.bin", "data/empty.txt",
		"empty/", "sub/", "sub/deep/", "sub/deep/er/", "sub/deep/er/notes.txt", "sub/run.log",
	}
	if got := entryNames(entries); !slices.Equal(got, want) {
		t.Fatalf("entries:\n got %q\nwant %q", got, want)
	}
	byName := map[string]zipEntry{}
	for _, e := range entries {
		byName[e.name] = e
		if !e.modified.Equal(mtime) {
			t.Errorf("%s: modified %v, want %v", e.name, e.modified, mtime)
		}
		if strings.HasSuffix(e.name, "/") {
			if e.mode != fs.ModeDir|0o755 {
				t.Errorf("%s: mode %v, want %v", e.name, e.mode, fs.ModeDir|0o755)
			}
			if len(e.data) != 0 {
				t.Errorf("%s: directory entry has %d bytes", e.name, len(e.data))
			}
		}
	}
	for _, f := range files {
		e := byName[f.rel]
		if !bytes.Equal(e.data, f.data) {
			t.Errorf("%s: content differs (%d bytes, want %d)", f.rel, len(e.data), len(f.data))
		}
		if e.mode != f.perm {
			t.Errorf("%s: mode %v, want %v", f.rel, e.mode, f.perm)
		}
		if e.method != zip.Deflate {
			t.Errorf("%s: method %d, want Deflate", f.rel, e.method)
		}
	}

	raw, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if res.Path != dst || res.Size != int64(len(raw)) || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("result = {Path %q Size %d SHA256 %s}, want {%q %d %x}", res.Path, res.Size, res.SHA256, dst, len(raw), sum)
	}
	if res.Files != len(files) {
		t.Errorf("Files = %d, want %d", res.Files, len(files))
	}
	if res.SkippedTotal != 0 || len(res.Skipped) != 0 {
		t.Errorf("Skipped = %d %q, want none", res.SkippedTotal, res.Skipped)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("zip file mode %v, want 0644", fi.Mode().Perm())
	}
}

func TestWriteZipLeavesOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup makes the entry under src; outside is a folder beside src
		// holding outside/secret.txt and outside/dir/secret.txt.
		setup       func(t *testing.T, src, outside string)
		wantSkipped string
		leftOut     []string // entry names that must not be in the zip
	}{
		{
			name: "symlink to an outside file",
			setup: func(t *testing.T, src, outside string) {
				must(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(src, "link.txt")))
			},
			wantSkipped: "link.txt",
			leftOut:     []string{"link.txt"},
		},
		{
			name: "symlink to an outside dir",
			setup: func(t *testing.T, src, outside string) {
				must(t, os.Symlink(filepath.Join(outside, "dir"), filepath.Join(src, "linkdir")))
			},
			wantSkipped: "linkdir",
			leftOut:     []string{"linkdir", "linkdir/", "linkdir/secret.txt"},
		},
		{
			name: "nested relative symlink climbing out",
			setup: func(t *testing.T, src, outside string) {
				must(t, os.MkdirAll(filepath.Join(src, "a/b"), 0o755))
				must(t, os.Symlink("../../../outside/secret.txt", filepath.Join(src, "a/b/up.txt")))
			},
			wantSkipped: "a/b/up.txt",
			leftOut:     []string{"a/b/up.txt"},
		},
		{
			name: "symlink to a file inside",
			setup: func(t *testing.T, src, outside string) {
				must(t, os.Symlink("keep.txt", filepath.Join(src, "alias.txt")))
			},
			wantSkipped: "alias.txt",
			leftOut:     []string{"alias.txt"},
		},
		{
			name: "hard link to an outside file",
			setup: func(t *testing.T, src, outside string) {
				must(t, os.Link(filepath.Join(outside, "secret.txt"), filepath.Join(src, "hard.txt")))
			},
			wantSkipped: "hard.txt",
			leftOut:     []string{"hard.txt"},
		},
		{
			name: "fifo",
			setup: func(t *testing.T, src, outside string) {
				must(t, syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644))
			},
			wantSkipped: "pipe",
			leftOut:     []string{"pipe"},
		},
		{
			name: "dotfile",
			setup: func(t *testing.T, src, outside string) {
				writeFile(t, filepath.Join(src, ".env"), "DATABASE_URL=postgres://secret")
			},
			wantSkipped: ".env",
			leftOut:     []string{".env"},
		},
		{
			name: "dot folder",
			setup: func(t *testing.T, src, outside string) {
				writeFile(t, filepath.Join(src, ".git/config"), "[core]")
			},
			wantSkipped: ".git/",
			leftOut:     []string{".git/", ".git/config"},
		},
		{
			name: "nested dot folder",
			setup: func(t *testing.T, src, outside string) {
				writeFile(t, filepath.Join(src, "sub/.cache/x"), "cache")
			},
			wantSkipped: "sub/.cache/",
			leftOut:     []string{"sub/.cache/", "sub/.cache/x"},
		},
		{
			name: "__pycache__",
			setup: func(t *testing.T, src, outside string) {
				writeFile(t, filepath.Join(src, "__pycache__/x.pyc"), "bytecode")
			},
			wantSkipped: "__pycache__/",
			leftOut:     []string{"__pycache__/", "__pycache__/x.pyc"},
		},
		{
			name: "pyc file",
			setup: func(t *testing.T, src, outside string) {
				writeFile(t, filepath.Join(src, "a.pyc"), "bytecode")
			},
			wantSkipped: "a.pyc",
			leftOut:     []string{"a.pyc"},
		},
		{
			name: "top-level run.log",
			setup: func(t *testing.T, src, outside string) {
				writeFile(t, filepath.Join(src, "run.log"), "platform log")
			},
			wantSkipped: "run.log",
			leftOut:     []string{"run.log"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, outside := filepath.Join(base, "src"), filepath.Join(base, "outside")
			writeFile(t, filepath.Join(outside, "secret.txt"), secret)
			writeFile(t, filepath.Join(outside, "dir/secret.txt"), secret)
			writeFile(t, filepath.Join(src, "keep.txt"), "kept")
			tc.setup(t, src, outside)
			dst := filepath.Join(base, "zips", "z.zip")

			res, err := WriteZip(context.Background(), src, dst)
			if err != nil {
				t.Fatalf("WriteZip: %v", err)
			}
			entries := readZip(t, dst)
			names := entryNames(entries)
			if !slices.Contains(names, "keep.txt") {
				t.Errorf("keep.txt missing; entries %q", names)
			}
			for _, n := range tc.leftOut {
				if slices.Contains(names, n) {
					t.Errorf("entry %q is in the zip; entries %q", n, names)
				}
			}
			for _, e := range entries {
				if bytes.Contains(e.data, []byte(secret)) {
					t.Errorf("entry %q carries the outside secret", e.name)
				}
			}
			if !slices.Contains(res.Skipped, tc.wantSkipped) {
				t.Errorf("Skipped = %q, want it to list %q", res.Skipped, tc.wantSkipped)
			}
			if res.SkippedTotal != len(res.Skipped) {
				t.Errorf("SkippedTotal = %d, Skipped has %d", res.SkippedTotal, len(res.Skipped))
			}
		})
	}
}

// TestOpenRechecksTheDescriptor covers an entry that changed between the
// directory listing and the open: the walk thought it a file or folder, but
// it is now a symlink, a fifo or a hard-linked file.
func TestOpenRechecksTheDescriptor(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, outside := filepath.Join(base, "src"), filepath.Join(base, "outside")
	writeFile(t, filepath.Join(outside, "secret.txt"), secret)
	writeFile(t, filepath.Join(outside, "dir/secret.txt"), secret)
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(src, "file-now-link")))
	must(t, os.Symlink(filepath.Join(outside, "dir"), filepath.Join(src, "dir-now-link")))
	must(t, syscall.Mkfifo(filepath.Join(src, "file-now-fifo"), 0o644)) // would block without O_NONBLOCK
	must(t, os.Link(filepath.Join(outside, "secret.txt"), filepath.Join(src, "file-now-hardlink")))
	writeFile(t, filepath.Join(src, "dir-now-file"), "x")

	dir, err := openSource(src)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	var buf bytes.Buffer
	z := &zipper{ctx: context.Background(), zw: zip.NewWriter(&buf), buf: make([]byte, 1024)}
	for _, name := range []string{"file-now-link", "file-now-fifo", "file-now-hardlink"} {
		if err := z.addFile(dir, name, name); err != nil {
			t.Errorf("addFile(%s): %v", name, err)
		}
	}
	for _, name := range []string{"dir-now-link", "dir-now-file"} {
		if err := z.addDir(dir, name, name, 1); err != nil {
			t.Errorf("addDir(%s): %v", name, err)
		}
	}
	must(t, z.zw.Close())

	r, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != 0 {
		t.Errorf("zip has %d entries, want none (first %q)", len(r.File), r.File[0].Name)
	}
	want := []string{"file-now-link", "file-now-fifo", "file-now-hardlink", "dir-now-link/", "dir-now-file/"}
	if !slices.Equal(z.res.Skipped, want) {
		t.Errorf("Skipped = %q, want %q", z.res.Skipped, want)
	}
	if z.res.Files != 0 {
		t.Errorf("Files = %d, want 0", z.res.Files)
	}
}

func TestWriteZipKeepsEmptyDirs(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	makeTree(t, src, nil, "empty", "a/b/c", "a/also-empty")

	res, err := WriteZip(context.Background(), src, dst)
	if err != nil {
		t.Fatalf("WriteZip: %v", err)
	}
	want := []string{"a/", "a/also-empty/", "a/b/", "a/b/c/", "empty/"}
	if got := entryNames(readZip(t, dst)); !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	if res.Files != 0 {
		t.Errorf("Files = %d, want 0", res.Files)
	}
}

func TestWriteZipEmptyFolder(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	if _, err := WriteZip(context.Background(), src, dst); err != nil {
		t.Fatalf("WriteZip: %v", err)
	}
	if got := readZip(t, dst); len(got) != 0 {
		t.Errorf("entries %q, want none", entryNames(got))
	}
}

func TestWriteZipIsDeterministic(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	// Created in reverse so that directory order is unlikely to be lexical.
	files := []treeFile{
		{"z.txt", []byte("z"), 0o644},
		{"m/2.txt", []byte("2"), 0o644},
		{"m/10.txt", []byte("10"), 0o644},
		{"m/1.txt", []byte("1"), 0o644},
		{"b-c.txt", []byte("b-c"), 0o644},
		{"b/a.txt", []byte("b/a"), 0o644},
		{"B.txt", []byte("B"), 0o644},
		{"a.txt", []byte("a"), 0o644},
	}
	makeTree(t, src, files)

	first, err := WriteZip(context.Background(), src, dst)
	if err != nil {
		t.Fatal(err)
	}
	firstNames := entryNames(readZip(t, dst))
	second, err := WriteZip(context.Background(), src, dst+".2")
	if err != nil {
		t.Fatal(err)
	}
	secondNames := entryNames(readZip(t, dst+".2"))

	want := []string{"B.txt", "a.txt", "b/", "b/a.txt", "b-c.txt", "m/", "m/1.txt", "m/10.txt", "m/2.txt", "z.txt"}
	if !slices.Equal(firstNames, want) {
		t.Errorf("first zip entries %q, want %q", firstNames, want)
	}
	if !slices.Equal(secondNames, firstNames) {
		t.Errorf("second zip entries %q, first %q", secondNames, firstNames)
	}
	if first.SHA256 != second.SHA256 || first.Size != second.Size {
		t.Errorf("zips differ: %s/%d vs %s/%d", first.SHA256, first.Size, second.SHA256, second.Size)
	}
}

// countdownCtx reports context.Canceled from its n-th Err call on (counting
// from zero), so a test can cancel at every point WriteZip checks. A negative
// n never cancels; calls counts the checks.
type countdownCtx struct {
	context.Context
	n     int64
	calls atomic.Int64
}

func (c *countdownCtx) Err() error {
	i := c.calls.Add(1) - 1
	if c.n >= 0 && i >= c.n {
		return context.Canceled
	}
	return nil
}

func TestWriteZipCancelLeavesNothing(t *testing.T) {
	t.Parallel()
	files := []treeFile{
		{"a.txt", []byte("a"), 0o644},
		{"big/blob.bin", randomBytes(2, 4*copyBufSize), 0o644},
		{"z/z.txt", []byte("z"), 0o644},
	}

	// Count the checks of a run that is never cancelled, then cancel at each.
	src, dst := dirs(t)
	makeTree(t, src, files)
	probe := &countdownCtx{Context: context.Background(), n: -1}
	if _, err := WriteZip(probe, src, dst); err != nil {
		t.Fatalf("uncancelled WriteZip: %v", err)
	}
	checks := probe.calls.Load()
	if checks < 8 {
		t.Fatalf("only %d ctx checks; the big file should be checked per chunk", checks)
	}

	assertNothingLeft := func(t *testing.T, dst string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("zip exists after cancel (%v)", err)
		}
		left, err := os.ReadDir(filepath.Dir(dst))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range left {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	for n := range checks {
		t.Run("at check "+strconv.FormatInt(n, 10), func(t *testing.T) {
			t.Parallel()
			src, dst := dirs(t)
			makeTree(t, src, files)
			_, err := WriteZip(&countdownCtx{Context: context.Background(), n: n}, src, dst)
			assertNothingLeft(t, dst, err)
		})
	}
	t.Run("already cancelled", func(t *testing.T) {
		t.Parallel()
		src, dst := dirs(t)
		makeTree(t, src, files)
		must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := WriteZip(ctx, src, dst)
		assertNothingLeft(t, dst, err)
	})
	t.Run("earlier zip kept", func(t *testing.T) {
		t.Parallel()
		src, dst := dirs(t)
		makeTree(t, src, files)
		if _, err := WriteZip(context.Background(), src, dst); err != nil {
			t.Fatal(err)
		}
		before, err := os.ReadFile(dst)
		must(t, err)
		_, err = WriteZip(&countdownCtx{Context: context.Background(), n: checks / 2}, src, dst)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		after, err := os.ReadFile(dst)
		must(t, err)
		if !bytes.Equal(before, after) {
			t.Error("a cancelled zip changed the earlier zip at dstPath")
		}
		if left, _ := os.ReadDir(filepath.Dir(dst)); len(left) != 1 {
			t.Errorf("zip folder holds %d files, want only the earlier zip", len(left))
		}
	})
}

func TestWriteZipSourceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, base string) (src, dst string)
		want  error
	}{
		{
			name: "missing",
			setup: func(t *testing.T, base string) (string, string) {
				return filepath.Join(base, "nope"), filepath.Join(base, "z.zip")
			},
			want: fs.ErrNotExist,
		},
		{
			name: "a file",
			setup: func(t *testing.T, base string) (string, string) {
				writeFile(t, filepath.Join(base, "file"), "x")
				return filepath.Join(base, "file"), filepath.Join(base, "z.zip")
			},
			want: ErrNotDir,
		},
		{
			name: "a symlink to a folder",
			setup: func(t *testing.T, base string) (string, string) {
				writeFile(t, filepath.Join(base, "real/a.txt"), "x")
				must(t, os.Symlink(filepath.Join(base, "real"), filepath.Join(base, "link")))
				return filepath.Join(base, "link"), filepath.Join(base, "z.zip")
			},
			want: ErrNotDir,
		},
		{
			name: "a fifo",
			setup: func(t *testing.T, base string) (string, string) {
				must(t, syscall.Mkfifo(filepath.Join(base, "pipe"), 0o644))
				return filepath.Join(base, "pipe"), filepath.Join(base, "z.zip")
			},
			want: ErrNotDir,
		},
		{
			name: "zip inside the folder",
			setup: func(t *testing.T, base string) (string, string) {
				writeFile(t, filepath.Join(base, "out/a.txt"), "x")
				return filepath.Join(base, "out"), filepath.Join(base, "out", "sub", "z.zip")
			},
			want: ErrDestInSource,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := tc.setup(t, t.TempDir())
			res, err := WriteZip(context.Background(), src, dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if res.Path != "" {
				t.Errorf("result %+v returned with an error", res)
			}
			if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("zip exists after an error (%v)", err)
			}
		})
	}
}

// TestWriteZipInLayout zips a project's folder twice into the layout's zip
// paths: the second zip must not contain the first.
func TestWriteZipInLayout(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir, err := ProjectDir(root, projectID)
	must(t, err)
	makeTree(t, dir, []treeFile{{"out.txt", []byte("result"), 0o644}})

	for _, exec := range []string{executionID, "0190f1d2-7a3b-7c4d-8e5f-000000000002"} {
		dst, err := ZipPath(root, projectID, exec)
		must(t, err)
		if _, err := WriteZip(context.Background(), dir, dst); err != nil {
			t.Fatalf("WriteZip: %v", err)
		}
		if got := entryNames(readZip(t, dst)); !slices.Equal(got, []string{"out.txt"}) {
			t.Errorf("zip for %s has %q, want only out.txt", exec, got)
		}
	}
}

func TestWriteZipCapsSkipped(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	var files []treeFile
	for i := range maxSkipped + 20 {
		files = append(files, treeFile{"m" + strconv.Itoa(i) + ".pyc", []byte("x"), 0o644})
	}
	makeTree(t, src, files)
	res, err := WriteZip(context.Background(), src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != maxSkipped || res.SkippedTotal != maxSkipped+20 {
		t.Errorf("Skipped has %d, SkippedTotal %d; want %d and %d", len(res.Skipped), res.SkippedTotal, maxSkipped, maxSkipped+20)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(content), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
