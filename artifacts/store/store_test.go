package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/internal/testenv"
)

// seaweed is the package's one real S3 server (TestMain).
var seaweed *testenv.Seaweed

func TestMain(m *testing.M) {
	w, err := testenv.StartSeaweed()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	seaweed = w
	code := m.Run()
	w.Close()
	os.Exit(code)
}

var buckets atomic.Int64

// s3Config is a fresh bucket on the test server.
func s3Config(t testing.TB) store.S3Config {
	t.Helper()
	return store.S3Config{Endpoint: seaweed.Endpoint, Region: "us-east-1",
		Bucket:      fmt.Sprintf("q2o-test-%d-%d", time.Now().UnixNano()%1e9, buckets.Add(1)),
		AccessKeyID: seaweed.AccessKeyID, SecretAccessKey: seaweed.SecretAccessKey,
		PathStyle: true, Prefix: "artifacts/", CreateBucket: true, MaxRetries: 3}
}

func newS3(t testing.TB) *store.S3 {
	t.Helper()
	s, err := store.NewS3(context.Background(), s3Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newLocal(t testing.TB) *store.Local {
	t.Helper()
	s, err := store.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance runs the same checks on every implementation.
func TestConformance(t *testing.T) {
	for name, open := range map[string]func(testing.TB) store.Store{
		"local": func(t testing.TB) store.Store { return newLocal(t) },
		"s3":    func(t testing.TB) store.Store { return newS3(t) },
	} {
		t.Run(name, func(t *testing.T) { conformance(t, open(t)) })
	}
}

func conformance(t *testing.T, s store.Store) {
	ctx := context.Background()
	body := []byte(strings.Repeat("0123456789", 1000))
	sum := sha256.Sum256(body)
	key := "p1/_artifacts/run-1.zip"

	t.Run("put", func(t *testing.T) {
		o, err := s.Put(ctx, key, bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if o.Size != int64(len(body)) || o.SHA256 != hex.EncodeToString(sum[:]) || o.ETag == "" || o.ModTime.IsZero() {
			t.Errorf("put returned %+v", o)
		}
	})
	t.Run("put with a short reader fails and leaves the old object", func(t *testing.T) {
		if _, err := s.Put(ctx, key, bytes.NewReader(body[:10]), int64(len(body))); err == nil {
			t.Fatal("a short body was accepted")
		}
		o, err := s.Stat(ctx, key)
		if err != nil || o.Size != int64(len(body)) {
			t.Fatalf("after a failed put: %+v %v", o, err)
		}
	})
	t.Run("stat", func(t *testing.T) {
		o, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if o.Key != key || o.Size != int64(len(body)) || o.ETag == "" {
			t.Errorf("stat %+v", o)
		}
		if _, ok := s.(*store.S3); ok && o.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("s3 stat lost the recorded checksum: %q", o.SHA256)
		}
	})
	t.Run("open and read whole", func(t *testing.T) {
		r, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if r.Object().Size != int64(len(body)) {
			t.Errorf("object %+v", r.Object())
		}
	})
	t.Run("range through http.ServeContent", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r, err := s.Open(req.Context(), key)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			defer r.Close()
			w.Header().Set("ETag", r.Object().ETag)
			http.ServeContent(w, req, "run-1.zip", r.Object().ModTime, r)
		}))
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Range", "bytes=5-24")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || string(got) != string(body[5:25]) {
			t.Fatalf("range: %d %q", resp.StatusCode, got)
		}
		req.Header.Set("Range", "bytes=-7")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != string(body[len(body)-7:]) {
			t.Fatalf("suffix range: %q", got)
		}
		req.Header.Del("Range")
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match with the ETag: %d", resp.StatusCode)
		}
	})
	t.Run("a rewrite changes the ETag", func(t *testing.T) {
		before, _ := s.Stat(ctx, key)
		time.Sleep(10 * time.Millisecond)
		o, err := s.Put(ctx, key, strings.NewReader("other"), 5)
		if err != nil {
			t.Fatal(err)
		}
		if o.ETag == before.ETag || o.Size != 5 {
			t.Errorf("etag %s -> %s, size %d", before.ETag, o.ETag, o.Size)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("stat after delete: %v", err)
		}
		if _, err := s.Open(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("open after delete: %v", err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("delete of a missing key: %v", err)
		}
	})
	t.Run("bad keys are refused", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "../up", "a/../../up"} {
			if _, err := s.Put(ctx, k, strings.NewReader("x"), 1); err == nil {
				t.Errorf("key %q accepted", k)
			}
		}
	})
}

