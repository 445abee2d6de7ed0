package main

import (
	"bytes"
	"strings"
	"testing"
)

// Each command's --help lists the settings it reads, from the table in
// configs, and no other.
func TestHelpListsEachCommandsSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args       []string
		has, lacks []string
	}{
		{[]string{"--help"}, []string{"Q2O_HTTP_ADDR", "Q2O_RUNNER", "Q2O_SMTP_HOST"}, nil},
		{[]string{"api", "--help"}, []string{"Q2O_HTTP_ADDR", "Q2O_STRIPE_SECRET_KEY", "Q2O_DATABASE_URL"}, []string{"Q2O_RUNNER", "Q2O_SANDBOX"}},
		{[]string{"worker", "--help"}, []string{"Q2O_RUNNER", "Q2O_SANDBOX", "Q2O_DATABASE_URL"}, []string{"Q2O_HTTP_ADDR", "Q2O_SMTP_HOST"}},
		{[]string{"migrate", "--help"}, []string{"Q2O_DATABASE_URL", "Q2O_LOG_LEVEL"}, []string{"Q2O_REDIS_URL", "Q2O_RUNNER"}},
		{[]string{"admin", "create-tenant", "--help"}, []string{"Q2O_DATABASE_URL"}, []string{"Q2O_REDIS_URL"}},
	} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(c.args)
		if err := root.Execute(); err != nil {
			t.Fatalf("q2o %v: %v", c.args, err)
		}
		for _, name := range c.has {
			if !strings.Contains(out.String(), "  "+name+", ") {
				t.Errorf("q2o %v lacks %s", c.args, name)
			}
		}
		for _, name := range c.lacks {
			if strings.Contains(out.String(), "  "+name+", ") {
				t.Errorf("q2o %v lists %s", c.args, name)
			}
		}
	}
}
