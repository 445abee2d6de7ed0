package service

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

func TestOTPVerifyValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		email, code, want, field string
	}{
		{"ops@example.com", "123456", "", ""},
		{"  Ops@Example.COM ", " 000000 ", "", ""},
		{"", "123456", "missing_field", "email"},
		{"ops", "123456", "invalid_email", "email"},
		{"Ops <ops@example.com>", "123456", "invalid_email", "email"},
		{strings.Repeat("a", 250) + "@example.com", "123456", "invalid_email", "email"},
		{"ops@example.com", "", "missing_field", "code"},
		{"ops@example.com", "12345", "invalid_code_format", "code"},
		{"ops@example.com", "1234567", "invalid_code_format", "code"},
		{"ops@example.com", "12 456", "invalid_code_format", "code"},
		{"ops@example.com", "+12345", "invalid_code_format", "code"},
		{"ops@example.com", "١٢٣٤٥٦", "invalid_code_format", "code"},
	}
	for _, c := range cases {
		in := OTPVerify{Email: c.email, Code: c.code}
		err := in.Validate()
		e, _ := models.AsError(err)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q %q: %v", c.email, c.code, err)
		case c.want == "" && (in.Email != "ops@example.com" || len(in.Code) != 6):
			t.Errorf("%q %q normalised to %q %q", c.email, c.code, in.Email, in.Code)
		case c.want != "" && (e == nil || e.Code != c.want || e.Field != c.field):
			t.Errorf("%q %q: %v, want %s on %s", c.email, c.code, err, c.want, c.field)
		}
	}
}

func TestCheckOTP(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tenant := uuid.New()
	live := func(mut func(*models.OTPCode)) *models.OTPCode {
		r := &models.OTPCode{TenantID: tenant, CodeHash: hashOTP(tenant, "424242"), ExpiresAt: now.Add(time.Minute)}
		mut(r)
		return r
	}
	cases := []struct {
		name string
		row  *models.OTPCode
		code string
		want otpVerdict
	}{
		{"right code", live(func(*models.OTPCode) {}), "424242", otpGood},
		{"right code, four wrong tries before", live(func(r *models.OTPCode) { r.Attempts = 4 }), "424242", otpGood},
		{"wrong code", live(func(*models.OTPCode) {}), "424243", otpWrong},
		{"burnt: right code refused", live(func(r *models.OTPCode) { r.Attempts = OTPMaxAttempts }), "424242", otpRefused},
		{"burnt: wrong code not counted", live(func(r *models.OTPCode) { r.Attempts = OTPMaxAttempts }), "000000", otpRefused},
		{"expired", live(func(r *models.OTPCode) { r.ExpiresAt = now.Add(-time.Second) }), "424242", otpRefused},
		{"expires exactly now", live(func(r *models.OTPCode) { r.ExpiresAt = now }), "424242", otpRefused},
		{"no code", &models.OTPCode{}, "424242", otpRefused},
		{"another tenant's hash", live(func(r *models.OTPCode) { r.TenantID = uuid.New() }), "424242", otpWrong},
	}
	for _, c := range cases {
		if got := checkOTP(c.row, c.code, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNewOTPIsSixDigits(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 2000 {
		c := newOTP()
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 1990 { // ~2 collisions expected among 2000 of 10^6
		t.Errorf("only %d distinct codes in 2000", len(seen))
	}
}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	tok, prefix := newSessionToken()
	if p, ok := parseSessionToken(tok); !ok || p != prefix || !strings.HasPrefix(tok, "q2s_") || len(tok) != 4+8+1+32 {
		t.Errorf("token %q prefix %q", tok, prefix)
	}
	if _, ok := parseAPIKey(tok); ok {
		t.Error("a session token parses as an API key")
	}
	for _, bad := range []string{"", "q2s_", "q2s_abcdefgh", "q2s_abcdefgh_short", "q2o_abcdefgh_" + strings.Repeat("a", 32)} {
		if _, ok := parseSessionToken(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// blockingMailer holds every Send until released.
type blockingMailer struct {
	release chan struct{}
	mu      sync.Mutex
	sent    []string
}

func (m *blockingMailer) Send(ctx context.Context, to, subject, body string) error {
	select {
	case <-m.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to+"\n"+body)
	return nil
}

func newAuthService(t *testing.T) (*Service, *testenv.SyncBuffer, string) {
	t.Helper()
	var logs testenv.SyncBuffer
	s := New(Deps{DB: testenv.Postgres(t), OutputRoot: t.TempDir(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(s.Wait)
	email := "Svc-" + uuid.NewString()[:8] + "@Example.com"
	if _, err := s.CreateTenant(context.Background(), NewTenant{Name: "T", Email: email, Plan: "starter", SubscriptionStatus: "active"}); err != nil {
		t.Fatal(err)
	}
	return s, &logs, email
}

// RequestOTP answers before the mail goes: its time does not depend on the
// SMTP server, nor on whether the email is known.
func TestRequestOTPAnswersBeforeTheMail(t *testing.T) {
	t.Parallel()
	s, _, email := newAuthService(t)
	m := &blockingMailer{release: make(chan struct{})}
	s.Mailer = m
	done := make(chan error, 1)
	go func() { done <- s.RequestOTP(context.Background(), OTPRequest{Email: email}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a deadlock guard, not a speed goal
		t.Fatal("RequestOTP waits for the SMTP server")
	}
	close(m.release)
	s.Wait()
	if len(m.sent) != 1 || !strings.HasPrefix(m.sent[0], email+"\n") || !regexp.MustCompile(`\b\d{6}\b`).MatchString(m.sent[0]) {
		t.Errorf("sent %q", m.sent)
	}
}

// Without a Mailer (no Q2O_SMTP_HOST) the code goes to the log, and works.
func TestRequestOTPWithoutMailerLogsTheCode(t *testing.T) {
	t.Parallel()
	s, logs, email := newAuthService(t)
	ctx := context.Background()
	if err := s.RequestOTP(ctx, OTPRequest{Email: strings.ToLower(email)}); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	m := regexp.MustCompile(`code=(\d{6})`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no code in the log:\n%s", logs.String())
	}
	sess, err := s.VerifyOTP(ctx, OTPVerify{Email: email, Code: m[1]})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := s.Authenticate(ctx, sess.Token)
	if err != nil || tenant == uuid.Nil {
		t.Fatalf("Authenticate(models.TenantSession) = %v, %v", tenant, err)
	}
	if err := s.Logout(ctx, sess.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, sess.Token); models.ErrorCode(err) != "unauthorized" {
		t.Errorf("after logout: %v", err)
	}
}
