package apptest

// The test apps' artifacts in a bucket (Options.S3).

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/internal/app"
	"github.com/q2o/q2o/internal/testenv"
)

// TestUploadRetry is how long the test apps retry an upload to the
// artifacts store: long enough to outlast a stopped S3 gateway.
var TestUploadRetry = store.Retry{For: time.Minute, First: 250 * time.Millisecond, Max: 2 * time.Second}

var buckets atomic.Int64

// S3Bucket is the settings of a fresh bucket (made by the store, unless
// CreateBucket is turned off) of server w.
func S3Bucket(t testing.TB, w *testenv.Seaweed) store.S3Config {
	t.Helper()
	return store.S3Config{Endpoint: w.Endpoint, Region: "us-east-1",
		Bucket:      fmt.Sprintf("q2o-app-%d-%d", time.Now().UnixNano()%1e9, buckets.Add(1)),
		AccessKeyID: w.AccessKeyID, SecretAccessKey: w.SecretAccessKey,
		PathStyle: true, Prefix: "q2o/", CreateBucket: true, MaxRetries: 2}
}

// openArtifacts opens the app's store: the folder OutputRoot, or with w a
// fresh bucket of w, the workers then on a scratch root of their own.
func (a *App) openArtifacts(w *testenv.Seaweed) {
	a.t.Helper()
	artifacts := app.Artifacts{OutputRoot: a.OutputRoot}
	if w != nil {
		cfg := S3Bucket(a.t, w)
		artifacts.Mode, artifacts.S3, a.S3, a.ScratchRoot = "s3", cfg, &cfg, a.t.TempDir()
	}
	var err error
	if a.Artifacts, err = app.OpenArtifacts(context.Background(), artifacts); err != nil {
		a.t.Fatal(err)
	}
}

// workerRoot is the workers' Q2O_OUTPUT_ROOT: the API's, or with S3 their
// scratch.
func (a *App) workerRoot() string {
	if a.ScratchRoot != "" {
		return a.ScratchRoot
	}
	return a.OutputRoot
}
