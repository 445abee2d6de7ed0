// Package configs holds q2o's settings: the Config struct, loading it from an
// optional YAML file and from Q2O_* environment variables (the environment
// wins), and validation with messages that name the setting.
//
// Every setting is declared once, in the table of settings.go: its
// environment variable (and so its YAML key), default, help text, the
// commands that read it, how its text is parsed into Config and the rules
// it must pass. The loader, `q2o --help`, configs/example.yaml and the
// README's settings tables all come from that table (`make config-docs`
// rewrites the last two; a test fails while they are stale).
package configs

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/q2o/q2o/worker/runner"
)

// Config is every setting of q2o; settings.go says which variable sets
// which field.
type Config struct {
	DatabaseURL string
	RedisURL    string
	HTTPAddr    string
	PublicURL   string
	AdminToken  string

	// RedisSentinels, when set, find the Redis master (RedisMasterName)
	// in place of RedisURL's host.
	RedisSentinels        []string
	RedisMasterName       string
	RedisSentinelPassword string

	OutputRoot string

	Artifacts         string
	S3Endpoint        string
	S3Bucket          string
	S3Region          string
	S3AccessKeyID     string
	S3SecretAccessKey string
	S3PathStyle       bool
	S3Prefix          string
	S3CreateBucket    bool
	S3UploadRetry     time.Duration
	S3PresignAbove    ByteSize

	Runner        string
	RunnerArgs    string
	RunnerPassEnv []string
	Sandbox       string
	RunnerUser    string
	RunnerNetwork string
	RunnerMemory  ByteSize
	RunnerProcs   int64
	OutputLimit   ByteSize
	RunnerRO      []string
	KeepRuns      int
	RunTimeout    time.Duration
	KillGrace     time.Duration
	WatchInterval time.Duration
	// ProgressPatterns are regular expressions, so a comma could be part of
	// one: in the environment they are one per line.
	ProgressPatterns []string

	WorkerConcurrency  int
	WorkerPollInterval time.Duration
	ShutdownTimeout    time.Duration

	OutboxInterval time.Duration
	TaskRetention  time.Duration

	// The live run logs' streams (events.LogStreams).
	LogStreamBytes  ByteSize
	LogStreamFlush  time.Duration
	LogStreamLinger time.Duration

	QueueWeights       map[string]int
	MetricsAddr        string
	TrustedProxies     []string
	WorkerHealthAddr   string
	MonitoringReadOnly bool

	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIBase       string
	StripeRefetch       bool
	StripeProration     string
	StripePrices        map[string]string
	BillingReturnURL    string
	PastDueGrace        time.Duration

	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string
	SMTPFrom     string
	SMTPTLS      string
	SessionTTL   time.Duration

	LogFormat string
	LogLevel  string
}

// defaultBillingReturnURL is the portal's billing page on a laptop.
const defaultBillingReturnURL = "http://localhost:8080/billing"

// Default returns the settings used when nothing else is given: each
// setting's default from the table. The default runner is the sample
// examples/main.py under the current directory.
func Default() Config {
	var c Config
	for _, s := range settings {
		v := s.defaultValue()
		if v == "" {
			continue
		}
		if err := s.bind.parse(&c, v); err != nil {
			panic(fmt.Sprintf("configs: the default of %s: %v", s.Env, err))
		}
	}
	return c
}

// Load builds the Config: defaults, then the YAML file at path (if path is
// not empty), then the environment. It validates the result.
func Load(path string) (Config, error) {
	cfg := Default()
	if path != "" {
		if err := cfg.loadFile(path); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.loadEnv(os.LookupEnv); err != nil {
		return Config{}, err
	}
	if cfg.BillingReturnURL == defaultBillingReturnURL && cfg.PublicURL != "" {
		cfg.BillingReturnURL = strings.TrimRight(cfg.PublicURL, "/") + "/billing"
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// TrustedProxyNets returns TrustedProxies parsed (Validate has checked them).
func (c Config) TrustedProxyNets() []*net.IPNet {
	var out []*net.IPNet
	for _, cidr := range c.TrustedProxies {
		if _, n, err := net.ParseCIDR(strings.TrimSpace(cidr)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// ProgressPatternSet returns ProgressPatterns compiled (Validate has
// checked them).
func (c Config) ProgressPatternSet() *runner.ProgressPatterns {
	p, err := runner.CompileProgressPatterns(c.ProgressPatterns)
	if err != nil {
		return runner.DefaultProgressPatterns()
	}
	return p
}

// RedisDB parses a redis:// or rediss:// URL and returns its DB number.
func RedisDB(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return 0, fmt.Errorf("want a redis://host:port/db URL, got %q", redact(raw))
	}
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("the path must be a DB number, got %q", p)
	}
	return n, nil
}
