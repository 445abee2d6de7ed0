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
	tenant.POST("/billing/upgrade", s.upgradePlan(b), s.requireTenant)
	tenant.POST("/billing/portal", s.billingPortal(b), s.requireTenant)
}

// upgradePlan answers {"checkout_url"} for a first subscription, or the
// billing page after the plan change.
func (s *Server) upgradePlan(b Billing) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in struct {
			Plan string `json:"plan"`
		}
		if err := decode(c, &in); err != nil {
			return err
		}
		res, err := b.Upgrade(c.Request().Context(), tenantID(c), in.Plan)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, res)
	}
}

// billingPortal answers {"url"} of a Stripe Customer Portal session.
func (s *Server) billingPortal(b Billing) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := b.Portal(c.Request().Context(), tenantID(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"url": u})
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

// stripeWebhook answers a Stripe delivery: 200 once the event is recorded
// (applied, stale, ignored or a redelivery), 400 with a stable code for a bad
// signature or body (nothing changed), 413 for a body over 64 KiB, 5xx when
// the database fails (Stripe delivers it again later).
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
		return c.JSON(http.StatusOK, map[string]any{"received": true, "outcome": res.Outcome, "duplicate": res.Duplicate})
	}
}
