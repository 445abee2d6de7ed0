package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
			c := newClient(e.baseURL(stored), "")
			in := bufio.NewReader(e.stdin)
			if email == "" {
				fmt.Fprint(e.stderr, "Email: ")
				line, err := in.ReadString('\n')
				if err != nil && line == "" {
					return &exitError{code: exitUsage, msg: "no email given"}
				}
				email = strings.TrimSpace(line)
			}
			if _, err := c.do(ctx, http.MethodPost, "/api/auth/otp/request", map[string]string{"email": email}); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "A sign-in code was mailed to %s.\nCode: ", email)
			line, err := in.ReadString('\n')
			if err != nil && line == "" {
				return &exitError{code: exitUsage, msg: "no code given"}
			}
			var s struct {
				Token     string    `json:"token"`
				ExpiresAt time.Time `json:"expires_at"`
			}
			if _, err := c.call(ctx, http.MethodPost, "/api/auth/otp/verify",
				map[string]string{"email": email, "code": strings.TrimSpace(line)}, &s); err != nil {
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
		Use:   "logout",
		Short: "End the stored session and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stored, err := loadCredentials()
			if err != nil {
				return err
			}
			if stored == nil {
				fmt.Fprintln(e.stdout, "Not signed in.")
				return nil
			}
			c := newClient(e.baseURL(stored), stored.Token)
			_, err = c.do(cmd.Context(), http.MethodPost, "/api/auth/logout", nil)
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

// profile is the part of GET /api/tenant/profile that whoami shows.
type profile struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Plan  struct {
		Code              string `json:"code"`
		Name              string `json:"name"`
		MaxConcurrentRuns int    `json:"max_concurrent_runs"`
	} `json:"plan"`
	Subscription struct {
		Status           string  `json:"status"`
		CurrentPeriodEnd *string `json:"current_period_end"`
	} `json:"subscription"`
	CodeQuota struct {
		MonthlyLimit int `json:"monthly_limit"`
		Used         int `json:"used_this_month"`
		Remaining    int `json:"remaining"`
	} `json:"code_quota"`
	RunQuota struct {
		MonthlyLimit *int `json:"monthly_limit"`
		Used         int  `json:"used_this_month"`
	} `json:"run_quota"`
}

func newWhoamiCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show the tenant, plan, subscription and quotas of the credential",
		Example: "  q2o-cli whoami\n  q2o-cli whoami --output json | jq .plan",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var p profile
			raw, err := c.getJSON(cmd.Context(), "/api/tenant/profile", &p)
			if err != nil {
				return err
			}
			if e.json() {
				return e.printJSON(raw)
			}
			runs := fmt.Sprintf("%d used this month, no limit", p.RunQuota.Used)
			if p.RunQuota.MonthlyLimit != nil {
				runs = fmt.Sprintf("%d of %d used this month", p.RunQuota.Used, *p.RunQuota.MonthlyLimit)
			}
			e.table([]string{"FIELD", "VALUE"}, [][]string{
				{"tenant", p.Name + " (" + p.ID + ")"},
				{"email", p.Email},
				{"plan", fmt.Sprintf("%s (%s), %d concurrent runs", p.Plan.Name, p.Plan.Code, p.Plan.MaxConcurrentRuns)},
				{"subscription", p.Subscription.Status},
				{"codes", fmt.Sprintf("%d of %d used this month, %d left", p.CodeQuota.Used, p.CodeQuota.MonthlyLimit, p.CodeQuota.Remaining)},
				{"runs", runs},
			})
			return nil
		},
	}
}
