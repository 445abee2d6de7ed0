// Package configs holds q2o's settings: the Config struct, its defaults, loading
// from an optional YAML file and from Q2O_* environment variables (the
// environment wins), and validation with messages that name the setting.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/shlex"
	"gopkg.in/yaml.v3"

	"github.com/q2o/q2o/worker/runner"
)

// Config is every setting of q2o. Each field's env tag is its environment
// variable; its yaml tag its key in a --config file.
type Config struct {
	DatabaseURL string `env:"Q2O_DATABASE_URL" yaml:"database_url"`
	RedisURL    string `env:"Q2O_REDIS_URL" yaml:"redis_url"`
	HTTPAddr    string `env:"Q2O_HTTP_ADDR" yaml:"http_addr"`
	PublicURL   string `env:"Q2O_PUBLIC_URL" yaml:"public_url"`
	AdminToken  string `env:"Q2O_ADMIN_TOKEN" yaml:"admin_token"`

	OutputRoot    string        `env:"Q2O_OUTPUT_ROOT" yaml:"output_root"`
	Runner        string        `env:"Q2O_RUNNER" yaml:"runner"`
	RunnerArgs    string        `env:"Q2O_RUNNER_ARGS" yaml:"runner_args"`
	RunnerPassEnv []string      `env:"Q2O_RUNNER_PASS_ENV" envSeparator:"," yaml:"runner_pass_env"`
	Sandbox       string        `env:"Q2O_SANDBOX" yaml:"sandbox"`
	RunnerUser    string        `env:"Q2O_RUNNER_USER" yaml:"runner_user"`
	RunnerNetwork string        `env:"Q2O_RUNNER_NETWORK" yaml:"runner_network"`
	RunnerMemory  ByteSize      `env:"Q2O_RUNNER_MEMORY" yaml:"runner_memory"`
	RunnerProcs   int64         `env:"Q2O_RUNNER_PROCESSES" yaml:"runner_processes"`
	OutputLimit   ByteSize      `env:"Q2O_RUNNER_OUTPUT_LIMIT" yaml:"runner_output_limit"`
	RunnerRO      []string      `env:"Q2O_RUNNER_READONLY" envSeparator:"," yaml:"runner_readonly"`
	KeepRuns      int           `env:"Q2O_KEEP_RUNS" yaml:"keep_runs"`
	RunTimeout    time.Duration `env:"Q2O_RUN_TIMEOUT" yaml:"run_timeout"`
	KillGrace     time.Duration `env:"Q2O_RUN_KILL_GRACE" yaml:"run_kill_grace"`
	WatchInterval time.Duration `env:"Q2O_RUN_WATCH_INTERVAL" yaml:"run_watch_interval"`
	// ProgressPatterns are regular expressions, so a comma could be part of
	// one: in the environment they are one per line.
	ProgressPatterns []string `env:"Q2O_PROGRESS_PATTERNS" envSeparator:"\n" yaml:"progress_patterns"`

	WorkerConcurrency  int           `env:"Q2O_WORKER_CONCURRENCY" yaml:"worker_concurrency"`
	WorkerPollInterval time.Duration `env:"Q2O_WORKER_POLL_INTERVAL" yaml:"worker_poll_interval"`
	ShutdownTimeout    time.Duration `env:"Q2O_SHUTDOWN_TIMEOUT" yaml:"shutdown_timeout"`

	OutboxInterval time.Duration `env:"Q2O_OUTBOX_INTERVAL" yaml:"outbox_interval"`

	QueueWeights       map[string]int `env:"Q2O_QUEUE_WEIGHTS" envSeparator:"," envKeyValSeparator:"=" yaml:"queue_weights"`
	MetricsAddr        string         `env:"Q2O_METRICS_ADDR" yaml:"metrics_addr"`
	TrustedProxies     []string       `env:"Q2O_TRUSTED_PROXIES" envSeparator:"," yaml:"trusted_proxies"`
	WorkerHealthAddr   string         `env:"Q2O_WORKER_HEALTH_ADDR" yaml:"worker_health_addr"`
	MonitoringReadOnly bool           `env:"Q2O_MONITORING_READONLY" yaml:"monitoring_readonly"`

	StripeSecretKey     string            `env:"Q2O_STRIPE_SECRET_KEY" yaml:"stripe_secret_key"`
	StripeWebhookSecret string            `env:"Q2O_STRIPE_WEBHOOK_SECRET" yaml:"stripe_webhook_secret"`
	StripeAPIBase       string            `env:"Q2O_STRIPE_API_BASE" yaml:"stripe_api_base"`
	StripeRefetch       bool              `env:"Q2O_STRIPE_REFETCH" yaml:"stripe_refetch"`
	StripeProration     string            `env:"Q2O_STRIPE_PRORATION" yaml:"stripe_proration"`
	StripePrices        map[string]string `env:"Q2O_STRIPE_PRICES" envSeparator:"," envKeyValSeparator:"=" yaml:"stripe_prices"`
	BillingReturnURL    string            `env:"Q2O_BILLING_RETURN_URL" yaml:"billing_return_url"`
	PastDueGrace        time.Duration     `env:"Q2O_PAST_DUE_GRACE" yaml:"past_due_grace"`

	SMTPHost     string        `env:"Q2O_SMTP_HOST" yaml:"smtp_host"`
	SMTPPort     int           `env:"Q2O_SMTP_PORT" yaml:"smtp_port"`
	SMTPUsername string        `env:"Q2O_SMTP_USERNAME" yaml:"smtp_username"`
	SMTPPassword string        `env:"Q2O_SMTP_PASSWORD" yaml:"smtp_password"`
	SMTPFrom     string        `env:"Q2O_SMTP_FROM" yaml:"smtp_from"`
	SMTPTLS      string        `env:"Q2O_SMTP_TLS" yaml:"smtp_tls"`
	SessionTTL   time.Duration `env:"Q2O_SESSION_TTL" yaml:"session_ttl"`

	LogFormat string `env:"Q2O_LOG_FORMAT" yaml:"log_format"`
	LogLevel  string `env:"Q2O_LOG_LEVEL" yaml:"log_level"`
}

