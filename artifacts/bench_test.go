package artifacts

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWriteZip zips the benchmark trees (see writeTree: random, text and
// mixed) three ways: impl=new is WriteZip; impl=old is the zip WriteZip made
// before it went parallel (one goroutine, the standard library's flate at
// its fastest level, everything deflated); impl=zip-6 is Info-ZIP's
// `zip -r -6`, skipped when zip is not installed. Each reports the
// throughput over the tree's bytes ("MB/s"), the same over the CPU time
// spent, all cores and the heap sampler included ("MB/cpu-s": what a busy
// machine leaves of the comparison, when other work takes the cores that
// make WriteZip parallel), the zip's size ("zip-MB"), and
// for the Go ones how far the heap grew above its level before the call at
// its peak ("peak-heap-MB"; MB is 10^6 bytes, as in Go's MB/s), which should
// stay flat whatever the tree size: that is the bounded-memory promise.
//
// Each tree is Q2O_BENCH_ZIP_MB MiB (default 64), made once outside the timer.
// Q2O_BENCH_ZIP_MB=1024 gives the 1 GiB figures:
//
//	Q2O_BENCH_ZIP_MB=1024 go test -run XXX -bench WriteZip -benchtime 1x ./artifacts/
func BenchmarkWriteZip(b *testing.B) {
	sizeMiB := 64
	if v := os.Getenv("Q2O_BENCH_ZIP_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("Q2O_BENCH_ZIP_MB=%q: want a positive number of MiB", v)
		}
		sizeMiB = n
	}
	total := int64(sizeMiB) << 20
	impls := []struct {
		name string
		zip  func(ctx context.Context, src, dst string) error
	}{
		{"new", func(ctx context.Context, src, dst string) error { _, err := WriteZip(ctx, src, dst); return err }},
		{"old", serialZip},
		{"zip-6", infoZip},
	}
	for _, kind := range []benchTree{treeRandom, treeText, treeMixed} {
		src := filepath.Join(b.TempDir(), string(kind))
		made := false // made by the first sub-benchmark that -bench picks
		for _, impl := range impls {
			b.Run(fmt.Sprintf("tree=%s/impl=%s", kind, impl.name), func(b *testing.B) {
				if impl.name == "zip-6" {
					if _, err := exec.LookPath("zip"); err != nil {
						b.Skip("zip is not installed: no comparison with zip -r -6")
					}
				}
				if !made {
					writeTree(b, src, kind, total)
					made = true
				}
				benchZip(b, src, total, impl.zip)
			})
		}
	}
}

func benchZip(b *testing.B, src string, total int64, zipTree func(ctx context.Context, src, dst string) error) {
	dst := filepath.Join(b.TempDir(), "bench.zip")
	var peak uint64
	var cpu time.Duration
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		_ = os.Remove(dst)
		runtime.GC()
		stop := sampleHeap()
		c0 := cpuTime()
		b.StartTimer()

		if err := zipTree(ctx, src, dst); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		cpu += cpuTime() - c0
		peak = max(peak, stop())
		b.StartTimer()
	}
	fi, err := os.Stat(dst)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total)*float64(b.N)/1e6/b.Elapsed().Seconds(), "MB/s")
	b.ReportMetric(float64(total)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	b.ReportMetric(float64(fi.Size())/1e6, "zip-MB")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
}

// infoZip runs `zip -r -6` in src; its heap is not this process's, so its
// peak-heap-MB says nothing.
func infoZip(ctx context.Context, src, dst string) error {
	cmd := exec.CommandContext(ctx, "zip", "-q", "-r", "-6", dst, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("zip -r -6: %v: %s", err, out)
	}
	return nil
}

// serialZip is the previous WriteZip's way of compressing, without its
// safety checks (which cost next to nothing): one goroutine walks the tree
// and deflates every file through zip.Writer at flate.BestSpeed.
func serialZip(ctx context.Context, src, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	out := bufio.NewWriterSize(f, outBufSize)
	zw := zip.NewWriter(out)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	buf := make([]byte, copyBufSize)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(fi)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
			_, err = zw.CreateHeader(h)
			return err
		}
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.CopyBuffer(w, in, buf)
		return err
	})
	if err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// cpuTime is the CPU time this process and its waited-for children (zip)
// have used.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano())
}

// sampleHeap samples the bytes of heap objects every 200µs until the returned
// stop is called, which reports the peak above the level at the start.
func sampleHeap() (stop func() uint64) {
	const name = "/memory/classes/heap/objects:bytes"
	read := func(s []metrics.Sample) uint64 {
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	s := []metrics.Sample{{Name: name}}
	base := read(s)
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: name}}
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			peak = max(peak, read(s))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		peak = max(peak, read(s))
		if peak < base {
			return 0
		}
		return peak - base
	}
}
