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
		want   string
	}{
		{"ready, active", func(*Project) {}, SubActive, ""},
		{"ready, trialing (its one-at-a-time is RunLimit's)", func(*Project) {}, SubTrialing, ""},
		{"completed project runs again", func(p *Project) { p.ExecutionStatus = &completed }, SubActive, ""},
		{"already running", func(p *Project) { p.ExecutionStatus = &running }, SubActive, "run_in_progress"},
		{"no code", func(p *Project) { p.ActivationCodeID = nil }, SubActive, "activation_code_required"},
		{"blank objectives", func(p *Project) { p.Objectives = " " }, SubActive, "missing_field"},
		{"deleted", func(p *Project) { p.IsActive = false }, SubActive, "project_inactive"},
		{"past_due", func(*Project) {}, SubPastDue, "subscription_inactive"},
		{"canceled", func(*Project) {}, SubCanceled, "subscription_inactive"},
	}
	for _, c := range cases {
		p := ready()
		c.mutate(p)
		if got := code(t, CanRun(p, c.status)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRunLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status SubscriptionStatus
		plan   int
		want   int
	}{{SubActive, 3, 3}, {SubActive, 10, 10}, {SubTrialing, 3, 1}, {SubTrialing, 1, 1}, {SubActive, 0, 1}} {
		if got := RunLimit(c.status, c.plan); got != c.want {
			t.Errorf("RunLimit(%s, %d) = %d, want %d", c.status, c.plan, got, c.want)
		}
	}
}

func TestCanStartRunThisMonth(t *testing.T) {
	t.Parallel()
	two := 2
	for _, c := range []struct {
		quota *int
		used  int64
		want  string
	}{{nil, 1000, ""}, {&two, 0, ""}, {&two, 1, ""}, {&two, 2, "run_quota_exceeded"}, {&two, 5, "run_quota_exceeded"}} {
		if got := code(t, CanStartRunThisMonth(c.quota, c.used)); got != c.want {
			t.Errorf("quota %v, used %d: %q, want %q", c.quota, c.used, got, c.want)
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

func TestPauseFor(t *testing.T) {
	t.Parallel()
	const grace = time.Hour
	now, later, none := Pause{Now: true}, Pause{After: grace}, Pause{}
	cases := []struct {
		was, to SubscriptionStatus
		grace   time.Duration
		want    Pause
	}{
		{SubActive, SubCanceled, grace, now},
		{SubActive, SubUnpaid, 0, now},
		{SubTrialing, SubSuspended, grace, now},
		{SubActive, SubPastDue, grace, later},
		{SubActive, SubPastDue, 0, now},
		{SubTrialing, SubPastDue, grace, later},
		// In the grace the runs still go: a further fall pauses them now.
		{SubPastDue, SubCanceled, grace, now},
		{SubPastDue, SubSuspended, grace, now},
		// Without a grace past_due already paused them.
		{SubPastDue, SubCanceled, 0, none},
		{SubCanceled, SubUnpaid, grace, none},
		{SubPastDue, SubPastDue, grace, none},
		{SubActive, SubActive, grace, none},
		{SubPastDue, SubActive, grace, none},
		{SubCanceled, SubTrialing, grace, none},
		{SubActive, SubTrialing, 0, none},
	}
	for _, c := range cases {
		got := PauseFor(c.was, c.to, c.grace)
		if got != c.want {
			t.Errorf("PauseFor(%s, %s, %s) = %+v, want %+v", c.was, c.to, c.grace, got, c.want)
		}
		if got.Needed() != (c.want != none) {
			t.Errorf("PauseFor(%s, %s, %s).Needed() = %v", c.was, c.to, c.grace, got.Needed())
		}
	}
}

func TestFromStripe(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ was, stripe, want SubscriptionStatus }{
		{SubActive, SubPastDue, SubPastDue},
		{SubPastDue, SubActive, SubActive},
		{SubCanceled, SubActive, SubActive},
		{SubSuspended, SubActive, SubSuspended},
		{SubSuspended, SubCanceled, SubSuspended},
	} {
		if got := c.was.FromStripe(c.stripe); got != c.want {
			t.Errorf("%s.FromStripe(%s) = %s, want %s", c.was, c.stripe, got, c.want)
		}
	}
}

func TestEndedByStripe(t *testing.T) {
	t.Parallel()
	for _, s := range SubscriptionStatuses {
		want := s == SubCanceled || s == SubIncompleteExpired
		if s.EndedByStripe() != want {
			t.Errorf("%s.EndedByStripe() = %v, want %v", s, s.EndedByStripe(), want)
		}
	}
}

func TestCheckMayRun(t *testing.T) {
	t.Parallel()
	for _, s := range SubscriptionStatuses {
		want := "subscription_inactive"
		if s.MayRun() {
			want = ""
		}
		if got := code(t, s.CheckMayRun()); got != want {
			t.Errorf("%s.CheckMayRun() = %q, want %q", s, got, want)
		}
	}
}

func TestCheckNoLiveRun(t *testing.T) {
	t.Parallel()
	if err := CheckNoLiveRun(nil); err != nil {
		t.Errorf("never run: %v", err)
	}
	for _, s := range []ExecutionStatus{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusPaused, StatusCancelled} {
		want := ""
		if s.Live() {
			want = "run_in_progress"
		}
		if got := code(t, CheckNoLiveRun(&s)); got != want {
			t.Errorf("CheckNoLiveRun(%s) = %q, want %q", s, got, want)
		}
	}
}

// TestStatusesWhere: the SQL lists the service builds from the rules.
func TestStatusesWhere(t *testing.T) {
	got := StatusesWhere(ExecutionStatuses, ExecutionStatus.Stopped)
	if len(got) != 2 || got[0] != StatusPaused || got[1] != StatusCancelled {
		t.Errorf("stopped = %v, want [paused cancelled]", got)
	}
	if got := StatusesWhere(ExecutionStatuses, ExecutionStatus.Finished); len(got) != 4 || got[0] != StatusCompleted {
		t.Errorf("finished = %v, want completed, failed, paused, cancelled", got)
	}
	if got := StatusesWhere(SubscriptionStatuses, SubscriptionStatus.MayRun); len(got) != 2 || got[0] != SubActive || got[1] != SubTrialing {
		t.Errorf("may run = %v, want [active trialing]", got)
	}
	seen := map[ExecutionStatus]bool{}
	for _, s := range ExecutionStatuses {
		if seen[s] {
			t.Errorf("%q listed twice", s)
		}
		seen[s] = true
	}
	if len(seen) != 6 {
		t.Errorf("ExecutionStatuses has %d statuses, want the 6 constants", len(seen))
	}
}
