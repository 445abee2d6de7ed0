package configs

import (
	"errors"
	"strings"
	"time"
)

// The settings of where artifacts are stored (artifacts/store): the local
// folder, or an S3-compatible bucket.

var artifactSettings = &group{title: "artifact storage", settings: []Setting{
	{Env: "Q2O_ARTIFACTS", For: API | Worker,
		Default: "local",
		Help:    "where run zips and kept logs are stored: `local` (under `Q2O_OUTPUT_ROOT`/_artifacts, a folder api and workers share) or `s3` (an S3-compatible bucket, the `Q2O_S3_*` settings: each worker runs main.py in its own `Q2O_OUTPUT_ROOT` as scratch, uploads the zip and log when the run ends and removes its copy; see [Deploying](#deploying))",
		bind:    bind(func(c *Config) *string { return &c.Artifacts }, text, oneOf("local", "s3"))},
	{Env: "Q2O_S3_ENDPOINT", For: API | Worker,
		Shown: "unset (required with `s3`)", Example: "https://s3.eu-west-1.amazonaws.com",
		Help: "URL of the S3-compatible server, `http://` or `https://`",
		bind: bind(func(c *Config) *string { return &c.S3Endpoint }, text, withS3(httpURL))},
	{Env: "Q2O_S3_BUCKET", For: API | Worker,
		Shown: "unset (required with `s3`)", Example: "q2o-artifacts",
		Help: "the bucket",
		bind: bind(func(c *Config) *string { return &c.S3Bucket }, text, withS3(bucketName))},
	{Env: "Q2O_S3_REGION", For: API | Worker,
		Default: "us-east-1",
		Help:    "the bucket's region",
		bind:    bind(func(c *Config) *string { return &c.S3Region }, text)},
	{Env: "Q2O_S3_ACCESS_KEY_ID", For: API | Worker,
		Shown: "unset", Example: "AKIA...",
		Help: "access key id",
		bind: bind(func(c *Config) *string { return &c.S3AccessKeyID }, text)},
	{Env: "Q2O_S3_SECRET_ACCESS_KEY", For: API | Worker,
		Shown: "unset", Example: "...",
		Help: "secret access key",
		bind: bind(func(c *Config) *string { return &c.S3SecretAccessKey }, text)},
	{Env: "Q2O_S3_PATH_STYLE", For: API | Worker,
		Default: "false",
		Help:    "address the bucket in the path (`host/bucket/key`) instead of the host name (`bucket.host/key`), as most self-hosted servers (MinIO, SeaweedFS) want",
		bind:    bind(func(c *Config) *bool { return &c.S3PathStyle }, boolean)},
	{Env: "Q2O_S3_PREFIX", For: API | Worker,
		Shown: "none", Example: "q2o/",
		Help: "put before every object key, to share a bucket",
		bind: bind(func(c *Config) *string { return &c.S3Prefix }, text, s3Prefix)},
	{Env: "Q2O_S3_CREATE_BUCKET", For: API | Worker,
		Default: "true",
		Help:    "create the bucket when it is missing; `false`: refuse to start without it",
		bind:    bind(func(c *Config) *bool { return &c.S3CreateBucket }, boolean)},
	{Env: "Q2O_S3_UPLOAD_RETRY", For: Worker,
		Default: "2m",
		Help:    "how long a worker keeps trying again (with backoff, 1 s doubling to 15 s) to upload a run's zip or log while the object store fails; the run waits, and is recorded `completed` with its zip once the upload succeeds",
		bind:    bind(func(c *Config) *time.Duration { return &c.S3UploadRetry }, duration, positive)},
	{Env: "Q2O_S3_PRESIGN_ABOVE", For: API,
		Default: "0",
		Help:    "with `s3`: a GET of a zip of at least this size answers 302 to a presigned URL of its object (valid 15 min; Range works there too) instead of streaming it through the API; HEAD and a matching If-None-Match are still answered by the API. The URL is signed for `Q2O_S3_ENDPOINT`, which clients must then reach. `0`: off",
		bind:    bind(func(c *Config) *ByteSize { return &c.S3PresignAbove }, size)},
}}

// withS3: required, and checked by rule, when Q2O_ARTIFACTS is s3; ignored
// otherwise.
func withS3(rule func(*string, *Config) error) func(*string, *Config) error {
	return func(v *string, c *Config) error {
		switch {
		case c.Artifacts != "s3":
			return nil
		case strings.TrimSpace(*v) == "":
			return errors.New("is required when Q2O_ARTIFACTS is s3")
		}
		return rule(v, c)
	}
}

// bucketName: S3's rules for a bucket name, 3-63 lower-case letters,
// digits, dots and hyphens.
func bucketName(v *string, _ *Config) error {
	b := *v
	ok := len(b) >= 3 && len(b) <= 63
	for i := 0; ok && i < len(b); i++ {
		ch := b[i]
		ok = ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-'
	}
	if !ok {
		return errors.New("must be 3-63 lower-case letters, digits, dots or hyphens, got \"" + b + "\"")
	}
	return nil
}

func s3Prefix(v *string, _ *Config) error {
	if strings.HasPrefix(*v, "/") || strings.Contains(*v, "..") {
		return errors.New("must not start with / or contain .., got \"" + *v + "\"")
	}
	return nil
}
