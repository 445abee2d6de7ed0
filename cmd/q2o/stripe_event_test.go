package main

import (
	"strings"
	"testing"

	"github.com/q2o/q2o/internal/testenv"
)

// q2o admin stripe-event refuses, saying why: no webhook secret to sign
// with, a status Stripe never sends (suspended is an operator's), and an
// email no tenant has. The journey test (TestRunDemoJourney) sends real ones.
func TestStripeEventRefusals(t *testing.T) {
	t.Setenv("Q2O_DATABASE_URL", testenv.DatabaseURL(t))
	for _, tc := range []struct {
		name, secret, status, want string
	}{
		{"no secret", "", "past_due", "Q2O_STRIPE_WEBHOOK_SECRET is not set"},
		{"an operator's status", "whsec_test", "suspended", `--status "suspended" is not a Stripe subscription status`},
		{"an unknown status", "whsec_test", "late", `--status "late" is not a Stripe subscription status (active, trialing, past_due`},
		{"an unknown email", "whsec_test", "past_due", `no tenant has the email "nobody@example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("Q2O_STRIPE_WEBHOOK_SECRET", tc.secret)
			cmd := newRootCmd()
			cmd.SetArgs([]string{"admin", "stripe-event", "--email", "nobody@example.com", "--status", tc.status, "--url", "http://127.0.0.1:1"})
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}
