package service_test

// Stripe delivers events more than once and out of order. At the service
// level: whatever the order the events of one subscription arrive in, the
// tenant ends in the state of the newest, with one tenant:pause; a
// redelivery changes nothing; an ended subscription never comes back.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func TestApplyStripeEventOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

	type testBundle struct {
		db     *gorm.DB
		tenant uuid.UUID
		subID  string
		// event is a subscription event about subID, created at base plus
		// the given seconds, naming the tenant in its metadata (as the
		// subscriptions q2o's Checkout makes do).
		event func(id string, seconds int, status models.SubscriptionStatus) service.StripeEvent
	}
	setup := func(t *testing.T) (*service.Service, *testBundle) {
		t.Helper()
		a := apptest.New(t, apptest.Options{})
		tn := apptest.CreateTenant(t, a.Svc, models.SubActive)
		b := &testBundle{db: a.DB, tenant: tn, subID: "sub_" + uuid.NewString()[:8]}
		cus := "cus_" + uuid.NewString()[:8]
		b.event = func(id string, seconds int, status models.SubscriptionStatus) service.StripeEvent {
			return service.StripeEvent{ID: id, Type: "customer.subscription.updated", Created: base.Add(time.Duration(seconds) * time.Second),
				Subscription: &service.StripeSubscription{ID: b.subID, CustomerID: cus, Status: status, TenantID: tn}}
		}
		return a.Svc, b
	}
	apply := func(t *testing.T, svc *service.Service, ev service.StripeEvent) service.StripeEventResult {
		t.Helper()
		res, err := svc.ApplyStripeEvent(ctx, ev, service.BillingPolicy{})
		if err != nil {
			t.Fatalf("apply %s: %v", ev.ID, err)
		}
		return res
	}
	status := func(t *testing.T, db *gorm.DB, tenant uuid.UUID) models.SubscriptionStatus {
		t.Helper()
		var sub models.Subscription
		if err := db.Where("tenant_id = ?", tenant).Take(&sub).Error; err != nil {
			t.Fatal(err)
		}
		return sub.Status
	}

	t.Run("TheNewestEventWinsInEveryOrder", func(t *testing.T) {
		t.Parallel()
		// active, then past_due, then canceled: delivered in each of the
		// six orders.
		steps := []struct {
			seconds int
			status  models.SubscriptionStatus
		}{{10, models.SubActive}, {20, models.SubPastDue}, {30, models.SubCanceled}}
		for _, order := range [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
			t.Run(fmt.Sprint(order), func(t *testing.T) {
				t.Parallel()
				svc, bundle := setup(t)
				for _, i := range order {
					apply(t, svc, bundle.event(fmt.Sprintf("evt_%d", i), steps[i].seconds, steps[i].status))
				}
				if got := status(t, bundle.db, bundle.tenant); got != models.SubCanceled {
					t.Errorf("delivered in order %v: subscription %s, want canceled (the newest)", order, got)
				}
				apptest.RequireOutbox(t, bundle.db, jobs.TypeTenantPause, 1)
			})
		}
	})

	t.Run("AnOlderEventAfterANewerOneIsStale", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		if res := apply(t, svc, bundle.event("evt_new", 20, models.SubPastDue)); res.Outcome != service.StripeApplied || res.TenantID != bundle.tenant {
			t.Fatalf("newer event: %+v", res)
		}
		res := apply(t, svc, bundle.event("evt_old", 10, models.SubActive))
		if res.Outcome != service.StripeStale || res.Duplicate {
			t.Errorf("older event: %+v, want stale", res)
		}
		if got := status(t, bundle.db, bundle.tenant); got != models.SubPastDue {
			t.Errorf("subscription %s after the stale event, want past_due", got)
		}
		if n := apptest.CountTable(t, bundle.db, "stripe_events", "id = ? AND outcome = ?", "evt_old", service.StripeStale); n != 1 {
			t.Errorf("%d stale evt_old rows recorded, want 1", n)
		}
	})

	t.Run("ARedeliveryChangesNothing", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		ev := bundle.event("evt_once", 10, models.SubUnpaid)
		if res := apply(t, svc, ev); res.Outcome != service.StripeApplied || res.Duplicate {
			t.Fatalf("first delivery: %+v", res)
		}
		res := apply(t, svc, ev)
		if !res.Duplicate || res.Outcome != service.StripeApplied || res.TenantID != bundle.tenant {
			t.Errorf("second delivery: %+v, want a duplicate of the applied event", res)
		}
		apptest.RequireOutbox(t, bundle.db, jobs.TypeTenantPause, 1)
		if n := apptest.CountTable(t, bundle.db, "stripe_events", "id = ?", "evt_once"); n != 1 {
			t.Errorf("evt_once recorded %d times, want once", n)
		}
	})

	t.Run("AnEndedSubscriptionNeverComesBack", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		apply(t, svc, bundle.event("evt_end", 10, models.SubCanceled))
		// A newer event about the same subscription still says active (a
		// delayed copy, or a Stripe retry of an earlier state).
		res := apply(t, svc, bundle.event("evt_later", 20, models.SubActive))
		if res.Outcome != service.StripeStale {
			t.Errorf("active after canceled: %+v, want stale", res)
		}
		if got := status(t, bundle.db, bundle.tenant); got != models.SubCanceled {
			t.Errorf("subscription %s, want canceled", got)
		}
	})

	t.Run("AnOperatorsSuspensionOutranksStripe", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		if _, err := svc.SetSubscriptionStatus(ctx, bundle.tenant, models.SubSuspended, "test"); err != nil {
			t.Fatal(err)
		}
		if res := apply(t, svc, bundle.event("evt_active", 10, models.SubActive)); res.Outcome != service.StripeApplied {
			t.Errorf("event for a suspended tenant: %+v", res)
		}
		if got := status(t, bundle.db, bundle.tenant); got != models.SubSuspended {
			t.Errorf("subscription %s, want suspended kept", got)
		}
	})
}
