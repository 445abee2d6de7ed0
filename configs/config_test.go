package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8080" || cfg.RunTimeout != 2*time.Hour || !filepath.IsAbs(cfg.OutputRoot) ||
		!strings.HasPrefix(cfg.Runner, "python3 /") || cfg.WorkerPollInterval != 50*time.Millisecond {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q2o.yaml")
	yaml := "http_addr: \":9000\"\nrun_timeout: 90m\nworker_concurrency: 7\nredis_url: redis://cache:6379/3\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("Q2O_WORKER_CONCURRENCY", "9")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":9000" || cfg.RunTimeout != 90*time.Minute || cfg.WorkerConcurrency != 9 {
		t.Errorf("file then env: %+v", cfg)
	}
	if db, _ := RedisDB(cfg.RedisURL); db != 3 {
		t.Errorf("redis DB %d, want 3", db)
	}
}

func TestLoadRefusesBadValues(t *testing.T) {
	cases := map[string]string{
		"Q2O_DATABASE_URL":       "mysql://x",
		"Q2O_REDIS_URL":          "redis://localhost:6379/zero",
		"Q2O_HTTP_ADDR":          "8080",
		"Q2O_RUN_TIMEOUT":        "-1s",
		"Q2O_WORKER_CONCURRENCY": "0",
		"Q2O_LOG_FORMAT":         "xml",
		"Q2O_RUNNER":             `python3 "unclosed`,
		"Q2O_ADMIN_TOKEN":        "short",
		// and values that do not parse, one of each kind
		"Q2O_RUNNER_MEMORY":       "lots",
		"Q2O_KEEP_RUNS":           "five",
		"Q2O_MONITORING_READONLY": "maybe",
		"Q2O_QUEUE_WEIGHTS":       "control",
		"Q2O_TRUSTED_PROXIES":     "10.0.0.0/8,nearby",
		"Q2O_RUNNER_READONLY":     "venv",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			_, err := Load("")
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: error %v, want one naming the setting", name, value, err)
			}
		})
	}
	t.Run("not a duration", func(t *testing.T) {
		t.Setenv("Q2O_RUN_TIMEOUT", "soon")
		if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "Q2O_RUN_TIMEOUT") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("a file key given twice, or with a bad value", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "q2o.yaml")
		_ = os.WriteFile(path, []byte("keep_runs: 3\nkeep_runs: 4\nrun_timeout: soon\n"), 0o600)
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), "keep_runs is given twice") || !strings.Contains(err.Error(), "run_timeout") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("unknown file key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "q2o.yaml")
		_ = os.WriteFile(path, []byte("http_adr: \":1\"\n"), 0o600)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "http_adr") {
			t.Errorf("error %v", err)
		}
	})
}

// An empty variable counts as unset: the default (or the file's value) stays.
func TestLoadEmptyVariableIsUnset(t *testing.T) {
	t.Setenv("Q2O_HTTP_ADDR", "")
	t.Setenv("Q2O_RUN_TIMEOUT", "")
	cfg, err := Load("")
	if err != nil || cfg.HTTPAddr != ":8080" || cfg.RunTimeout != 2*time.Hour {
		t.Errorf("%v: %+v", err, cfg)
	}
}

func TestRedactHidesPassword(t *testing.T) {
	t.Setenv("Q2O_DATABASE_URL", "mysql://u:hunter2@db/x")
	_, err := Load("")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v leaks the password", err)
	}
}
