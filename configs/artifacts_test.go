package configs

import (
	"strings"
	"testing"
)

func TestArtifactSettings(t *testing.T) {
	t.Run("default: the local folder", func(t *testing.T) {
		cfg, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Artifacts != "local" || !cfg.S3CreateBucket || cfg.S3Region != "us-east-1" {
			t.Errorf("defaults: %q create %v region %q", cfg.Artifacts, cfg.S3CreateBucket, cfg.S3Region)
		}
	})
	t.Run("s3 with its settings", func(t *testing.T) {
		for k, v := range map[string]string{"Q2O_ARTIFACTS": "s3", "Q2O_S3_ENDPOINT": "http://127.0.0.1:8333",
			"Q2O_S3_BUCKET": "q2o-artifacts", "Q2O_S3_PATH_STYLE": "true", "Q2O_S3_PREFIX": "q2o/",
			"Q2O_S3_CREATE_BUCKET": "false", "Q2O_S3_ACCESS_KEY_ID": "k", "Q2O_S3_SECRET_ACCESS_KEY": "s"} {
			t.Setenv(k, v)
		}
		cfg, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.S3PathStyle || cfg.S3CreateBucket || cfg.S3Bucket != "q2o-artifacts" || cfg.S3Prefix != "q2o/" {
			t.Errorf("loaded %+v", cfg)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"an unknown mode", map[string]string{"Q2O_ARTIFACTS": "nfs"}, "Q2O_ARTIFACTS"},
		{"s3 without an endpoint", map[string]string{"Q2O_ARTIFACTS": "s3", "Q2O_S3_BUCKET": "b-1"}, "Q2O_S3_ENDPOINT"},
		{"s3 without a bucket", map[string]string{"Q2O_ARTIFACTS": "s3", "Q2O_S3_ENDPOINT": "http://s3:9000"}, "Q2O_S3_BUCKET"},
		{"an endpoint that is no URL", map[string]string{"Q2O_ARTIFACTS": "s3", "Q2O_S3_ENDPOINT": "s3:9000", "Q2O_S3_BUCKET": "b-1"}, "Q2O_S3_ENDPOINT"},
		{"a bad bucket name", map[string]string{"Q2O_ARTIFACTS": "s3", "Q2O_S3_ENDPOINT": "http://s3:9000", "Q2O_S3_BUCKET": "My_Bucket"}, "Q2O_S3_BUCKET"},
		{"a prefix climbing out", map[string]string{"Q2O_S3_PREFIX": "../x"}, "Q2O_S3_PREFIX"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := Load("")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
