package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// maxWebhookBody bounds a Stripe webhook delivery; Stripe's events are a few
// KiB.
const maxWebhookBody = 64 << 10

// Billing is what the API needs of Stripe billing (package billing is one).
type Billing interface {
	// WebhookEnabled reports whether a signing secret is set.
	WebhookEnabled() bool
	// HandleWebhook verifies a delivery (raw body and Stripe-Signature
	// header) and applies its event.
	HandleWebhook(ctx context.Context, payload []byte, signature string) (service.StripeEventResult, error)
	// Upgrade moves the tenant up to a plan (Checkout for a first
	// subscription).
	Upgrade(ctx context.Context, tenantID uuid.UUID, plan string) (service.UpgradeResult, error)
	// Portal returns a Stripe Customer Portal URL for the tenant.
	Portal(ctx context.Context, tenantID uuid.UUID) (string, error)
}

// billingRoutes: the tenant's billing routes that need no Stripe call. The
// Stripe webhook and the routes that call Stripe are added by EnableBilling.
func (s *Server) billingRoutes(tenant *echo.Group) {
	mount(tenant, post("/projects/resume-all", http.StatusOK), s.resumeAll, s.requireTenant)
	mount(tenant, get("/billing", http.StatusOK), s.billing, s.requireTenant)
}

// EnableBilling turns on the Stripe routes: POST /api/webhooks/stripe when
// the webhook has a signing secret (without it the route does not exist, a
// 404, so an unconfigured server never takes billing changes), and the
// tenant's upgrade and portal routes (503 billing_unavailable without a
// Stripe secret key).
func (s *Server) EnableBilling(b Billing) {
	if b.WebhookEnabled() {
		s.echo.POST("/api/webhooks/stripe", s.stripeWebhook(b))
	}
	tenant := s.echo.Group("/api/tenant")
	mount(tenant, post("/billing/upgrade", http.StatusOK), upgradePlan(b), s.requireTenant)
	mount(tenant, post("/billing/portal", http.StatusOK), billingPortal(b), s.requireTenant)
}

// billing: GET /api/tenant/billing, the tenant's billing page.
func (s *Server) billing(ctx context.Context, _ *none) (*service.BillingOverview, error) {
	return answer(s.svc.Billing(ctx, tenantIn(ctx)))
}

// resumed is the answer of resume-all: how many projects run again, and
// each paused project's result.
type resumed struct {
	Projects []service.ResumeResult `json:"projects"`
	Resumed  int                    `json:"resumed"`
}

// resumeAll: POST /api/tenant/projects/resume-all runs every paused project
// of the tenant again, each through the gates of RUN; a project they refuse
// is listed with its error code.
func (s *Server) resumeAll(ctx context.Context, _ *none) (*resumed, error) {
	res, err := s.svc.ResumeAll(ctx, tenantIn(ctx))
	if err != nil {
		return nil, err
	}
	out := &resumed{Projects: res}
	for _, r := range res {
		if r.Error == nil {
			out.Resumed++
		}
	}
	return out, nil
}

type upgradeReq struct {
	Body struct {
		Plan string `json:"plan"`
	}
}

func (r *upgradeReq) body() any { return &r.Body }

// upgradePlan: POST /api/tenant/billing/upgrade {"plan"} answers
// {"checkout_url"} for a first subscription, or the billing page after the
// plan change.
func upgradePlan(b Billing) func(ctx context.Context, req *upgradeReq) (*service.UpgradeResult, error) {
	return func(ctx context.Context, req *upgradeReq) (*service.UpgradeResult, error) {
		return answer(b.Upgrade(ctx, tenantIn(ctx), req.Body.Plan))
	}
}

// portalSession is a Stripe Customer Portal session to send the tenant to.
type portalSession struct {
	URL string `json:"url"`
}

// billingPortal: POST /api/tenant/billing/portal answers {"url"} of a Stripe
// Customer Portal session.
func billingPortal(b Billing) func(ctx context.Context, _ *none) (*portalSession, error) {
	return func(ctx context.Context, _ *none) (*portalSession, error) {
		u, err := b.Portal(ctx, tenantIn(ctx))
		if err != nil {
			return nil, err
		}
		return &portalSession{URL: u}, nil
	}
}

// countStripeEvent counts a webhook delivery by event type and result (the
// outcome, "duplicate", or the refusal's error code). The type is read only
// from a verified body; a refused one counts as "unverified".
func (s *Server) countStripeEvent(body []byte, res service.StripeEventResult, err error) {
	if s.cfg.Metrics == nil {
		return
	}
	typ, result := "unverified", models.ErrorCode(err)
	if err == nil {
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &ev)
		typ, result = ev.Type, res.Outcome
		if res.Duplicate {
			result = "duplicate"
		}
	}
	s.cfg.Metrics.StripeEvents.WithLabelValues(typ, result).Inc()
}

// webhookReceived is the answer to a recorded Stripe delivery.
type webhookReceived struct {
	Duplicate bool   `json:"duplicate"`
	Outcome   string `json:"outcome"`
	Received  bool   `json:"received"`
}

// stripeWebhook answers a Stripe delivery: 200 once the event is recorded
// (applied, stale, ignored or a redelivery), 400 with a stable code for a bad
// signature or body (nothing changed), 413 for a body over 64 KiB, 5xx when
// the database fails (Stripe delivers it again later). It is a plain
// handler: the signature is over the raw body, which decode would not keep.
func (s *Server) stripeWebhook(b Billing) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxWebhookBody))
		var maxErr *http.MaxBytesError
		switch {
		case errors.As(err, &maxErr):
			return models.Errorf(models.KindTooLarge, "body_too_large", "a webhook body may be at most %d bytes", maxErr.Limit)
		case err != nil:
			return models.Errorf(models.KindInvalid, "invalid_body", "the request body could not be read")
		}
		res, err := b.HandleWebhook(c.Request().Context(), body, c.Request().Header.Get("Stripe-Signature"))
		s.countStripeEvent(body, res, err)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, webhookReceived{Duplicate: res.Duplicate, Outcome: res.Outcome, Received: true})
	}
}
