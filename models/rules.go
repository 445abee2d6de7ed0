package models

import (
	"strings"
	"time"
)

// SubscriptionStatus is a Stripe subscription status, plus "suspended", which
// an operator sets.
type SubscriptionStatus string

// The subscription statuses q2o knows.
const (
	SubActive            SubscriptionStatus = "active"
	SubTrialing          SubscriptionStatus = "trialing"
	SubPastDue           SubscriptionStatus = "past_due"
	SubCanceled          SubscriptionStatus = "canceled"
	SubUnpaid            SubscriptionStatus = "unpaid"
	SubIncomplete        SubscriptionStatus = "incomplete"
	SubIncompleteExpired SubscriptionStatus = "incomplete_expired"
	SubPaused            SubscriptionStatus = "paused"
	SubSuspended         SubscriptionStatus = "suspended"
)

// SubscriptionStatuses lists every known status.
var SubscriptionStatuses = []SubscriptionStatus{SubActive, SubTrialing, SubPastDue, SubCanceled,
	SubUnpaid, SubIncomplete, SubIncompleteExpired, SubPaused, SubSuspended}

// Valid reports whether s is a known status.
func (s SubscriptionStatus) Valid() bool {
	for _, k := range SubscriptionStatuses {
		if s == k {
			return true
		}
	}
	return false
}

// MayRun reports whether a tenant with this status may create and run
// projects: only active and trialing subscriptions may.
func (s SubscriptionStatus) MayRun() bool { return s == SubActive || s == SubTrialing }

// CheckMayRun is MayRun as a refusal: nil, or why the tenant may not do what
// it asked.
// Errors: subscription_inactive (402).
func (s SubscriptionStatus) CheckMayRun() error {
	if !s.MayRun() {
		return Errorf(KindPaymentRequired, "subscription_inactive",
			"the subscription is %s; only active or trialing subscriptions may do this", s)
	}
	return nil
}

// EndedByStripe reports whether Stripe never moves a subscription out of
// this status again (it never revives a canceled or expired subscription).
func (s SubscriptionStatus) EndedByStripe() bool {
	return s == SubCanceled || s == SubIncompleteExpired
}

// FromStripe is the status a subscription in status was takes when Stripe
// reports status stripe: Stripe's, except that an operator's suspension
// outranks Stripe and is kept (the event's other fields still apply).
func (was SubscriptionStatus) FromStripe(stripe SubscriptionStatus) SubscriptionStatus {
	if was == SubSuspended {
		return was
	}
	return stripe
}

// Pause is what a change of subscription status does to the tenant's runs.
type Pause struct {
	// Now: pause the tenant's runs at once.
	Now bool
	// After: pause them once this grace has passed (the pause then does
	// nothing if the subscription may run again by then). Zero with Now
	// false: no pause.
	After time.Duration
}

// Needed reports whether the change pauses the tenant's runs at all.
func (p Pause) Needed() bool { return p.Now || p.After > 0 }

// PauseFor decides whether moving a subscription from was to now pauses the
// tenant's runs, whoever moves it (Stripe or an operator): a status that
// stops allowing runs pauses them at once, except past_due, which lets them
// go on for grace first (new runs are refused meanwhile). A tenant already
// stopped is not paused again, except one that was past_due in its grace
// and moves on to another inactive status: its runs are still going, and
// are paused at once.
func PauseFor(was, now SubscriptionStatus, grace time.Duration) Pause {
	if now.MayRun() || was == now {
		return Pause{}
	}
	inGrace := was == SubPastDue && grace > 0
	if !was.MayRun() && !inGrace {
		return Pause{} // already paused when it stopped allowing runs
	}
	if now == SubPastDue && grace > 0 {
		return Pause{After: grace}
	}
	return Pause{Now: true}
}

// ExecutionStatus is the state of a run, and of the project that owns it.
type ExecutionStatus string

// The execution statuses.
const (
	StatusPending   ExecutionStatus = "pending"
	StatusRunning   ExecutionStatus = "running"
	StatusCompleted ExecutionStatus = "completed"
	StatusFailed    ExecutionStatus = "failed"
	StatusPaused    ExecutionStatus = "paused"
	// StatusCancelled is a run the tenant stopped; StatusPaused is one that
	// billing stopped (resume-all resumes only those).
	StatusCancelled ExecutionStatus = "cancelled"
)

// ExecutionStatuses lists every execution status.
var ExecutionStatuses = []ExecutionStatus{StatusPending, StatusRunning, StatusCompleted, StatusFailed,
	StatusPaused, StatusCancelled}

