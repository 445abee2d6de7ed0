package main

import (
	"context"
	"strings"
	"testing"

	"github.com/q2o/q2o/internal/testenv"
)

// Q2O_ARTIFACTS=s3 is refused at start, naming the setting, while the api
// and worker do not use the object store yet.
func TestRunRefusesS3UntilWired(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testenv.DatabaseURL(t))
	cfg.Artifacts, cfg.S3Endpoint, cfg.S3Bucket = "s3", "http://127.0.0.1:8333", "q2o-artifacts"
	err := run(context.Background(), cfg, true, true)
	if err == nil || !strings.Contains(err.Error(), "Q2O_ARTIFACTS=s3") {
		t.Fatalf("run with s3: %v, want a refusal naming Q2O_ARTIFACTS", err)
	}
}
