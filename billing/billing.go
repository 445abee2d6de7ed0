// Package billing is q2o's side of Stripe: it verifies and translates webhook
// events (stripe-go v76, API version 2023-10-16) and hands them to the
// service, re-reads subscriptions from Stripe when told to, and makes the
// outgoing calls of the billing page (Checkout, plan changes, the Customer
// Portal). It is the only package that imports stripe-go.
package billing

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/q2o/q2o/service"
)

// Config is the Stripe settings.
type Config struct {
	// SecretKey is the API key for outgoing calls; empty turns them off
	// (upgrade, portal and refetch).
	SecretKey string
	// WebhookSecret is the endpoint's signing secret; empty turns the
	// webhook off.
	WebhookSecret string
	// APIBase points stripe-go at another API (stripe-mock in tests).
	APIBase string
	// Refetch re-reads a subscription from Stripe before applying an event
	// about it (needs SecretKey).
	Refetch bool
	// Proration is the proration_behavior of plan changes.
	Proration string
	// PastDueGrace delays the pause of a past_due tenant.
	PastDueGrace time.Duration
	// ReturnURL is where Checkout and the Customer Portal send the tenant back.
	ReturnURL string
	// Tolerance is how old a signature may be (stripe-go's 5 minutes when 0).
	Tolerance time.Duration
}

// Billing is Stripe for q2o.
type Billing struct {
	svc    *service.Service
	cfg    Config
	log    *slog.Logger
	stripe *client.API // nil without a secret key
}

// New returns the billing part for svc.
func New(svc *service.Service, cfg Config, log *slog.Logger) *Billing {
	b := &Billing{svc: svc, cfg: cfg, log: log.With("component", "billing")}
	if cfg.SecretKey != "" {
		hc := &http.Client{Timeout: 10 * time.Second}
		backend := func(kind stripe.SupportedBackend) stripe.Backend {
			bc := &stripe.BackendConfig{HTTPClient: hc, MaxNetworkRetries: stripe.Int64(1),
				LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError}}
			if cfg.APIBase != "" {
				bc.URL = stripe.String(strings.TrimRight(cfg.APIBase, "/"))
			}
			return stripe.GetBackendWithConfig(kind, bc)
		}
		b.stripe = client.New(cfg.SecretKey, &stripe.Backends{API: backend(stripe.APIBackend),
			Connect: backend(stripe.ConnectBackend), Uploads: backend(stripe.UploadsBackend)})
	}
	return b
}

// WebhookEnabled reports whether the webhook has a signing secret.
func (b *Billing) WebhookEnabled() bool { return b.cfg.WebhookSecret != "" }

// policy is the service's view of the billing settings.
func (b *Billing) policy() service.BillingPolicy {
	return service.BillingPolicy{PastDueGrace: b.cfg.PastDueGrace}
}
