package artifacts

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkWriteZip zips a tree of incompressible files and reports the
// throughput over the tree's bytes ("MB/s") and how far the heap grew above
// its level before the call at its peak during WriteZip ("peak-heap-MB"; MB
// is 10^6 bytes, as in Go's MB/s). The peak should stay flat whatever the
// tree size: that is the bounded-memory promise.
//
// The tree is Q2O_BENCH_ZIP_MB MiB (default 64), made once outside the timer.
// Q2O_BENCH_ZIP_MB=1024 gives the 1 GiB figure:
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
	src := b.TempDir()
	dst := filepath.Join(b.TempDir(), "bench.zip")
	writeBenchTree(b, src, total)

	var peak uint64
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		stop := sampleHeap()
		b.StartTimer()

		if _, err := WriteZip(ctx, src, dst); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		peak = max(peak, stop())
		b.StartTimer()
	}
	b.ReportMetric(float64(total)*float64(b.N)/1e6/b.Elapsed().Seconds(), "MB/s")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
}

// writeBenchTree fills dir with total bytes of random data in files of at most
// 8 MiB spread over four folders, streaming so that a 1 GiB tree never sits in
// memory.
func writeBenchTree(b *testing.B, dir string, total int64) {
	b.Helper()
	fileSize := min(8<<20, max(total/16, 64<<10))
	rng := rand.NewChaCha8([32]byte{42})
	chunk := make([]byte, 1<<20)
	for i := 0; total > 0; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i%4))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("f%04d.bin", i)))
		if err != nil {
			b.Fatal(err)
		}
		for left := min(fileSize, total); left > 0; {
			c := chunk[:min(int64(len(chunk)), left)]
			rng.Read(c)
			if _, err := f.Write(c); err != nil {
				b.Fatal(err)
			}
			left -= int64(len(c))
			total -= int64(len(c))
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
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
