package configs

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/q2o/q2o/worker/runner"
)

// Setting declares one setting. The table below is the one place a setting
// is written: Load, Validate and Default read it, `q2o --help` prints it,
// and configs/example.yaml and the README's settings tables are made from
// it (`make config-docs`).
type Setting struct {
	// Env is the environment variable; the YAML key is the rest of it in
	// lower case (Q2O_HTTP_ADDR: http_addr).
	Env string
	// Default is the value when nothing sets it, written as in the
	// environment; empty: the field's zero value.
	Default string
	// Shown, when set, is what the documentation says of the default in
	// place of Default (what an unset value means, say).
	Shown string
	// Help says what the setting does, in Markdown (code in backticks,
	// links to README sections); --help shows it as plain text.
	Help string
	// For is the commands that read the setting.
	For Commands
	// Example, when set, is a YAML value that example.yaml shows commented
	// out instead of the default; one starting with a newline is a block.
	Example string
	// Note is comment lines example.yaml puts above the setting.
	Note string

	bind      binding
	defaultOf func() string // a default known only when q2o runs
	group     *group
}

// Commands are the commands that read a setting.
type Commands uint8

const (
	API    Commands = 1 << iota // q2o api (and q2o all)
	Worker                      // q2o worker (and q2o all)
	Admin                       // q2o migrate and q2o admin, which only reach the database
)

// Key is the setting's key in a --config YAML file.
func (s Setting) Key() string { return strings.ToLower(strings.TrimPrefix(s.Env, "Q2O_")) }

func (s Setting) defaultValue() string {
	if s.defaultOf != nil {
		return s.defaultOf()
	}
	return s.Default
}

// group is a run of settings under one heading of example.yaml.
type group struct {
	title string
	// section, when set, is the README section whose own table lists the
	// group (between <!-- settings:begin section --> and its end marker);
	// the main table then has one row that points there.
	section, pointer string
	settings         []Setting
}

// Settings lists every setting, in the order --help and the documentation
// show them.
func Settings() []Setting { return append([]Setting(nil), settings...) }

