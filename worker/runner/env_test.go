package runner

import (
	"slices"
	"strings"
	"testing"
)

func TestEnv(t *testing.T) {
	t.Parallel()
	base := []string{
		"PATH=/usr/bin:/bin",
		"HOME=/home/q2o",
		"LANG=C.UTF-8",
		"Q2O_DATABASE_URL=postgres://q2o:pw@db/q2o",
		"Q2O_REDIS_URL=redis://:pw@redis:6379/0",
		"Q2O_ADMIN_TOKEN=admin",
		"Q2O_STRIPE_SECRET_KEY=sk_live_x",
		"Q2O_SMTP_PASSWORD=smtp",
		"Q2O_WORKER_CONCURRENCY=4", // not a secret, but the worker's own
		"Q2O_PROJECT_ID=stale",     // replaced by the run's own
		"STRIPE_SECRET_KEY=sk_live_y",
		"AWS_SECRET_ACCESS_KEY=aws",
		"AWS_ACCESS_KEY_ID=AKIA",
		"GITHUB_TOKEN=ghp",
		"DATABASE_URL=postgres://other",
		"REDIS_URL=redis://other",
		"db_password=lower-case",
		"OPENAI_API_KEY=sk-openai",
		"PYTHONUNBUFFERED=0",
		"=no-name",
		"malformed",
	}
	v := Vars{ProjectID: "p-1", TenantID: "t-1", ExecutionID: "e-1", OutputDir: "/out/p-1", ProjectName: "ignored"}
	got := Env(base, v)

	want := []string{
		"PATH=/usr/bin:/bin", "HOME=/home/q2o", "LANG=C.UTF-8",
		"Q2O_PROJECT_ID=p-1", "Q2O_TENANT_ID=t-1", "Q2O_EXECUTION_ID=e-1", "Q2O_OUTPUT_DIR=/out/p-1",
		"PYTHONUNBUFFERED=1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Env =\n%q\nwant\n%q", got, want)
	}
	for _, kv := range got {
		for _, secret := range []string{"pw@", "admin", "sk_", "smtp", "aws", "AKIA", "ghp", "lower-case", "other"} {
			if strings.Contains(kv, secret) {
				t.Errorf("secret %q leaked in %q", secret, kv)
			}
		}
	}
}

func TestEnvPassing(t *testing.T) {
	t.Parallel()
	base := []string{"PATH=/bin", "OPENAI_API_KEY=sk-openai", "ANTHROPIC_API_KEY=sk-ant", "Q2O_ADMIN_TOKEN=admin", "GITHUB_TOKEN=ghp"}
	got := EnvPassing(base, Vars{ProjectID: "p"}, []string{"OPENAI_API_KEY", "Q2O_ADMIN_TOKEN"})
	if !slices.Contains(got, "OPENAI_API_KEY=sk-openai") {
		t.Errorf("OPENAI_API_KEY was asked for and not passed: %q", got)
	}
	for _, kv := range got {
		if strings.HasPrefix(kv, "Q2O_ADMIN_TOKEN=") || strings.HasPrefix(kv, "ANTHROPIC_API_KEY=") || strings.HasPrefix(kv, "GITHUB_TOKEN=") {
			t.Errorf("%q passed, want it dropped", kv)
		}
	}
	if !slices.Contains(got, "Q2O_PROJECT_ID=p") {
		t.Errorf("Q2O_PROJECT_ID missing: %q", got)
	}
}
