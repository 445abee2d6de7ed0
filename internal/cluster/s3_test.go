package cluster_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"gorm.io/gorm"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/internal/cluster"
	"github.com/q2o/q2o/models"
)

// bucket is an S3 client of the cluster's object store, or a skip saying
// what is missing.
func bucket(t *testing.T, c *cluster.Cluster) *minio.Client {
	t.Helper()
	if c.Get("S3_ENDPOINT") == "" {
		t.Skip("needs the object store: no weed binary (SeaweedFS; scripts/services.sh builds it into $(go env GOPATH)/bin)")
	}
	if c.Get("ARTIFACTS") != "s3" {
		t.Skip("needs Q2O_ARTIFACTS=s3 on the hosts (the cluster runs " + c.Get("ARTIFACTS") + ")")
	}
	u, err := url.Parse(c.Get("S3_ENDPOINT"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(u.Host, &minio.Options{Secure: false, Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
		Creds: credentials.NewStaticV4(c.Get("S3_ACCESS_KEY_ID"), c.Get("S3_SECRET_ACCESS_KEY"), "")})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

// object reads one object of the cluster's bucket.
func object(t *testing.T, c *cluster.Cluster, mc *minio.Client, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := mc.GetObject(ctx, c.Get("S3_BUCKET"), key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %s from the bucket: %v", key, err)
	}
	return b
}

// download is the run's zip as a tenant downloads it through a.
func (a api) download(tn tenant, r run) []byte {
	a.t.Helper()
	return a.do("GET", "/api/tenant/projects/"+r.project+"/executions/"+r.execution+"/download", tn.key, nil, http.StatusOK)
}

// checkZips: each run's zip is in the bucket, with the SHA-256 its row
// records, and downloads through either API host are byte-identical to it;
// no host keeps a copy (nothing but the bucket holds it).
func checkZips(t *testing.T, c *cluster.Cluster, gdb *gorm.DB, mc *minio.Client, tn tenant, runs []run) {
	t.Helper()
	rows := executions(t, gdb, ids(runs))
	for _, r := range runs {
		key, err := artifacts.ZipKey(r.project, r.execution)
		if err != nil {
			t.Fatal(err)
		}
		stored := object(t, c, mc, key)
		sum := sha256.Sum256(stored)
		if e := rows[r.execution]; e.ZipSHA256 == nil || *e.ZipSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("execution %s: the bucket's zip has SHA-256 %x, the row records %v", r.execution, sum, e.ZipSHA256)
		}
		if e := rows[r.execution]; e.ZipPath == nil || !strings.HasPrefix(*e.ZipPath, "s3://") {
			t.Errorf("execution %s: zip_path %v, want an s3:// ref", r.execution, e.ZipPath)
		}
		for _, host := range cluster.APIs {
			if got := apiOf(t, c, host).download(tn, r); !bytes.Equal(got, stored) {
				t.Errorf("execution %s: the download through %s (%d bytes) differs from the bucket's zip (%d bytes)",
					r.execution, host, len(got), len(stored))
			}
		}
	}
	_ = filepath.WalkDir(filepath.Join(c.Dir, "hosts"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".zip") {
			for _, r := range runs {
				if strings.Contains(path, r.execution) {
					t.Errorf("a host keeps the zip of %s: %s", r.execution, path)
				}
			}
		}
		return nil
	})
}

// testZipsInTheBucket: the spread runs' zips are in the bucket and download
// byte-identically through both API hosts (which never saw the workers'
// folders).
func testZipsInTheBucket(t *testing.T, c *cluster.Cluster, gdb *gorm.DB) {
	mc := bucket(t, c)
	tn := apiOf(t, c, "api2").tenant("Zips")
	// Six runs, so every worker host uploads some (six slots, two a host).
	runs := submit(t, c, tn, 6, "zipped", "seconds=3 bytes=300000")
	waitFor(t, "the six runs completed", 90*time.Second, func() (bool, string) {
		return allIn(t, gdb, ids(runs), models.StatusCompleted)
	})
	perHost := map[string]int{}
	st := checkStarts(t, c, gdb, ids(runs))
	for _, r := range runs {
		for _, s := range st[r.execution] {
			perHost[s.host]++
		}
	}
	t.Logf("zips uploaded from worker hosts %v", perHost)
	checkZips(t, c, gdb, mc, tn, runs)
}

// testObjectStoreOutage: the S3 gateway is down for 10 s from the moment
// main.py starts (longer if the worker has not tried an upload by then),
// so the zip's upload fails and is tried again; the run waits (still
// running) and ends completed with its zip once the store is back.
func testObjectStoreOutage(t *testing.T, c *cluster.Cluster, gdb *gorm.DB) {
	mc := bucket(t, c)
	tn := apiOf(t, c, "api1").tenant("Outage")
	r := apiOf(t, c, "api2").run("api2", tn, "outage", "seconds=1 bytes=4000000")
	var st []start
	waitFor(t, "main.py started", 60*time.Second, func() (bool, string) {
		st = starts(t, c)[r.execution]
		return len(st) == 1, ""
	})
	if err := c.Stop("weed-s3"); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = c.Start("weed-s3")
		}
	})
	host := st[0].host
	// The store stays down at least 10 s, and until the worker has failed
	// an upload (a loaded machine may take longer to get there).
	waitFor(t, "the worker on "+host+" retrying the zip's upload", 60*time.Second, func() (bool, string) {
		for _, line := range strings.Split(c.Log("q2o-"+host), "\n") {
			if strings.Contains(line, "trying again") && strings.Contains(line, r.execution) {
				return true, line
			}
		}
		return false, "no retry in the log yet"
	})
	if e := executions(t, gdb, []string{r.execution})[r.execution]; e.Status != models.StatusRunning {
		t.Fatalf("while the object store is down the run is %s, want running (waiting for its upload): %+v", e.Status, e)
	}
	time.Sleep(time.Until(down.Add(10 * time.Second))) // the outage's length, not an assertion
	if err := c.Start("weed-s3"); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	waitFor(t, "the run completed once the store is back", 60*time.Second, func() (bool, string) {
		return allIn(t, gdb, []string{r.execution}, models.StatusCompleted)
	})
	t.Logf("completed %s after the object store came back (down %s)", time.Since(back).Round(time.Millisecond),
		back.Sub(down).Round(time.Millisecond))
	checkStarts(t, c, gdb, []string{r.execution})
	checkZips(t, c, gdb, mc, tn, []run{r})
}