var settings = flatten([]*group{{settings: []Setting{
	{Env: "Q2O_DATABASE_URL", For: API | Worker | Admin,
		Default: "postgres://postgres@127.0.0.1:5432/q2o?sslmode=disable",
		Help:    "Postgres URL",
		bind:    bind(func(c *Config) *string { return &c.DatabaseURL }, text, postgresURL)},
	{Env: "Q2O_REDIS_URL", For: API | Worker,
		Default: "redis://127.0.0.1:6379/0",
		Help:    "Redis URL (`redis://` or `rediss://`); the path is the DB number",
		bind:    bind(func(c *Config) *string { return &c.RedisURL }, text, redisURL)},
	{Env: "Q2O_REDIS_SENTINELS", For: API | Worker,
		Shown: "unset (`Q2O_REDIS_URL`'s host is the one Redis)", Example: "[10.0.0.5:26379, 10.0.0.6:26379, 10.0.0.7:26379]",
		Help: "comma-separated `host:port` of Redis Sentinels: q2o asks them for the master of `Q2O_REDIS_MASTER_NAME` and follows a failover ([Redis high availability](#redis-high-availability)); `Q2O_REDIS_URL`'s host is then ignored, its DB number, user, password and `rediss://` still apply",
		bind: bind(func(c *Config) *[]string { return &c.RedisSentinels }, list(","), each(hostPort))},
	{Env: "Q2O_REDIS_MASTER_NAME", For: API | Worker,
		Shown: "unset (required with `Q2O_REDIS_SENTINELS`)", Example: "q2o",
		Help: "the master's name the Sentinels monitor (`sentinel monitor <name> …`)",
		bind: bind(func(c *Config) *string { return &c.RedisMasterName }, text, redisMasterName)},
	{Env: "Q2O_REDIS_SENTINEL_PASSWORD", For: API | Worker,
		Shown: "unset", Example: "...",
		Help: "the Sentinels' own password (`requirepass` in sentinel.conf), when they have one; the master's is `Q2O_REDIS_URL`'s",
		bind: bind(func(c *Config) *string { return &c.RedisSentinelPassword }, text)},
	{Env: "Q2O_HTTP_ADDR", For: API,
		Default: ":8080",
		Help:    "address the API and the web portal listen on",
		bind:    bind(func(c *Config) *string { return &c.HTTPAddr }, text, listenAddr)},
	{Env: "Q2O_PUBLIC_URL", For: API,
		Shown: "unset (the request's own host)", Example: "https://q2o.example.com",
		Help: "the address tenants and clients reach q2o at, e.g. `https://q2o.example.com`: client links and the billing return URL use it, and https makes the portal's cookies Secure",
		bind: bind(func(c *Config) *string { return &c.PublicURL }, text, unsetOr(httpURL))},
	{Env: "Q2O_ADMIN_TOKEN", For: API,
		Shown: "unset (admin routes off)", Example: "change-me-to-a-long-random-string",
		Help: "bearer token of `/api/admin/*`, at least 12 characters; the admin routes are off while it is unset",
		bind: bind(func(c *Config) *string { return &c.AdminToken }, text, adminToken)},
	{Env: "Q2O_OUTPUT_ROOT", For: API | Worker,
		Default: "./data/Tenant_Projects",
		Help:    "the folder of each project's output folder (`<root>/<project_id>/`) and zips (`<root>/_artifacts/`); with `Q2O_ARTIFACTS=local` the API and every worker must see the same one, with `s3` it is each worker's own scratch",
		bind:    bind(func(c *Config) *string { return &c.OutputRoot }, text, folder)},
}}, {title: "main.py", settings: []Setting{
	{Env: "Q2O_RUNNER", For: Worker,
		defaultOf: defaultRunner, Shown: "`python3 <cwd>/examples/main.py`", Example: "python3 /srv/q2o/main.py",
		Help: "the command that runs main.py, split into words like a shell would but never run through one; relative paths are made absolute",
		bind: bind(func(c *Config) *string { return &c.Runner }, text, command)},
	{Env: "Q2O_RUNNER_ARGS", For: Worker,
		Default: "--project-id={project_id} --project-name={project_name} --description={description} --objectives={objectives} --output-folder={output_dir}",
		Help:    "argument template; each placeholder (`{project_id}` `{project_name}` `{description}` `{objectives}` `{output_dir}` `{tenant_id}` `{execution_id}`) becomes part of exactly one argument",
		bind:    bind(func(c *Config) *string { return &c.RunnerArgs }, text, words)},
	{Env: "Q2O_RUNNER_PASS_ENV", For: Worker,
		Shown: "none", Example: "[OPENAI_API_KEY]",
		Help: "comma-separated names of more variables main.py gets from the worker's environment (e.g. `OPENAI_API_KEY`); otherwise it gets only `PATH`, `HOME`, `LANG`, `TZ` and its `Q2O_*` ids",
		bind: bind(func(c *Config) *[]string { return &c.RunnerPassEnv }, list(","))},
	{Env: "Q2O_PROGRESS_PATTERNS", For: Worker,
		Default: runner.DefaultProgressPattern, Shown: "the PROGRESS line: `" + runner.DefaultProgressPattern + "`",
		Help:    "regular expressions (RE2) tried on each line main.py prints on stdout and stderr, one per line in the environment, a YAML list in the file: named groups `percent` (0-100, decimals allowed) or `done` and `total`, and optionally `message` ([Progress](#progress)); list the PROGRESS line too to keep it. The progress file `$Q2O_PROGRESS_FILE` works whatever these are. A bad one stops the worker at start",
		Note:    "progress of main.py: regular expressions tried on each line of its output\n(see README \"Progress\"); list the PROGRESS line too to keep it. For the\nQ2O main.py's final report:",
		Example: "\n  - '" + runner.DefaultProgressPattern + "'\n  - '^Completion: (?P<percent>[0-9]+(?:\\.[0-9]+)?)%'",
		bind:    bind(func(c *Config) *[]string { return &c.ProgressPatterns }, list("\n"), progressPatterns)},
}}, {title: "the sandbox of main.py", settings: []Setting{
	{Env: "Q2O_SANDBOX", For: Worker,
		Default: "on",
		Help:    "`on`: every main.py runs in a sandbox (its folder, a private `/tmp`, the system read-only, as `Q2O_RUNNER_USER`, nothing survives the run: [What main.py can and cannot reach](#what-mainpy-can-and-cannot-reach)); the worker refuses to start where it cannot be set up. `off`: unconfined, for development only",
		bind:    bind(func(c *Config) *string { return &c.Sandbox }, text, oneOf("on", "off"))},
	{Env: "Q2O_RUNNER_USER", For: Worker,
		Default: "q2o-run",
		Help:    "the unprivileged user main.py runs as in the sandbox: a name, or `uid[:gid]`",
		bind:    bind(func(c *Config) *string { return &c.RunnerUser }, text, runnerUser)},
	{Env: "Q2O_RUNNER_NETWORK", For: Worker,
		Default: "on",
		Help:    "`on` or `off`: whether main.py may reach the network (its model APIs)",
		bind:    bind(func(c *Config) *string { return &c.RunnerNetwork }, text, oneOf("on", "off"))},
	{Env: "Q2O_RUNNER_MEMORY", For: Worker,
		Default: "4GiB",
		Help:    "address space of each process main.py starts (`RLIMIT_AS`), e.g. `4GiB`; `0`: no limit",
		bind:    bind(func(c *Config) *ByteSize { return &c.RunnerMemory }, size)},
	{Env: "Q2O_RUNNER_PROCESSES", For: Worker,
		Default: "512",
		Help:    "processes the runner user may have at once, across its runs (`RLIMIT_NPROC`); `0`: no limit",
		bind:    bind(func(c *Config) *int64 { return &c.RunnerProcs }, number64, nonNegative)},
	{Env: "Q2O_RUNNER_OUTPUT_LIMIT", For: Worker,
		Default: "10GiB",
		Help:    "most bytes a run's folder, any one file and its `/tmp` may hold; a run over it is stopped and failed; `0`: no limit",
		bind:    bind(func(c *Config) *ByteSize { return &c.OutputLimit }, size)},
	{Env: "Q2O_RUNNER_READONLY", For: Worker,
		Shown: "none", Example: "[/opt/venvs/q2o]",
		Help: "comma-separated absolute paths main.py may also read in the sandbox (a virtualenv, a model cache), besides `/usr`, `/etc`, `/opt` and the runner's own folder",
		bind: bind(func(c *Config) *[]string { return &c.RunnerRO }, list(","), each(absolutePath))},
}}, {title: "runs", settings: []Setting{
	{Env: "Q2O_KEEP_RUNS", For: Worker,
		Default: "5",
		Help:    "how many of a project's newest runs keep their zip and log; older ones lose their files (the rows stay). The last completed run's zip is always kept: the client downloads it. `0`: keep all",
		bind:    bind(func(c *Config) *int { return &c.KeepRuns }, number, nonNegative)},
	{Env: "Q2O_RUN_TIMEOUT", For: Worker,
		Default: "2h",
		Help:    "longest a run may take: one taking longer is stopped and marked failed",
		bind:    bind(func(c *Config) *time.Duration { return &c.RunTimeout }, duration, positive)},
	{Env: "Q2O_RUN_KILL_GRACE", For: Worker,
		Default: "10s",
		Help:    "time between SIGTERM and SIGKILL to main.py's process group when a run is stopped",
		bind:    bind(func(c *Config) *time.Duration { return &c.KillGrace }, duration, positive)},
	{Env: "Q2O_RUN_WATCH_INTERVAL", For: Worker,
		Default: "1s",
		Help:    "how often a worker renews its lease on a running execution and checks whether it was paused (to stop it)",
		bind:    bind(func(c *Config) *time.Duration { return &c.WatchInterval }, duration, positive)},
}}, {title: "workers", settings: []Setting{
	{Env: "Q2O_WORKER_CONCURRENCY", For: Worker,
		Default: "4",
		Help:    "tasks a worker runs at once (1-1000)",
		bind:    bind(func(c *Config) *int { return &c.WorkerConcurrency }, number, concurrency)},
	{Env: "Q2O_WORKER_POLL_INTERVAL", For: Worker,
		Default: "50ms",
		Help:    "asynq's `TaskCheckInterval`: how long a worker sleeps after finding every queue empty; an idle worker waits for a task in Redis (BLMOVE) in between, so a task is picked up at once, and the interval matters only for a paused queue or a Redis without BLMOVE",
		bind:    bind(func(c *Config) *time.Duration { return &c.WorkerPollInterval }, duration, positive)},
	{Env: "Q2O_QUEUE_WEIGHTS", For: Worker,
		Shown: "`control=6,runs=3,artifacts=1`", Example: "{control: 6, runs: 3, artifacts: 1}",
		Help: "asynq queue priorities, comma-separated `queue=weight` pairs naming all three queues: `control` pauses tenants, `runs` runs main.py, `artifacts` zips",
		bind: bind(func(c *Config) *map[string]int { return &c.QueueWeights }, pairs(number), queueWeights)},
	{Env: "Q2O_SHUTDOWN_TIMEOUT", For: API | Worker,
		Default: "30s",
		Help:    "on SIGTERM, how long the API drains requests and a worker lets runs go on before handing them back",
		bind:    bind(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, duration, positive)},
	{Env: "Q2O_OUTBOX_INTERVAL", For: API | Worker,
		Default: "2s",
		Help:    "how often the outbox relay re-sends tasks that did not reach Redis",
		bind:    bind(func(c *Config) *time.Duration { return &c.OutboxInterval }, duration, positive)},
	{Env: "Q2O_TASK_RETENTION", For: API | Worker,
		Default: "1h",
		Help:    "how long a finished task (with its result: outcome, exit code, duration, attempt) stays in Redis for the monitoring UI; Postgres keeps the run's record for good",
		bind:    bind(func(c *Config) *time.Duration { return &c.TaskRetention }, duration, positive)},
}}, {title: "operating it", settings: []Setting{
	{Env: "Q2O_TRUSTED_PROXIES", For: API,
		Shown: "none (the connection's address is the client's)", Example: "[10.0.0.0/8]",
		Help: "comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is believed (per-IP rate limits)",
		bind: bind(func(c *Config) *[]string { return &c.TrustedProxies }, list(","), each(cidr))},
	{Env: "Q2O_METRICS_ADDR", For: API | Worker,
		Shown: "unset (`/metrics` on the API, behind the admin token)", Example: `":9100"`,
		Help: "a listen address of its own for Prometheus `/metrics`, without auth",
		bind: bind(func(c *Config) *string { return &c.MetricsAddr }, text, unsetOr(listenAddr))},
	{Env: "Q2O_WORKER_HEALTH_ADDR", For: Worker,
		Shown: "unset (off)", Example: `":8081"`,
		Help: "where a lone `q2o worker` serves `/healthz`, `/readyz` (and `/metrics` without `Q2O_METRICS_ADDR`)",
		bind: bind(func(c *Config) *string { return &c.WorkerHealthAddr }, text, unsetOr(listenAddr))},
	{Env: "Q2O_MONITORING_READONLY", For: API,
		Default: "false",
		Help:    "the asynq web UI at `/monitoring` only shows, never deletes or cancels",
		bind:    bind(func(c *Config) *bool { return &c.MonitoringReadOnly }, boolean)},
	{Env: "Q2O_LOG_FORMAT", For: API | Worker | Admin,
		Default: "json",
		Help:    "`json` or `text`",
		bind:    bind(func(c *Config) *string { return &c.LogFormat }, text, oneOf("json", "text"))},
	{Env: "Q2O_LOG_LEVEL", For: API | Worker | Admin,
		Default: "info",
		Help:    "`debug`, `info`, `warn` or `error`",
		bind:    bind(func(c *Config) *string { return &c.LogLevel }, text, oneOf("debug", "info", "warn", "error"))},
}}, artifactSettings, logStreamSettings, stripeSettings, smtpSettings})

func defaultRunner() string {
	script := "examples/main.py"
	if abs, err := filepath.Abs(script); err == nil {
		script = abs
	}
	return "python3 " + shellQuote(script)
}

// flatten lists the groups' settings in order, each knowing its group.
func flatten(groups []*group) []Setting {
	var out []Setting
	for _, g := range groups {
		for _, s := range g.settings {
			s.group = g
			out = append(out, s)
		}
	}
	return out
}