// TestS3LargeObjectBoundedMemory streams 64 MiB through a multipart upload
// and checks the heap never grew by more than a few parts.
func TestS3LargeObjectBoundedMemory(t *testing.T) {
	s := newS3(t)
	ctx := context.Background()
	const size = 64 << 20
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.Reader, size), h)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	o, err := s.Put(ctx, "big/run.zip", src, size)
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("64 MiB upload: heap grew by at most %d MiB (part size %d MiB)", grew>>20, store.PartSize>>20)
	if grew > 5*store.PartSize {
		t.Errorf("heap grew by %d MiB for a 64 MiB object: not bounded", grew>>20)
	}
	if want := hex.EncodeToString(h.Sum(nil)); o.SHA256 != want || o.Size != size {
		t.Errorf("put %+v, want sha %s", o, want)
	}
	r, err := s.Open(ctx, "big/run.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	back := sha256.New()
	if n, err := io.Copy(back, r); err != nil || n != size {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	if hex.EncodeToString(back.Sum(nil)) != o.SHA256 {
		t.Error("the object read back differs from what was sent")
	}
}

func TestS3Bucket(t *testing.T) {
	ctx := context.Background()
	t.Run("created when missing", func(t *testing.T) {
		cfg := s3Config(t)
		if _, err := store.NewS3(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		// A second replica finds it there.
		if _, err := store.NewS3(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refused when missing and creation is off", func(t *testing.T) {
		cfg := s3Config(t)
		cfg.CreateBucket = false
		_, err := store.NewS3(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "Q2O_S3_CREATE_BUCKET") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrong credentials are refused", func(t *testing.T) {
		cfg := s3Config(t)
		cfg.SecretAccessKey = "wrong-secret"
		if _, err := store.NewS3(ctx, cfg); err == nil {
			t.Fatal("wrong secret accepted")
		}
	})
}

// TestS3Down takes the S3 gateway down: a Put fails saying the object store
// is unreachable, and succeeds again once it is back.
func TestS3Down(t *testing.T) {
	s := newS3(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "before", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	seaweed.StopS3()
	t.Cleanup(func() { _ = seaweed.StartS3() })

	start := time.Now()
	_, err := s.Put(ctx, "during", strings.NewReader("payload"), 7)
	if err == nil {
		t.Fatal("put succeeded with the object store down")
	}
	if msg := err.Error(); !strings.Contains(msg, "s3") || !strings.Contains(msg, seaweed.Endpoint) || !strings.Contains(msg, "connection refused") {
		t.Errorf("the error does not say the object store is down: %v", err)
	}
	t.Logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), err)

	if err := seaweed.StartS3(); err != nil {
		t.Fatal(err)
	}
	o, err := s.Put(ctx, "during", strings.NewReader("payload"), 7)
	if err != nil {
		t.Fatalf("retry after the store came back: %v", err)
	}
	if o.Size != 7 {
		t.Errorf("put %+v", o)
	}
	if _, err := s.Stat(ctx, "before"); err != nil {
		t.Errorf("the object written before the outage: %v", err)
	}
}

func TestNew(t *testing.T) {
	ctx := context.Background()
	if s, err := store.New(ctx, "local", t.TempDir(), store.S3Config{}); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(*store.Local); !ok {
		t.Errorf("local gave %T", s)
	}
	if s, err := store.New(ctx, "s3", "", s3Config(t)); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(*store.S3); !ok {
		t.Errorf("s3 gave %T", s)
	}
	if _, err := store.New(ctx, "nfs", "", store.S3Config{}); err == nil || !strings.Contains(err.Error(), "Q2O_ARTIFACTS") {
		t.Errorf("an unknown mode: %v", err)
	}
}

// TestPutFileRetrying: with the S3 gateway down, the upload of a file is
// tried again until the gateway is back, then the file is in the bucket
// and gone from the folder.
func TestPutFileRetrying(t *testing.T) {
	s := newS3(t)
	ctx := context.Background()
	path := t.TempDir() + "/run.zip"
	body := strings.Repeat("zip bytes ", 1000)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	seaweed.StopS3()
	t.Cleanup(func() { _ = seaweed.StartS3() })
	var tries atomic.Int32
	back := make(chan error, 1)
	o, err := store.PutFileRetrying(ctx, s, "p/run.zip", path, store.Retry{For: time.Minute, First: 100 * time.Millisecond, Max: time.Second},
		func(err error, wait time.Duration) {
			if tries.Add(1) == 3 { // down for three tries, then back
				go func() { back <- seaweed.StartS3() }()
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-back; err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	if o.Size != int64(len(body)) || o.SHA256 != hex.EncodeToString(sum[:]) || tries.Load() < 3 {
		t.Errorf("put %+v after %d failures", o, tries.Load())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the local file stays after the upload: %v", err)
	}
	t.Run("gives up after Retry.For", func(t *testing.T) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		seaweed.StopS3()
		t.Cleanup(func() { _ = seaweed.StartS3() })
		_, err := store.PutFileRetrying(ctx, s, "p/other.zip", path, store.Retry{For: 300 * time.Millisecond, First: 100 * time.Millisecond}, nil)
		if err == nil || !strings.Contains(err.Error(), "tries") {
			t.Fatalf("with the store down: %v", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("the file must stay for another try: %v", err)
		}
	})
	t.Run("a missing file is not retried", func(t *testing.T) {
		calls := 0
		_, err := store.PutFileRetrying(ctx, s, "p/x.zip", path+".missing", store.Retry{For: time.Minute}, func(error, time.Duration) { calls++ })
		if !errors.Is(err, os.ErrNotExist) || calls != 0 {
			t.Errorf("%v after %d retries", err, calls)
		}
	})
}

// The local store's PutFile renames the file into place (nothing to do
// when it is there already), and Ref/Key map keys to paths and back.
func TestLocalPutFileAndRefs(t *testing.T) {
	root := t.TempDir()
	s, err := store.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := root + "/_artifacts/p/e.zip"
	if err := os.MkdirAll(root+"/_artifacts/p", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, []byte("zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := store.PutFile(ctx, s, "_artifacts/p/e.zip", in); err != nil || o.Size != 3 {
		t.Fatalf("in place: %+v %v", o, err)
	}
	if _, err := os.Stat(in); err != nil {
		t.Fatalf("the file in place was moved: %v", err)
	}
	other := t.TempDir() + "/x.zip"
	if err := os.WriteFile(other, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := store.PutFile(ctx, s, "_artifacts/p/f.zip", other); err != nil || o.Size != 5 {
		t.Fatalf("moved: %+v %v", o, err)
	}
	if ref := s.Ref("_artifacts/p/f.zip"); ref != root+"/_artifacts/p/f.zip" {
		t.Errorf("ref %q", ref)
	}
	if k, err := s.Key(root + "/_artifacts/p/f.zip"); err != nil || k != "_artifacts/p/f.zip" {
		t.Errorf("key %q %v", k, err)
	}
	for _, ref := range []string{"/elsewhere/x.zip", root + "/../x.zip", "relative/x.zip", root, ""} {
		if k, err := s.Key(ref); err == nil {
			t.Errorf("key of %q: %q", ref, k)
		}
	}
	t.Run("a relative folder gives absolute refs", func(t *testing.T) {
		t.Chdir(root)
		rel := store.Folder("data")
		ref := rel.Ref("_artifacts/p/e.zip")
		if ref != root+"/data/_artifacts/p/e.zip" {
			t.Errorf("ref %q", ref)
		}
		for _, r := range []string{ref, "data/_artifacts/p/e.zip", "./data/_artifacts/p/e.zip"} {
			if k, err := rel.Key(r); err != nil || k != "_artifacts/p/e.zip" {
				t.Errorf("key of %q: %q %v", r, k, err)
			}
		}
	})
	s3 := newS3(t)
	ref := s3.Ref("_artifacts/p/e.zip")
	if !strings.HasPrefix(ref, "s3://q2o-test-") || !strings.HasSuffix(ref, "/artifacts/_artifacts/p/e.zip") {
		t.Errorf("s3 ref %q", ref)
	}
	if k, err := s3.Key(ref); err != nil || k != "_artifacts/p/e.zip" {
		t.Errorf("s3 key %q %v", k, err)
	}
	if _, err := s3.Key("s3://another-bucket/artifacts/_artifacts/p/e.zip"); err == nil {
		t.Error("a ref of another bucket was taken")
	}
}
