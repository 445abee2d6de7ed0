package service

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// CheckRun answers exactly what StartRun refuses with, for every refusal,
// and nil where StartRun accepts.
func TestCheckRunAgreesWithStartRun(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	ctx := context.Background()
	start := func(tenant, project uuid.UUID) {
		t.Helper()
		if _, err := s.StartRun(ctx, tenant, project); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		// setup returns the tenant and project to check.
		setup func() (uuid.UUID, uuid.UUID)
		code  string
	}{
		{"ready", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, _ := newReadyProject(t, s, tn, "ready")
			return tn, p.ID
		}, ""},
		{"trialing, nothing live", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubTrialing)
			p, _ := newReadyProject(t, s, tn, "trial")
			return tn, p.ID
		}, ""},
		{"unknown project", func() (uuid.UUID, uuid.UUID) {
			return newTestTenant(t, s, models.SubActive), models.NewID()
		}, "project_not_found"},
		{"another tenant's project", func() (uuid.UUID, uuid.UUID) {
			p, _ := newReadyProject(t, s, newTestTenant(t, s, models.SubActive), "theirs")
			return newTestTenant(t, s, models.SubActive), p.ID
		}, "project_not_found"},
		{"deleted project", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, _ := newReadyProject(t, s, tn, "deleted")
			if err := s.DeleteProject(ctx, tn, p.ID); err != nil {
				t.Fatal(err)
			}
			return tn, p.ID
		}, "project_inactive"},
		{"blank objectives", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, _ := newReadyProject(t, s, tn, "blank")
			exec(t, s, "UPDATE projects SET objectives = ' ' WHERE id = ?", p.ID)
			return tn, p.ID
		}, "missing_field"},
		{"no code", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			return tn, newTestProject(t, s, tn, "codeless").ID
		}, "activation_code_required"},
		{"subscription past due", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, _ := newReadyProject(t, s, tn, "lapsed")
			exec(t, s, "UPDATE subscriptions SET status = 'past_due' WHERE tenant_id = ?", tn)
			return tn, p.ID
		}, "subscription_inactive"},
		{"run in progress", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, _ := newReadyProject(t, s, tn, "busy")
			start(tn, p.ID)
			return tn, p.ID
		}, "run_in_progress"},
		{"trial: a second run waits its turn, it is not refused", func() (uuid.UUID, uuid.UUID) {
			// Two projects made while active; then the tenant is trialing.
			tn := newTestTenant(t, s, models.SubActive)
			busy, _ := newReadyProject(t, s, tn, "busy")
			p, _ := newReadyProject(t, s, tn, "waiting")
			start(tn, busy.ID)
			exec(t, s, "UPDATE subscriptions SET status = 'trialing' WHERE tenant_id = ?", tn)
			return tn, p.ID
		}, ""},
		{"code revoked", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, c := newReadyProject(t, s, tn, "revoked")
			if _, err := s.RevokeActivationCode(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			return tn, p.ID
		}, "activation_code_revoked"},
		{"code expired", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, c := newReadyProject(t, s, tn, "expired")
			exec(t, s, "UPDATE activation_codes SET expires_at = now() - interval '1 minute' WHERE id = ?", c.ID)
			return tn, p.ID
		}, "activation_code_expired"},
		// Last: it changes the plan every tenant here is on.
		{"monthly run quota used", func() (uuid.UUID, uuid.UUID) {
			tn := newTestTenant(t, s, models.SubActive)
			p, _ := newReadyProject(t, s, tn, "over quota")
			exec(t, s, "UPDATE plans SET monthly_run_quota = 0 WHERE code = (SELECT plan_code FROM tenants WHERE id = ?)", tn)
			return tn, p.ID
		}, "run_quota_exceeded"},
	}
	for _, c := range cases {
		tenant, project := c.setup()
		before, err := s.Project(ctx, tenant, project)
		if err != nil && c.code != "project_not_found" {
			t.Fatal(err)
		}
		if got := models.ErrorCode(s.CheckRun(ctx, tenant, project)); got != c.code {
			t.Errorf("%s: CheckRun %q, want %q", c.name, got, c.code)
			continue
		}
		// CheckRun changed nothing.
		if after, _ := s.Project(ctx, tenant, project); !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("%s: CheckRun changed the project", c.name)
		}
		_, err = s.StartRun(ctx, tenant, project)
		if got := models.ErrorCode(err); got != c.code {
			t.Errorf("%s: StartRun %q after CheckRun %q", c.name, got, c.code)
		}
	}
}
