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
	if !status.MayRun() {
		return errSubscriptionInactive(status)
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
	if !status.MayRun() {
		return errSubscriptionInactive(status)
	}
	if p.ExecutionStatus != nil && p.ExecutionStatus.Live() {
		return Errorf(KindConflict, "run_in_progress", "the project already has a run %s", *p.ExecutionStatus)
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

func errSubscriptionInactive(s SubscriptionStatus) error {
	return Errorf(KindPaymentRequired, "subscription_inactive", "the subscription is %s; only active or trialing subscriptions may do this", s)
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
