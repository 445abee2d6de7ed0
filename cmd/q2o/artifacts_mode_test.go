package main

import (
	"context"
	"strings"
	"testing"

	"github.com/q2o/q2o/internal/testenv"
)

// Q2O_ARTIFACTS=s3 with an object store that does not answer fails at
// start, naming the setting and the endpoint, rather than at the first
// run's end.
func TestRunRefusesUnreachableS3(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, testenv.DatabaseURL(t))
	cfg.Artifacts, cfg.S3Endpoint, cfg.S3Bucket = "s3", "http://127.0.0.1:1", "q2o-artifacts"
	err := run(context.Background(), cfg, true, true)
	if err == nil || !strings.Contains(err.Error(), "Q2O_ARTIFACTS=s3") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("run with an unreachable s3: %v, want a refusal naming Q2O_ARTIFACTS and the endpoint", err)
	}
}
