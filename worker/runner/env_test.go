package runner

import (
	"slices"
	"strings"
	"testing"
)

func TestEnvIsAnAllowlist(t *testing.T) {
	t.Parallel()
	base := []string{
		"PATH=/usr/bin:/bin",
		"HOME=/home/q2o",
		"LANG=C.UTF-8",
		"TZ=Europe/Paris",
		"Q2O_DATABASE_URL=postgres://q2o:pw@db/q2o",
		"Q2O_ADMIN_TOKEN=admin",
		"Q2O_PROJECT_ID=stale",          // replaced by the run's own
		"Q2O_PROGRESS_FILE=/etc/shadow", // the same
		"STRIPE_SECRET_KEY=sk_live_y",
		"SENTRY_DSN=https://key@sentry.example/1",
		"DB_PASS=hunter2",
		"MYSQL_PWD=hunter3",
		"HTTPS_PROXY=http://user:pw@proxy:3128",
		"PYTHONPATH=/srv/worker-only",
		"OPENAI_API_KEY=sk-openai",
		"PYTHONUNBUFFERED=0",
		"=no-name",
		"malformed",
	}
	v := Vars{ProjectID: "p-1", TenantID: "t-1", ExecutionID: "e-1", OutputDir: "/out/p-1", ProjectName: "ignored"}
	got := Env(base, v, EnvOptions{})
	want := []string{
		"PATH=/usr/bin:/bin", "HOME=/home/q2o", "LANG=C.UTF-8", "TZ=Europe/Paris",
		"Q2O_PROJECT_ID=p-1", "Q2O_TENANT_ID=t-1", "Q2O_EXECUTION_ID=e-1", "Q2O_OUTPUT_DIR=/out/p-1",
		"Q2O_PROGRESS_FILE=/out/p-1/.q2o-progress.json", "PYTHONUNBUFFERED=1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Env =\n%q\nwant\n%q", got, want)
	}
	for _, kv := range got {
		for _, secret := range []string{"pw@", "admin", "sk_", "sentry", "hunter", "proxy", "worker-only", "openai"} {
			if strings.Contains(kv, secret) {
				t.Errorf("secret %q leaked in %q", secret, kv)
			}
		}
	}
}

func TestEnvPassAndSandboxFolders(t *testing.T) {
	t.Parallel()
	base := []string{"PATH=/root/.pyenv/shims:/bin", "HOME=/root", "OPENAI_API_KEY=sk-openai", "Q2O_ADMIN_TOKEN=admin", "GITHUB_TOKEN=ghp"}
	got := Env(base, Vars{ProjectID: "p"}, EnvOptions{Pass: []string{"OPENAI_API_KEY", "Q2O_ADMIN_TOKEN"}, PATH: "/usr/bin:/bin", HOME: "/tmp"})
	if !slices.Contains(got, "OPENAI_API_KEY=sk-openai") {
		t.Errorf("OPENAI_API_KEY was asked for and not passed: %q", got)
	}
	for _, bad := range []string{"Q2O_ADMIN_TOKEN=admin", "GITHUB_TOKEN=ghp", "PATH=/root/.pyenv/shims:/bin", "HOME=/root"} {
		if slices.Contains(got, bad) {
			t.Errorf("%s reached main.py: %q", bad, got)
		}
	}
	for _, good := range []string{"PATH=/usr/bin:/bin", "HOME=/tmp"} {
		if !slices.Contains(got, good) {
			t.Errorf("%s missing: %q", good, got)
		}
	}
}
