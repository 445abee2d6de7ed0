package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
)

// make run's demo, as a new user meets it: scripts/run-demo.sh starts q2o
// with mailpit and stripe-mock wired in and prints a journey of curl lines;
// those lines, run as printed, create, assign, run and watch a project, let
// the client see and download it with only the code, sign the tenant in with
// the code mailpit received, and send Stripe's past_due and back.
func TestRunDemoJourney(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "q2o")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	email := fmt.Sprintf("demo-%d@example.com", time.Now().UnixNano())
	demo := exec.Command("bash", filepath.Join(root, "scripts", "run-demo.sh"))
	demo.Env = append(os.Environ(),
		"Q2O_BIN="+bin,
		"Q2O_DATABASE_URL="+testenv.DatabaseURL(t),
		"Q2O_REDIS_URL="+testenv.RedisURL(t),
		"Q2O_HTTP_ADDR="+freeAddr(t),
		"Q2O_OUTPUT_ROOT="+filepath.Join(dir, "Tenant_Projects"),
		"Q2O_DEMO_ENV="+filepath.Join(dir, "demo.env"),
		"Q2O_DEMO_EMAIL="+email,
		"Q2O_SAMPLE_SECONDS=1",
		"Q2O_TEST_SMTP_ADDR="+apptest.SMTPAddr(),
		"Q2O_TEST_MAILPIT_URL="+apptest.MailpitURL(),
		"Q2O_TEST_STRIPE_MOCK_URL="+billingtest.StripeMockURL(t),
	)
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out testenv.SyncBuffer
	demo.Stdout, demo.Stderr = &out, &out
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = demo.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-demo.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-demo.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	// The banner, then the API answering.
	var journey string
	deadline := time.Now().Add(60 * time.Second)
	for journey == "" {
		if m := regexp.MustCompile(`(?s)---- journey ----\n(.*?)\n ---- end ----`).FindStringSubmatch(out.String()); m != nil &&
			strings.Contains(out.String(), "listening") {
			journey = m[1]
			break
		}
		select {
		case <-exited:
			t.Fatalf("run-demo.sh exited (%v):\n%s", waitErr, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no journey and no listening API after 60 s:\n%s", out.String())
		}
	}
	for _, want := range []string{"sign in as      " + email, "mailpit           " + apptest.MailpitURL(), "stripe            stripe-mock at "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the banner does not say %q", want)
		}
	}

	script := filepath.Join(dir, "journey.sh")
	if err := os.WriteFile(script, []byte("set -euo pipefail\n"+journey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, "bash", script)
	run.Dir = dir
	got, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the printed journey failed: %v\n%s\n--- journey ---\n%s\n--- q2o ---\n%s", err, got, journey, out.String())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^project [0-9a-f-]{36}$`),
		regexp.MustCompile(`(?m)^assigned$`),
		regexp.MustCompile(`(?m)^execution [0-9a-f-]{36}$`),
		regexp.MustCompile(`(?m)^completed$`),
		regexp.MustCompile(`"download_ready": true`),
		regexp.MustCompile(`(?m)^File Name +Modified +Size$`),
		regexp.MustCompile(`(?m)^code [0-9]{6}$`),
		regexp.MustCompile(`(?m)^Demo Co$`),
		regexp.MustCompile(`(?m)^200 OK .*"outcome":"applied"`),
		regexp.MustCompile(`(?m)^past_due$`),
	} {
		if !want.Match(got) {
			t.Errorf("the journey's output has no %s\n%s", want, got)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^200 OK `).FindAll(got, -1)); n != 2 {
		t.Errorf("%d Stripe events answered 200, want past_due and active", n)
	}
}
