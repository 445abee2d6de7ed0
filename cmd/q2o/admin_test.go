package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/service"
)

// adminCLI runs q2o admin commands in this process on one migrated
// database (through --config, so tests run in parallel).
type adminCLI struct {
	t      *testing.T
	config string
	svc    *service.Service
}

func newAdminCLI(t *testing.T) *adminCLI {
	t.Helper()
	url := testenv.DatabaseURL(t)
	config := filepath.Join(t.TempDir(), "q2o.yaml")
	if err := os.WriteFile(config, []byte("database_url: "+url+"\nlog_format: text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gdb, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(gdb) })
	return &adminCLI{t: t, config: config, svc: service.New(service.Deps{DB: gdb, OutputRoot: t.TempDir(), Log: slog.New(slog.DiscardHandler)})}
}

// run runs q2o admin args and returns what it printed, or its error.
func (c *adminCLI) run(args ...string) (string, error) {
	c.t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"--config", c.config, "admin"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func (c *adminCLI) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("q2o admin %v: %v\n%s", args, err, out)
	}
	return out
}

func jsonOf[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return v
}

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	c := newAdminCLI(t)
	ctx := context.Background()
	acme, err := c.svc.CreateTenant(ctx, service.NewTenant{Name: "Acme", Email: "ops@acme.example", Plan: "starter", SubscriptionStatus: "active"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.svc.CreateTenant(ctx, service.NewTenant{Name: "Other", Email: "ops@other.example"}); err != nil {
		t.Fatal(err)
	}
	codes, err := c.svc.IssueActivationCodes(ctx, acme.ID, service.NewCodes{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	id := acme.ID.String()
	name, text := "rocket", "a rocket"
	p, err := c.svc.CreateProject(ctx, acme.ID, service.NewProject{Name: &name, Description: &text, Objectives: &text})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.svc.AssignActivationCode(ctx, acme.ID, p.ID, codes[0].Code); err != nil {
		t.Fatal(err)
	}
	run, err := c.svc.StartRun(ctx, acme.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	eid := run.ExecutionID.String()

	t.Run("tenants", func(t *testing.T) {
		page := jsonOf[service.Page[service.TenantSummary]](t, c.must("tenants", "--output", "json"))
		if page.Total != 2 {
			t.Errorf("tenants: %+v", page)
		}
		found := jsonOf[service.Page[service.TenantSummary]](t, c.must("tenants", "--q", "ACME", "--output", "json"))
		if found.Total != 1 || found.Items[0].ID != acme.ID || found.Items[0].SubscriptionStatus != "active" {
			t.Errorf("--q ACME: %+v", found)
		}
		table := c.must("tenants")
		if !strings.Contains(table, "SUBSCRIPTION") || !strings.Contains(table, "ops@acme.example") || !strings.Contains(table, "page 1 of 1, 2 in all") {
			t.Errorf("table:\n%s", table)
		}
		one := jsonOf[service.TenantSummary](t, c.must("tenant", id, "--output", "json"))
		if one.ID != acme.ID || one.PlanCode != "starter" {
			t.Errorf("tenant: %+v", one)
		}
	})

	t.Run("codes", func(t *testing.T) {
		page := jsonOf[service.CodePage](t, c.must("codes", id, "--status", "available", "--output", "json"))
		if page.Total != 2 {
			t.Errorf("available codes: %+v", page)
		}
		if out := c.must("codes", id, "--status", "revoked"); !strings.Contains(out, "0 in all") {
			t.Errorf("revoked codes:\n%s", out)
		}
	})

	t.Run("executions", func(t *testing.T) {
		page := jsonOf[service.Page[service.AdminExecution]](t, c.must("executions", "--tenant", id, "--status", "pending",
			"--from", "2020-01-01T00:00:00Z", "--output", "json"))
		if page.Total != 1 || page.Items[0].ID.String() != eid || page.Items[0].ProjectName != "rocket" {
			t.Errorf("executions: %+v", page)
		}
		none := jsonOf[service.Page[service.AdminExecution]](t, c.must("executions", "--to", "2020-01-01T00:00:00Z", "--output", "json"))
		if none.Total != 0 || none.Items == nil {
			t.Errorf("executions before 2020: %+v", none)
		}
		if out := c.must("executions"); !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "rocket") {
			t.Errorf("table:\n%s", out)
		}
		d := jsonOf[service.AdminExecutionDetail](t, c.must("execution", eid, "--output", "json"))
		if d.ID.String() != eid || len(d.Events) == 0 || d.LogTail == nil {
			t.Errorf("execution: %+v", d)
		}
		if out := c.must("execution", eid); !strings.Contains(out, "queued") || !strings.Contains(out, "Acme ("+id+")") {
			t.Errorf("execution table:\n%s", out)
		}
	})

	t.Run("api keys", func(t *testing.T) {
		k := jsonOf[service.CreatedAPIKey](t, c.must("create-api-key", id, "--name", "ci", "--output", "json"))
		if !strings.HasPrefix(k.Key, "q2o_"+k.Prefix+"_") || k.Name != "ci" {
			t.Fatalf("new key: %+v", k)
		}
		if _, err := c.svc.Authenticate(ctx, k.Key); err != nil {
			t.Errorf("new key: %v", err)
		}
		table := c.must("create-api-key", id)
		if !strings.Contains(table, "API key (shown only this once): q2o_") {
			t.Errorf("table:\n%s", table)
		}
		keys := jsonOf[[]service.APIKeyView](t, c.must("api-keys", id, "--output", "json"))
		if len(keys) != 3 {
			t.Fatalf("keys: %+v", keys)
		}
		if list := c.must("api-keys", id); strings.Contains(list, k.Key) {
			t.Errorf("the list shows a key:\n%s", list)
		}
		revoked := jsonOf[service.APIKeyView](t, c.must("revoke-api-key", id, k.ID.String(), "--output", "json"))
		if revoked.RevokedAt == nil {
			t.Errorf("revoked: %+v", revoked)
		}
		// The command's own service revoked it: this one, which has it
		// cached, asks the database (as every replica does within
		// service.MaxRevocationDelay).
		if _, err := c.svc.AuthenticateNow(ctx, k.Key); err == nil {
			t.Error("a revoked key still signs in")
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, c2 := range []struct {
			args []string
			want string
		}{
			{[]string{"tenant", "0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e"}, "tenant_not_found"},
			{[]string{"tenant", "acme"}, "is not a tenant id"},
			{[]string{"codes", id, "--status", "lost"}, "invalid_status (--status)"},
			{[]string{"executions", "--status", "done"}, "invalid_status (--status)"},
			{[]string{"executions", "--from", "yesterday"}, "--from"},
			{[]string{"execution", "0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e"}, "execution_not_found"},
			{[]string{"revoke-api-key", id, "0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e"}, "api_key_not_found"},
			{[]string{"tenants", "--output", "yaml"}, "use table or json"},
		} {
			if _, err := c.run(c2.args...); err == nil || !strings.Contains(err.Error(), c2.want) {
				t.Errorf("q2o admin %v: %v, want %q", c2.args, err, c2.want)
			}
		}
	})
}
