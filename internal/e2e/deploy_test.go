package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine runs where the tests run, so the deployment files are
// checked for what they promise: docker-compose.yml brings up postgres,
// redis, migrate, api and two workers with health checks, volumes for the
// database and the shared output folder, and stripe-mock behind a profile;
// the Dockerfile is multi-stage, ends as a non-root user and has python3.
func TestComposeAndDockerfile(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Profiles    []string          `yaml:"profiles"`
			Healthcheck map[string]any    `yaml:"healthcheck"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   map[string]any    `yaml:"depends_on"`
			Environment map[string]string `yaml:"environment"`
			Deploy      struct {
				Replicas int `yaml:"replicas"`
			} `yaml:"deploy"`
			User        string   `yaml:"user"`
			CapAdd      []string `yaml:"cap_add"`
			SecurityOpt []string `yaml:"security_opt"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc := compose.Services
	for _, name := range []string{"postgres", "redis", "migrate", "api", "worker", "stripe-mock"} {
		if _, ok := svc[name]; !ok {
			t.Errorf("compose lacks the %s service", name)
		}
	}
	for _, name := range []string{"postgres", "redis", "api", "worker"} {
		if svc[name].Healthcheck == nil {
			t.Errorf("compose service %s has no health check", name)
		}
	}
	if svc["worker"].Deploy.Replicas < 2 {
		t.Errorf("compose runs %d workers, want 2", svc["worker"].Deploy.Replicas)
	}
	if strings.Join(svc["migrate"].Command, " ") != "migrate --create-database" ||
		strings.Join(svc["api"].Command, " ") != "api" || strings.Join(svc["worker"].Command, " ") != "worker" {
		t.Errorf("commands: migrate %v, api %v, worker %v", svc["migrate"].Command, svc["api"].Command, svc["worker"].Command)
	}
	// The worker's sandbox needs root with CAP_SYS_ADMIN and mounts that
	// Docker's AppArmor profile would refuse; the API needs none of it.
	if w := svc["worker"]; (w.User != "0:0" && w.User != "root") || !slices.Contains(w.CapAdd, "SYS_ADMIN") ||
		!slices.Contains(w.SecurityOpt, "apparmor=unconfined") {
		t.Errorf("the worker cannot sandbox main.py: user %q, cap_add %v, security_opt %v", w.User, w.CapAdd, w.SecurityOpt)
	}
	if a := svc["api"]; a.User != "" || len(a.CapAdd) > 0 {
		t.Errorf("the API asks for privileges it does not need: user %q, cap_add %v", a.User, a.CapAdd)
	}
	if _, ok := svc["api"].DependsOn["migrate"]; !ok {
		t.Error("api does not wait for migrate")
	}
	if len(svc["stripe-mock"].Profiles) == 0 {
		t.Error("stripe-mock is not behind a profile")
	}
	if _, ok := compose.Volumes["pgdata"]; !ok {
		t.Error("no volume for Postgres data")
	}
	shared := func(name string) bool {
		for _, v := range svc[name].Volumes {
			if strings.HasSuffix(v, ":/data/Tenant_Projects") {
				return true
			}
		}
		return false
	}
	if !shared("api") || !shared("worker") {
		t.Error("api and worker do not share the output volume")
	}

	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := string(df)
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(d, -1)); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", n)
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(d, -1)
	if len(users) == 0 || users[len(users)-1][1] == "root" || users[len(users)-1][1] == "0" {
		t.Error("the image does not end as a non-root user")
	}
	if !regexp.MustCompile(`useradd[^\n]*q2o-run`).MatchString(d) {
		t.Error("the image has no q2o-run user for main.py's sandbox")
	}
	lastFrom := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(d, -1)
	if !strings.Contains(lastFrom[len(lastFrom)-1][1], "python") {
		t.Errorf("the final stage (%s) has no python3 for main.py", lastFrom[len(lastFrom)-1][1])
	}
}
