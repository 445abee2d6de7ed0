package main

// q2o admin stripe-event: a signed Stripe subscription event for one tenant,
// sent to a running API's webhook, so an operator (or `make run`'s demo) can
// watch a subscription turn past_due and back without a Stripe account or the
// stripe CLI.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"gorm.io/gorm"

	"github.com/q2o/q2o/configs"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/models"
)

// stripeEventCmd builds `q2o admin stripe-event`.
func stripeEventCmd(load func() (configs.Config, error)) *cobra.Command {
	var email, status, url string
	cmd := &cobra.Command{
		Use:   "stripe-event",
		Short: "Send a signed customer.subscription event for a tenant to the API's Stripe webhook",
		Long: "Send the API's webhook (POST <url>/api/webhooks/stripe) a customer.subscription event\n" +
			"for the tenant with --email, with --status, signed with Q2O_STRIPE_WEBHOOK_SECRET, as\n" +
			"Stripe would. The first event for a tenant with no Stripe subscription is\n" +
			"customer.subscription.created for a new sub_q2o_… id (linked through metadata\n" +
			"tenant_id); later ones are customer.subscription.updated for the linked id.\n" +
			"Prints the webhook's answer; fails unless it is 2xx.\n" +
			"It reads Q2O_DATABASE_URL, Q2O_STRIPE_WEBHOOK_SECRET and Q2O_PUBLIC_URL or Q2O_HTTP_ADDR, as the API does.\n" + configs.Usage(configs.Admin|configs.API),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if cfg.StripeWebhookSecret == "" {
				return errors.New("Q2O_STRIPE_WEBHOOK_SECRET is not set: the API's webhook is off, and there is nothing to sign with")
			}
			if st := models.SubscriptionStatus(status); !st.Valid() || st == models.SubSuspended {
				return fmt.Errorf("--status %q is not a Stripe subscription status (%s)", status, stripeStatuses())
			}
			if url == "" {
				url = apiURL(cfg)
			}
			gdb, err := db.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer db.Close(gdb)
			payload, err := subscriptionEvent(cmd.Context(), gdb, email, models.SubscriptionStatus(status), time.Now())
			if err != nil {
				return err
			}
			return postSigned(cmd.Context(), cmd.OutOrStdout(), url, payload, cfg.StripeWebhookSecret)
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the tenant's contact email (required)")
	cmd.Flags().StringVar(&status, "status", "", "the subscription's new status, e.g. past_due or active (required)")
	cmd.Flags().StringVar(&url, "url", "", "the API's base URL (default: Q2O_PUBLIC_URL, else http://localhost and the port of Q2O_HTTP_ADDR)")
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("status")
	return cmd
}

// apiURL is where this machine reaches the API the settings describe.
func apiURL(cfg configs.Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimRight(cfg.PublicURL, "/")
	}
	host, port := "localhost", "8080"
	if i := strings.LastIndex(cfg.HTTPAddr, ":"); i >= 0 {
		if h := cfg.HTTPAddr[:i]; h != "" && h != "0.0.0.0" && h != "[::]" {
			host = h
		}
		port = cfg.HTTPAddr[i+1:]
	}
	return "http://" + host + ":" + port
}

// subscriptionEvent is the Stripe event JSON that moves the tenant's
// subscription to status: about its linked subscription when it has one,
// otherwise the creation of a new one that names the tenant in its metadata.
func subscriptionEvent(ctx context.Context, gdb *gorm.DB, email string, status models.SubscriptionStatus, now time.Time) ([]byte, error) {
	var t models.Tenant
	err := gdb.WithContext(ctx).Where("lower(email) = lower(?)", strings.TrimSpace(email)).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("no tenant has the email %q", email)
	} else if err != nil {
		return nil, err
	}
	var sub models.Subscription
	if err := gdb.WithContext(ctx).Where("tenant_id = ?", t.ID).Take(&sub).Error; err != nil {
		return nil, err
	}
	short := strings.ReplaceAll(t.ID.String(), "-", "")[:14]
	typ, subID := "customer.subscription.updated", ""
	if sub.StripeSubscriptionID != nil {
		subID = *sub.StripeSubscriptionID
	} else {
		typ, subID = "customer.subscription.created", "sub_q2o_"+short
	}
	customer := "cus_q2o_" + short
	if t.StripeCustomerID != nil {
		customer = *t.StripeCustomerID
	}
	object := map[string]any{
		"id": subID, "object": "subscription", "customer": customer, "status": string(status),
		"created": now.Unix(), "cancel_at_period_end": false,
		"current_period_start": now.Unix(), "current_period_end": now.AddDate(0, 1, 0).Unix(),
		"metadata": map[string]string{"tenant_id": t.ID.String()},
	}
	return json.Marshal(map[string]any{
		"id": "evt_q2o_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:24], "object": "event",
		"api_version": stripe.APIVersion, "created": now.Unix(), "type": typ, "livemode": false,
		"pending_webhooks": 1, "data": map[string]any{"object": object},
		"request": map[string]any{"id": nil, "idempotency_key": nil},
	})
}

// postSigned posts payload to the webhook with a Stripe-Signature made with
// secret, and prints the answer.
func postSigned(ctx context.Context, out io.Writer, base string, payload []byte, secret string) error {
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/api/webhooks/stripe", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", sig.Header)
	client := &http.Client{Timeout: 15 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post the event: %w (is the API running at %s?)", err, base)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	fmt.Fprintf(out, "%s %s\n", res.Status, bytes.TrimSpace(body))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", res.Status)
	}
	return nil
}

// stripeStatuses lists the statuses Stripe sends: every known one but
// suspended, which only an operator sets.
func stripeStatuses() string {
	var out []string
	for _, st := range models.SubscriptionStatuses {
		if st != models.SubSuspended {
			out = append(out, string(st))
		}
	}
	return strings.Join(out, ", ")
}
