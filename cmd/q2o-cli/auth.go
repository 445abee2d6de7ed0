package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"
	"github.com/spf13/cobra"

	"github.com/q2o/q2o/cmd/q2o-cli/internal/apiclient"
)

func newLoginCmd(e *env) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in with a code mailed to you, and keep the session",
		Long: `Asks for your sign-in email (unless --email gives it), mails you a 6-digit
code, asks for it, and stores the session token in your config directory
(q2o/credentials.json, readable by you alone). Later commands use it when
neither --api-key nor Q2O_API_KEY is set.`,
		Example: `  q2o-cli login --url https://q2o.example`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			stored, _ := loadCredentials()
			c, err := newClient(e.baseURL(stored), "")
			if err != nil {
				return err
			}
			in := bufio.NewReader(e.stdin)
			if email == "" {
				fmt.Fprint(e.stderr, "Email: ")
				line, err := in.ReadString('\n')
				if err != nil && line == "" {
					return &exitError{code: exitUsage, msg: "no email given"}
				}
				email = strings.TrimSpace(line)
			}
			if _, err := c.api.RequestOTPWithResponse(ctx, apiclient.RequestOTPJSONRequestBody{Email: openapi_types.Email(email)}); err != nil {
				if errors.Is(err, openapi_types.ErrValidationEmail) {
					return &exitError{code: exitUsage, msg: fmt.Sprintf("%q is not an email address", email)}
				}
				return err
			}
			fmt.Fprintf(e.stderr, "A sign-in code was mailed to %s.\nCode: ", email)
			line, err := in.ReadString('\n')
			if err != nil && line == "" {
				return &exitError{code: exitUsage, msg: "no code given"}
			}
			s, _, err := answer(c.api.VerifyOTPWithResponse(ctx, apiclient.VerifyOTPJSONRequestBody{
				Email: openapi_types.Email(email), Code: strings.TrimSpace(line)}))
			if err != nil {
				return err
			}
			p, err := saveCredentials(credentials{URL: c.base, Token: s.Token, Email: email, ExpiresAt: s.ExpiresAt})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Signed in as %s until %s (session kept in %s)\n", email, s.ExpiresAt.UTC().Format(time.RFC3339), p)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "your sign-in email (asked for when absent)")
	return cmd
}

func newLogoutCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "End the stored session and forget it",
		Example: "  q2o-cli logout",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stored, err := loadCredentials()
			if err != nil {
				return err
			}
			if stored == nil {
				fmt.Fprintln(e.stdout, "Not signed in.")
				return nil
			}
			c, err := newClient(e.baseURL(stored), stored.Token)
			if err != nil {
				return err
			}
			_, err = c.api.LogoutWithResponse(cmd.Context())
			var ae *apiError
			if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusUnauthorized) {
				return err // an expired session is forgotten all the same
			}
			p, _ := credentialsPath()
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			fmt.Fprintln(e.stdout, "Signed out.")
			return nil
		},
	}
}

func newWhoamiCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show the tenant, plan, subscription and quotas of the credential",
		Example: "  q2o-cli whoami\n  q2o-cli whoami --output json | jq .plan",
		Args:    cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client, _ []string) error {
			p, raw, err := answer(c.api.GetProfileWithResponse(ctx))
			if err != nil {
				return err
			}
			return e.print(raw, func() {
				runs := fmt.Sprintf("%d used this month, no limit", p.RunQuota.UsedThisMonth)
				if p.RunQuota.MonthlyLimit != nil {
					runs = fmt.Sprintf("%d of %d used this month", p.RunQuota.UsedThisMonth, *p.RunQuota.MonthlyLimit)
				}
				e.table([]string{"FIELD", "VALUE"}, [][]string{
					{"tenant", p.Name + " (" + p.Id.String() + ")"},
					{"email", string(p.Email)},
					{"plan", fmt.Sprintf("%s (%s), %d concurrent runs", p.Plan.Name, p.Plan.Code, p.Plan.MaxConcurrentRuns)},
					{"subscription", string(p.Subscription.Status)},
					{"codes", fmt.Sprintf("%d of %d used this month, %d left", p.CodeQuota.UsedThisMonth, p.CodeQuota.MonthlyLimit, p.CodeQuota.Remaining)},
					{"runs", runs},
				})
			})
		}),
	}
}