// StatusesWhere lists the statuses of all for which keep holds, in order:
// a rule of this file as the list an SQL `IN` takes, so the SQL cannot
// drift from it (StatusesWhere(ExecutionStatuses, ExecutionStatus.Stopped)).
func StatusesWhere[S ~string](all []S, keep func(S) bool) []S {
	var out []S
	for _, s := range all {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// Live reports whether a run in this status is pending or running.
func (s ExecutionStatus) Live() bool { return s == StatusPending || s == StatusRunning }

// Finished reports whether a run in this status will not run again.
func (s ExecutionStatus) Finished() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusPaused || s == StatusCancelled
}

// Stopped reports whether a run in this status was stopped from outside
// (billing paused it, or the tenant cancelled it) rather than ending by
// itself: a main.py that had exited by then keeps its own outcome.
func (s ExecutionStatus) Stopped() bool { return s == StatusPaused || s == StatusCancelled }

// CanCreateProject applies the seed's rule: an active subscription may have
// any number of projects, a trialing one only one, any other none.
// Errors: subscription_inactive (402), trial_project_limit (403).
func CanCreateProject(status SubscriptionStatus, existingProjects int64) error {
	if err := status.CheckMayRun(); err != nil {
		return err
	}
	if status == SubTrialing && existingProjects >= 1 {
		return Errorf(KindForbidden, "trial_project_limit", "a trialing subscription may have one project; upgrade to create more")
	}
	return nil
}

// CanRun applies the RUN rules to a project and its tenant's subscription.
// How many runs go at once is not a refusal: a run over the limit waits its
// turn (RunLimit).
// Errors: project_inactive (409), missing_field (422), activation_code_required
// (422), subscription_inactive (402), run_in_progress (409).
func CanRun(p *Project, status SubscriptionStatus) error {
	if !p.IsActive {
		return Errorf(KindConflict, "project_inactive", "the project has been deleted")
	}
	for field, v := range map[string]string{"name": p.Name, "description": p.Description, "objectives": p.Objectives} {
		if strings.TrimSpace(v) == "" {
			return &Error{Kind: KindUnprocessable, Code: "missing_field", Field: field,
				Message: "the project's " + field + " is empty; set it before running"}
		}
	}
	if p.ActivationCodeID == nil {
		return Errorf(KindUnprocessable, "activation_code_required", "assign an activation code to the project before running it")
	}
	if err := status.CheckMayRun(); err != nil {
		return err
	}
	return CheckNoLiveRun(p.ExecutionStatus)
}

// ErrRunInProgress refuses what a project's live run forbids: a second run,
// an edit, a deletion.
var ErrRunInProgress = Errorf(KindConflict, "run_in_progress",
	"the project has a run pending or running; cancel it or wait for it to end")

// CheckNoLiveRun refuses a project whose run (status, nil when it never ran)
// is pending or running.
// Errors: run_in_progress (409).
func CheckNoLiveRun(status *ExecutionStatus) error {
	if status != nil && status.Live() {
		return ErrRunInProgress
	}
	return nil
}

// RunLimit is how many of a tenant's runs may run at once: its plan's
// max_concurrent_runs, and one while its subscription is trialing (the
// seed's "only one project can run at a time"). Runs over it wait, pending,
// for one of the tenant's runs to end.
func RunLimit(status SubscriptionStatus, planMax int) int {
	if status == SubTrialing {
		return 1
	}
	return max(1, planMax)
}

// CanStartRunThisMonth applies the plan's monthly run quota (nil: none) to
// the runs the tenant started this month.
// Errors: run_quota_exceeded (403).
func CanStartRunThisMonth(quota *int, startedThisMonth int64) error {
	if quota != nil && startedThisMonth >= int64(*quota) {
		return Errorf(KindForbidden, "run_quota_exceeded",
			"the plan allows %d runs a month and they are used; upgrade, or wait for the next month", *quota)
	}
	return nil
}

// CodeUsable reports why an activation code cannot be assigned now, or nil.
// Errors: activation_code_revoked, activation_code_expired,
// activation_code_used_up (all 422).
func CodeUsable(c *ActivationCode, now time.Time) error {
	if err := CodeValid(c, now); err != nil {
		return err
	}
	if c.UseCount >= c.MaxUses {
		return Errorf(KindUnprocessable, "activation_code_used_up", "the activation code has been used %d of %d times", c.UseCount, c.MaxUses)
	}
	return nil
}

// CodeValid reports why a code no longer lets its project run, or nil: a
// code revoked or expired after it was assigned stops new runs (its use was
// counted when it was assigned, so "used up" does not apply here).
// Errors: activation_code_revoked, activation_code_expired (422).
func CodeValid(c *ActivationCode, now time.Time) error {
	switch {
	case c.RevokedAt != nil:
		return Errorf(KindUnprocessable, "activation_code_revoked", "the activation code has been revoked")
	case c.ExpiresAt != nil && !now.Before(*c.ExpiresAt):
		return Errorf(KindUnprocessable, "activation_code_expired", "the activation code expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// CodeValidSQL is CodeValid as a SQL condition on activation_codes under
// alias (a table name or an alias), with the time as its one argument: the
// database's statement of the rule, for queries that filter by it.
// TestCodeValidSQL checks that it and CodeValid agree.
func CodeValidSQL(alias string) string {
	return alias + ".revoked_at IS NULL AND (" + alias + ".expires_at IS NULL OR " + alias + ".expires_at > ?)"
}

// CodeUsableSQL is CodeUsable as a SQL condition (see CodeValidSQL).
func CodeUsableSQL(alias string) string {
	return CodeValidSQL(alias) + " AND " + alias + ".use_count < " + alias + ".max_uses"
}