// Setting describes one setting for --help and the README.
type Setting struct{ Env, Default, Help string }

// Settings lists every setting with its default, in the order --help shows them.
func Settings() []Setting {
	d := Default()
	return []Setting{
		{"Q2O_DATABASE_URL", d.DatabaseURL, "Postgres URL"},
		{"Q2O_REDIS_URL", d.RedisURL, "Redis URL (redis:// or rediss://); the path is the DB number"},
		{"Q2O_HTTP_ADDR", d.HTTPAddr, "address the API (and the web portal) listens on"},
		{"Q2O_PUBLIC_URL", "(unset: the request's own host)", "the address tenants and clients reach q2o at, e.g. https://q2o.example.com; https makes the portal's cookies Secure, and client links and the billing return URL use it"},
		{"Q2O_ADMIN_TOKEN", "(unset: admin routes off)", "bearer token for /api/admin"},
		{"Q2O_OUTPUT_ROOT", d.OutputRoot, "folder holding each project's output folder and zips"},
		{"Q2O_RUNNER", d.Runner, "command that runs main.py, split into words like a shell would (never run through one)"},
		{"Q2O_RUNNER_ARGS", d.RunnerArgs, "argument template; placeholders {project_id} {project_name} {description} {objectives} {output_dir} {tenant_id} {execution_id}"},
		{"Q2O_RUNNER_PASS_ENV", "(none)", "comma-separated names of more variables main.py gets from the worker's environment (e.g. OPENAI_API_KEY); besides these it gets only PATH, HOME, LANG, TZ and its Q2O_* ids"},
		{"Q2O_SANDBOX", d.Sandbox, "on: every main.py runs in a sandbox (its folder, a private /tmp, the system read-only, as Q2O_RUNNER_USER, nothing survives the run); the worker refuses to start where that is impossible. off: unconfined, for development only"},
		{"Q2O_RUNNER_USER", d.RunnerUser, "the unprivileged user main.py runs as in the sandbox: a name, or uid[:gid]"},
		{"Q2O_RUNNER_NETWORK", d.RunnerNetwork, "on or off: whether main.py may reach the network (its model APIs)"},
		{"Q2O_RUNNER_MEMORY", d.RunnerMemory.String(), "address space of each process main.py starts (RLIMIT_AS), e.g. 4GiB; 0: no limit"},
		{"Q2O_RUNNER_PROCESSES", strconv.FormatInt(d.RunnerProcs, 10), "processes the runner user may have at once, across its runs (RLIMIT_NPROC); 0: no limit"},
		{"Q2O_RUNNER_OUTPUT_LIMIT", d.OutputLimit.String(), "most bytes a run's folder (and any one file, and its /tmp) may hold; a run over it is stopped and failed; 0: no limit"},
		{"Q2O_KEEP_RUNS", strconv.Itoa(d.KeepRuns), "how many of a project's newest runs keep their zip and log (the last completed run's zip is always kept); 0: all"},
		{"Q2O_RUNNER_READONLY", "(none)", "comma-separated paths main.py may also read in the sandbox (a virtualenv, a model cache), besides /usr, /etc, /opt and the runner's own folder"},
		{"Q2O_RUN_TIMEOUT", d.RunTimeout.String(), "longest a run may take before it is stopped and marked failed"},
		{"Q2O_RUN_KILL_GRACE", d.KillGrace.String(), "time between SIGTERM and SIGKILL when a run is stopped"},
		{"Q2O_RUN_WATCH_INTERVAL", d.WatchInterval.String(), "how often a worker re-reads a running execution (to stop it when paused)"},
		{"Q2O_PROGRESS_PATTERNS", "(the PROGRESS line) " + runner.DefaultProgressPattern, "regular expressions (RE2), one per line (a YAML list in the file), tried on each line main.py prints on stdout and stderr: named groups percent (0-100, decimals allowed) or done and total, and optionally message; list the PROGRESS line too to keep it. The progress file $Q2O_PROGRESS_FILE works whatever these are"},
		{"Q2O_WORKER_CONCURRENCY", strconv.Itoa(d.WorkerConcurrency), "tasks a worker runs at once"},
		{"Q2O_WORKER_POLL_INTERVAL", d.WorkerPollInterval.String(), "how often an idle worker checks for tasks (asynq TaskCheckInterval)"},
		{"Q2O_SHUTDOWN_TIMEOUT", d.ShutdownTimeout.String(), "how long api and worker wait for in-flight work on SIGTERM"},
		{"Q2O_OUTBOX_INTERVAL", d.OutboxInterval.String(), "how often the outbox relay re-sends tasks not yet on Redis"},
		{"Q2O_QUEUE_WEIGHTS", "control=6,runs=3,artifacts=1", "asynq queue priorities (control pauses tenants, runs main.py, artifacts zips)"},
		{"Q2O_TRUSTED_PROXIES", "(none: the connection's address is the client's)", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (per-IP rate limits)"},
		{"Q2O_METRICS_ADDR", "(unset: /metrics on the API, behind the admin token)", "separate listen address for Prometheus /metrics, without auth"},
		{"Q2O_WORKER_HEALTH_ADDR", "(unset: off)", "address where `q2o worker` serves /healthz, /readyz (and /metrics without Q2O_METRICS_ADDR)"},
		{"Q2O_MONITORING_READONLY", "false", "the asynq web UI at /monitoring only shows, never deletes or cancels"},
		{"Q2O_STRIPE_SECRET_KEY", "(unset: upgrade and portal off)", "Stripe secret key (sk_…) for outgoing calls: checkout, plan changes, portal, re-reading subscriptions"},
		{"Q2O_STRIPE_WEBHOOK_SECRET", "(unset: webhook off, 404)", "signing secret (whsec_…) of the Stripe webhook endpoint POST /api/webhooks/stripe"},
		{"Q2O_STRIPE_API_BASE", "(Stripe)", "another Stripe API base URL, e.g. http://127.0.0.1:12111 for stripe-mock"},
		{"Q2O_STRIPE_REFETCH", "false", "re-read the subscription from Stripe before applying a webhook event (recommended with a secret key)"},
		{"Q2O_STRIPE_PRORATION", d.StripeProration, "proration on plan changes: create_prorations, always_invoice or none"},
		{"Q2O_STRIPE_PRICES", "(none: plans.stripe_price_id)", "plan=price_id pairs, comma-separated; written to the plans table at start"},
		{"Q2O_BILLING_RETURN_URL", d.BillingReturnURL + " (or Q2O_PUBLIC_URL/billing)", "where Stripe Checkout and the Customer Portal send the tenant back to: the portal's billing page"},
		{"Q2O_PAST_DUE_GRACE", d.PastDueGrace.String(), "how long a past_due subscription's running projects go on before they are paused (0: at once)"},
		{"Q2O_SMTP_HOST", "(unset: sign-in codes go to the log)", "SMTP server that mails OTP sign-in codes"},
		{"Q2O_SMTP_PORT", "(587; 465 with tls, 25 with none)", "SMTP server port"},
		{"Q2O_SMTP_USERNAME", "(unset: no AUTH)", "SMTP user (AUTH PLAIN, only over starttls or tls unless the server is this machine)"},
		{"Q2O_SMTP_PASSWORD", "(unset)", "SMTP password"},
		{"Q2O_SMTP_FROM", "(required with Q2O_SMTP_HOST)", "sender of sign-in mails, e.g. \"q2o <no-reply@example.com>\""},
		{"Q2O_SMTP_TLS", d.SMTPTLS, "none, starttls (upgrade on the SMTP port; the server must offer it) or tls (TLS from the first byte)"},
		{"Q2O_SESSION_TTL", d.SessionTTL.String(), "how long a portal sign-in (OTP session token) lasts"},
		{"Q2O_LOG_FORMAT", d.LogFormat, "json or text"},
		{"Q2O_LOG_LEVEL", d.LogLevel, "debug, info, warn or error"},
	}
}

// defaultBillingReturnURL is the portal's billing page on a laptop.
const defaultBillingReturnURL = "http://localhost:8080/billing"

// Default returns the settings used when nothing else is given. The default
// runner is the sample examples/main.py under the current directory.
func Default() Config {
	script := "examples/main.py"
	if abs, err := filepath.Abs(script); err == nil {
		script = abs
	}
	return Config{
		DatabaseURL:        "postgres://postgres@127.0.0.1:5432/q2o?sslmode=disable",
		RedisURL:           "redis://127.0.0.1:6379/0",
		HTTPAddr:           ":8080",
		OutputRoot:         "./data/Tenant_Projects",
		Runner:             "python3 " + shellQuote(script),
		RunnerArgs:         "--project-id={project_id} --project-name={project_name} --description={description} --objectives={objectives} --output-folder={output_dir}",
		Sandbox:            "on",
		RunnerUser:         "q2o-run",
		RunnerNetwork:      "on",
		RunnerMemory:       4 << 30,
		RunnerProcs:        512,
		OutputLimit:        10 << 30,
		KeepRuns:           5,
		RunTimeout:         2 * time.Hour,
		KillGrace:          10 * time.Second,
		WatchInterval:      time.Second,
		ProgressPatterns:   []string{runner.DefaultProgressPattern},
		WorkerConcurrency:  4,
		WorkerPollInterval: 50 * time.Millisecond,
		ShutdownTimeout:    30 * time.Second,
		OutboxInterval:     2 * time.Second,
		SMTPTLS:            "starttls",
		SessionTTL:         12 * time.Hour,
		LogFormat:          "json",
		LogLevel:           "info",
		StripeProration:    "create_prorations",
		BillingReturnURL:   defaultBillingReturnURL,
	}
}

// Load builds the Config: defaults, then the YAML file at path (if path is
// not empty), then the environment. It validates the result.
func Load(path string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := env.Parse(&cfg); err != nil {
		return Config{}, envError(err)
	}
	if cfg.BillingReturnURL == defaultBillingReturnURL && cfg.PublicURL != "" {
		cfg.BillingReturnURL = strings.TrimRight(cfg.PublicURL, "/") + "/billing"
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// envError names the environment variable of each value that did not parse.
func envError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("environment: %w", err)
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := reflect.TypeOf(Config{}).FieldByName(pe.Name); ok {
				errs = append(errs, fmt.Errorf("%s: %v", f.Tag.Get("env"), pe.Err))
				continue
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// Validate checks every setting and, for Q2O_RUNNER and Q2O_OUTPUT_ROOT, turns
// relative paths into absolute ones (main.py runs in its output folder, so a
// relative path would otherwise point somewhere else).
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}

	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		bad("Q2O_DATABASE_URL", "want a postgres://user@host:port/dbname URL, got %q", redact(c.DatabaseURL))
	}
	if _, err := RedisDB(c.RedisURL); err != nil {
		bad("Q2O_REDIS_URL", "%v", err)
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("Q2O_HTTP_ADDR", "want host:port or :port, got %q", c.HTTPAddr)
	}
	if c.AdminToken != "" && len(c.AdminToken) < 12 {
		bad("Q2O_ADMIN_TOKEN", "must be at least 12 characters when set")
	}
	if strings.TrimSpace(c.OutputRoot) == "" {
		bad("Q2O_OUTPUT_ROOT", "must not be empty")
	} else if abs, err := filepath.Abs(c.OutputRoot); err == nil {
		c.OutputRoot = abs
	}
	if words, err := shlex.Split(c.Runner); err != nil || len(words) == 0 {
		bad("Q2O_RUNNER", "want a command such as %q, got %q", "python3 /srv/main.py", c.Runner)
	} else {
		c.Runner = absolutize(words)
	}
	if _, err := shlex.Split(c.RunnerArgs); err != nil {
		bad("Q2O_RUNNER_ARGS", "cannot split into words: %v", err)
	}
	if _, err := runner.CompileProgressPatterns(c.ProgressPatterns); err != nil {
		bad("Q2O_PROGRESS_PATTERNS", "%v", err)
	}
	onOff := func(name, v string) {
		if v != "on" && v != "off" {
			bad(name, "must be on or off, got %q", v)
		}
	}
	onOff("Q2O_SANDBOX", c.Sandbox)
	onOff("Q2O_RUNNER_NETWORK", c.RunnerNetwork)
	if c.Sandbox == "on" && strings.TrimSpace(c.RunnerUser) == "" {
		bad("Q2O_RUNNER_USER", "must name a user when Q2O_SANDBOX=on")
	}
	if c.KeepRuns < 0 {
		bad("Q2O_KEEP_RUNS", "must not be negative, got %d", c.KeepRuns)
	}
	if c.RunnerProcs < 0 {
		bad("Q2O_RUNNER_PROCESSES", "must not be negative, got %d", c.RunnerProcs)
	}
	for _, p := range c.RunnerRO {
		if !filepath.IsAbs(p) {
			bad("Q2O_RUNNER_READONLY", "want absolute paths, got %q", p)
		}
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad(name, "must be a positive duration such as 30s or 2h, got %s", d)
		}
	}
	positive("Q2O_RUN_TIMEOUT", c.RunTimeout)
	positive("Q2O_RUN_KILL_GRACE", c.KillGrace)
	positive("Q2O_RUN_WATCH_INTERVAL", c.WatchInterval)
	positive("Q2O_WORKER_POLL_INTERVAL", c.WorkerPollInterval)
	positive("Q2O_SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
	positive("Q2O_OUTBOX_INTERVAL", c.OutboxInterval)
	if c.WorkerConcurrency < 1 || c.WorkerConcurrency > 1000 {
		bad("Q2O_WORKER_CONCURRENCY", "must be between 1 and 1000, got %d", c.WorkerConcurrency)
	}
	for name, addr := range map[string]string{"Q2O_METRICS_ADDR": c.MetricsAddr, "Q2O_WORKER_HEALTH_ADDR": c.WorkerHealthAddr} {
		if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
			bad(name, "want host:port or :port, got %q", addr)
		}
	}
	for _, cidr := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(strings.TrimSpace(cidr)); err != nil {
			bad("Q2O_TRUSTED_PROXIES", "want CIDRs such as 10.0.0.0/8, got %q", cidr)
		}
	}
	for q, w := range c.QueueWeights {
		if w < 1 {
			bad("Q2O_QUEUE_WEIGHTS", "queue %q needs a weight of at least 1, got %d", q, w)
		}
	}
	if len(c.QueueWeights) > 0 {
		for _, q := range []string{"control", "runs", "artifacts"} {
			if _, ok := c.QueueWeights[q]; !ok {
				bad("Q2O_QUEUE_WEIGHTS", "queue %q is missing (want control, runs and artifacts)", q)
			}
		}
	}
	switch c.StripeProration {
	case "create_prorations", "always_invoice", "none":
	default:
		bad("Q2O_STRIPE_PRORATION", "must be create_prorations, always_invoice or none, got %q", c.StripeProration)
	}
	if c.PastDueGrace < 0 {
		bad("Q2O_PAST_DUE_GRACE", "must not be negative, got %s", c.PastDueGrace)
	}
	for name, raw := range map[string]string{"Q2O_STRIPE_API_BASE": c.StripeAPIBase, "Q2O_BILLING_RETURN_URL": c.BillingReturnURL,
		"Q2O_PUBLIC_URL": c.PublicURL} {
		if u, err := url.Parse(raw); raw != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			bad(name, "want an http(s):// URL, got %q", raw)
		}
	}
	c.validateSMTP(bad)
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("Q2O_LOG_FORMAT", "must be json or text, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("Q2O_LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return errors.Join(errs...)
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

// absolutize makes relative paths among the command's words absolute when
// they name an existing file, and joins the words back, quoted.
func absolutize(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if strings.Contains(w, "/") && !filepath.IsAbs(w) {
			if _, err := os.Stat(w); err == nil {
				if abs, err := filepath.Abs(w); err == nil {
					w = abs
				}
			}
		}
		out[i] = shellQuote(w)
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '=' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redact hides a URL's password so it never reaches a log or an error.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// validateSMTP checks the OTP sign-in settings: the SMTP server that mails
// the codes and the session lifetime.
func (c *Config) validateSMTP(bad func(name, format string, args ...any)) {
	switch c.SMTPTLS {
	case "none", "starttls", "tls":
	default:
		bad("Q2O_SMTP_TLS", "must be none, starttls or tls, got %q", c.SMTPTLS)
	}
	if c.SMTPPort < 0 || c.SMTPPort > 65535 {
		bad("Q2O_SMTP_PORT", "must be a port number (1-65535, or 0 for the usual one), got %d", c.SMTPPort)
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour {
		bad("Q2O_SESSION_TTL", "must be between 1m and 720h, got %s", c.SessionTTL)
	}
	host := strings.TrimSpace(c.SMTPHost)
	if host == "" {
		if c.SMTPUsername != "" || c.SMTPPassword != "" {
			bad("Q2O_SMTP_HOST", "is required when Q2O_SMTP_USERNAME or Q2O_SMTP_PASSWORD is set")
		}
		return
	}
	if host != c.SMTPHost || strings.ContainsAny(host, " /@") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		bad("Q2O_SMTP_HOST", "want a host name or IP address without a port (the port is Q2O_SMTP_PORT), got %q", c.SMTPHost)
	}
	if c.SMTPFrom == "" {
		bad("Q2O_SMTP_FROM", "is required when Q2O_SMTP_HOST is set, e.g. \"q2o <no-reply@example.com>\"")
	} else if _, err := mail.ParseAddress(c.SMTPFrom); err != nil || strings.ContainsAny(c.SMTPFrom, "\r\n") {
		bad("Q2O_SMTP_FROM", "want an address such as \"q2o <no-reply@example.com>\", got %q", c.SMTPFrom)
	}
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		bad("Q2O_SMTP_USERNAME", "is required when Q2O_SMTP_PASSWORD is set")
	}
	if c.SMTPUsername != "" && c.SMTPTLS == "none" && !isLoopback(host) {
		bad("Q2O_SMTP_TLS", "is none, which would send the SMTP password in clear text to %s; use starttls or tls", host)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
