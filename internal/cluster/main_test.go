package cluster_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/cluster"
)

// q2oBin is the one q2o binary every host of the test runs, built once.
var q2oBin string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() || cluster.Unavailable() != "" {
			return m.Run() // TestCluster says why it skips
		}
		dir, err := os.MkdirTemp("", "q2o-cluster-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Only root runs it (the api and worker processes of the hosts),
		// so a MkdirTemp folder (0700) will do.
		q2oBin = filepath.Join(dir, "q2o")
		cmd := exec.Command("go", "build", "-o", q2oBin, "./cmd/q2o")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build ./cmd/q2o: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// upCluster builds the cluster for the test (skipping it where the machine
// cannot) and takes it down when the test ends, printing every q2o log
// when the test failed.
func upCluster(t *testing.T) (*cluster.Cluster, *gorm.DB) {
	t.Helper()
	if testing.Short() {
		t.Skip("the cluster test builds six network-namespace hosts")
	}
	if why := cluster.Unavailable(); why != "" {
		t.Skip("no cluster of network-namespace hosts on this machine: " + why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := cluster.Up(ctx, "Q2O_BIN="+q2oBin,
		"Q2O_CLUSTER_RUNNER=python3 "+filepath.Join(repoRoot(), "internal", "cluster", "testdata", "main.py"),
		fmt.Sprintf("Q2O_CLUSTER_OWNER=%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster %s up in %s (state in %s)", c.Get("CLUSTER_ID"), time.Since(start).Round(time.Millisecond), c.Dir)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("Q2O_CLUSTER_LOGS") != "" {
			for _, proc := range []string{"q2o-api1", "q2o-api2", "q2o-w1", "q2o-w2", "q2o-w3"} {
				t.Logf("--- %s log ---\n%s", proc, tail(c.Log(proc), 60))
			}
		}
		if err := c.Down(); err != nil {
			t.Error(err)
		}
	})
	gdb, err := db.Open(context.Background(), c.Get("DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	return c, gdb
}
