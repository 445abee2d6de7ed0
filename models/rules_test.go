package models

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func code(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("not an application error: %v", err)
	}
	return e.Code
}

func TestCanCreateProject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   SubscriptionStatus
		existing int64
		want     string
	}{
		{SubActive, 0, ""},
		{SubActive, 500, ""},
		{SubTrialing, 0, ""},
		{SubTrialing, 1, "trial_project_limit"},
		{SubPastDue, 0, "subscription_inactive"},
		{SubCanceled, 0, "subscription_inactive"},
		{SubUnpaid, 0, "subscription_inactive"},
		{SubSuspended, 0, "subscription_inactive"},
		{SubIncomplete, 0, "subscription_inactive"},
		{SubPaused, 0, "subscription_inactive"},
	}
	for _, c := range cases {
		if got := code(t, CanCreateProject(c.status, c.existing)); got != c.want {
			t.Errorf("CanCreateProject(%s, %d) = %q, want %q", c.status, c.existing, got, c.want)
		}
	}
}

func TestCanRun(t *testing.T) {
	t.Parallel()
	codeID := uuid.New()
	running, completed := StatusRunning, StatusCompleted
	ready := func() *Project {
		return &Project{Name: "n", Description: "d", Objectives: "o", IsActive: true, ActivationCodeID: &codeID}
	}
	cases := []struct {
		name   string
		mutate func(*Project)
		status SubscriptionStatus
		live   int64
		want   string
	}{
		{"ready, active", func(*Project) {}, SubActive, 3, ""},
		{"ready, trialing, nothing running", func(*Project) {}, SubTrialing, 0, ""},
		{"trialing with a live run elsewhere", func(*Project) {}, SubTrialing, 1, "trial_run_limit"},
		{"completed project runs again", func(p *Project) { p.ExecutionStatus = &completed }, SubActive, 0, ""},
		{"already running", func(p *Project) { p.ExecutionStatus = &running }, SubActive, 1, "run_in_progress"},
		{"no code", func(p *Project) { p.ActivationCodeID = nil }, SubActive, 0, "activation_code_required"},
		{"blank objectives", func(p *Project) { p.Objectives = " " }, SubActive, 0, "missing_field"},
		{"deleted", func(p *Project) { p.IsActive = false }, SubActive, 0, "project_inactive"},
		{"past_due", func(*Project) {}, SubPastDue, 0, "subscription_inactive"},
		{"canceled", func(*Project) {}, SubCanceled, 0, "subscription_inactive"},
	}
	for _, c := range cases {
		p := ready()
		c.mutate(p)
		if got := code(t, CanRun(p, c.status, c.live)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCodeUsable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	cases := []struct {
		name string
		c    ActivationCode
		want string
	}{
		{"fresh", ActivationCode{MaxUses: 1}, ""},
		{"one use left", ActivationCode{MaxUses: 3, UseCount: 2, ExpiresAt: &future}, ""},
		{"used up", ActivationCode{MaxUses: 2, UseCount: 2}, "activation_code_used_up"},
		{"expired", ActivationCode{MaxUses: 1, ExpiresAt: &past}, "activation_code_expired"},
		{"expires exactly now", ActivationCode{MaxUses: 1, ExpiresAt: &now}, "activation_code_expired"},
		{"revoked", ActivationCode{MaxUses: 1, RevokedAt: &past}, "activation_code_revoked"},
	}
	for _, c := range cases {
		if got := code(t, CodeUsable(&c.c, now)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// A used-up code still lets its project run; a revoked one does not.
	if err := CodeValid(&ActivationCode{MaxUses: 1, UseCount: 1}, now); err != nil {
		t.Errorf("CodeValid(used once of once) = %v", err)
	}
	if got := code(t, CodeValid(&ActivationCode{MaxUses: 1, RevokedAt: &past}, now)); got != "activation_code_revoked" {
		t.Errorf("CodeValid(revoked) = %q", got)
	}
}

func TestSubscriptionStatus(t *testing.T) {
	t.Parallel()
	for _, s := range SubscriptionStatuses {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		if s.MayRun() != (s == SubActive || s == SubTrialing) {
			t.Errorf("%s.MayRun() = %v", s, s.MayRun())
		}
	}
	if SubscriptionStatus("happy").Valid() {
		t.Error("unknown status valid")
	}
}
