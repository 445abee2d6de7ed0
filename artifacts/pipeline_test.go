package artifacts

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestWriteZipChunks covers files cut into several chunks deflated in
// parallel, at chunk boundaries and with each level, and checks the zip with
// Info-ZIP's unzip too where it is installed.
func TestWriteZipChunks(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	text := []byte(strings.Repeat("the same words again and again, some other words; ", 1<<16)) // ~3.2 MiB
	mixed := append(append(randomBytes(3, chunkSize+17), text[:chunkSize]...), randomBytes(4, 1000)...)
	files := []treeFile{
		{"a/exact.txt", text[:chunkSize], 0o644},
		{"a/exact2.txt", text[:2*chunkSize], 0o644},
		{"a/text.txt", text, 0o644},
		{"b/photo.png", randomBytes(5, 3*chunkSize/2), 0o644},
		{"b/random.bin", randomBytes(6, 2*chunkSize+5), 0o644},
		{"b/mixed.dat", mixed, 0o644},
		{"c/empty", nil, 0o644},
		{"c/tiny", []byte("x"), 0o644},
	}
	makeTree(t, src, files)
	res, err := WriteZip(context.Background(), src, dst)
	if err != nil {
		t.Fatalf("WriteZip: %v", err)
	}
	byName := map[string]zipEntry{}
	for _, e := range readZip(t, dst) {
		byName[e.name] = e
	}
	for _, f := range files {
		if e := byName[f.rel]; !bytes.Equal(e.data, f.data) {
			t.Errorf("%s: content differs (%d bytes, want %d)", f.rel, len(e.data), len(f.data))
		}
	}
	if res.Files != len(files) {
		t.Errorf("Files = %d, want %d", res.Files, len(files))
	}
	if res.Size > int64(len(text))/10+int64(6*chunkSize) {
		t.Errorf("zip is %d bytes: the text did not compress", res.Size)
	}
	if _, err := exec.LookPath("unzip"); err == nil {
		if out, err := exec.Command("unzip", "-tq", dst).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}
	}
	again, err := WriteZip(context.Background(), src, dst+".2")
	if err != nil {
		t.Fatal(err)
	}
	if again.SHA256 != res.SHA256 {
		t.Error("the same tree gave two different zips")
	}
}

func TestChunkLevel(t *testing.T) {
	t.Parallel()
	text := []byte(strings.Repeat("compressible text, ", 4096))
	for _, tc := range []struct {
		name   string
		data   []byte
		stored bool
		want   int
	}{
		{"text", text, false, textLevel},
		{"random", randomBytes(7, 64<<10), false, probeLevel},
		{"small random", randomBytes(8, 100), false, textLevel},
		{"known extension", text, true, 0},
	} {
		if got := chunkLevel(tc.data, tc.stored); got != tc.want {
			t.Errorf("%s: level %d, want %d", tc.name, got, tc.want)
		}
	}
	for _, rel := range []string{"a/b.PNG", "x.whl", "y.tar.gz"} {
		if !stored(rel) {
			t.Errorf("stored(%q) = false", rel)
		}
	}
	for _, rel := range []string{"a.txt", "b.json", "README", "c.bin"} {
		if stored(rel) {
			t.Errorf("stored(%q) = true", rel)
		}
	}
}
