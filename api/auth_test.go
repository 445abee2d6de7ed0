package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/ratelimit"
)

// These tests sign in through a real SMTP server, mailpit (Q2O_TEST_SMTP_ADDR,
// its API at Q2O_TEST_MAILPIT_URL; `make test` starts it).

const mailWait = 10 * time.Second

// otpTenant creates a tenant with a unique email (mixed case, as a tenant may
// type it) and returns its email and API key.
func otpTenant(t *testing.T, a *apptest.App) (email, key string) {
	t.Helper()
	email = "OTP-" + uuid.NewString()[:13] + "@Example.com"
	m := apptest.Decode[apptest.CreatedTenant](t, http.StatusCreated, a.Do("POST", "/api/admin/tenants", apptest.AdminToken,
		map[string]any{"name": "OTP tenant", "email": email, "plan": "starter", "subscription_status": "active"}))
	return email, m.APIKey
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// mailedCode waits for the n-th sign-in mail to email and returns its code.
func mailedCode(t *testing.T, email string, n int) string {
	t.Helper()
	mails := apptest.WaitMails(t, email, n, mailWait)
	code := sixDigits.FindString(mails[0].Text)
	if code == "" {
		t.Fatalf("no 6-digit code in the mail: %q", mails[0].Text)
	}
	return code
}

// requestCode asks for a code (as the tenant might type the address: lower
// case) and returns it from the mail.
func requestCode(t *testing.T, a *apptest.App, email string, n int) string {
	t.Helper()
	a.Must(http.StatusAccepted, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": strings.ToLower(email)}))
	return mailedCode(t, email, n)
}

// otpSetup starts an app with a tenant that signs in with its email, and
// returns the code mailed to it.
func otpSetup(t *testing.T) (a *apptest.App, email, code string) {
	t.Helper()
	a = apptest.New(t, apptest.Options{})
	email, _ = otpTenant(t, a)
	return a, email, requestCode(t, a, email, 1)
}

func verify(a *apptest.App, email, code string) apptest.Response {
	return a.Do("POST", "/api/auth/otp/verify", "", map[string]any{"email": email, "code": code})
}

func wantError(t *testing.T, r apptest.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.ErrorCode(t) != code {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
}

// POST /api/auth/otp/verify, by the status each request gets: 200 signs in
// with a session token that works like an API key until logout or expiry;
// 401 for a wrong, burnt, expired, used or replaced code.
func TestOTPVerify(t *testing.T) {
	t.Parallel()
	t.Run("200", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		email, key := otpTenant(t, a)
		project := a.Project(key, "signed in")
		_, otherKey := otpTenant(t, a)
		otherProject := a.Project(otherKey, "not mine")

		r := a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": strings.ToLower(email)})
		if m := apptest.Decode[apptest.Accepted](t, http.StatusAccepted, r); m.Status != "accepted" {
			t.Errorf("request answer %s", r.Body)
		}
		mails := apptest.WaitMails(t, email, 1, mailWait)
		msg := mails[0]
		if len(msg.To) != 1 || msg.To[0] != email || msg.From != "no-reply@q2o.test" || !strings.Contains(msg.Subject, "sign-in code") {
			t.Errorf("mail: to %v from %q subject %q", msg.To, msg.From, msg.Subject)
		}
		code := sixDigits.FindString(msg.Text)
		if code == "" {
			t.Fatalf("no code in %q", msg.Text)
		}

		// The code is kept only as a hash, bound to the tenant.
		hashed := apptest.CountTable(t, a.DB, "otp_codes", "code_hash = sha256(convert_to('otp:' || tenant_id::text || ':' || ?, 'UTF8'))", code)
		rows := apptest.CountTable(t, a.DB, "otp_codes", "expires_at BETWEEN now() + interval '9 minutes' AND now() + interval '11 minutes'")
		if hashed != 1 || rows != 1 {
			t.Errorf("otp_codes: %d rows match the code's hash, %d expire in about 10 min; want 1 and 1", hashed, rows)
		}

		r = verify(a, email, code)
		sess := apptest.Decode[apptest.Session](t, http.StatusOK, r)
		token, exp := sess.Token, sess.ExpiresAt
		if !strings.HasPrefix(token, "q2s_") || len(token) < 30 || time.Until(exp) < 11*time.Hour || time.Until(exp) > 13*time.Hour {
			t.Fatalf("verify answer %s", r.Body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		stored := apptest.CountTable(t, a.DB, "sessions", "token_hash = sha256(convert_to(?, 'UTF8'))", token)
		plain := rowsHolding(t, a, "sessions", token[13:]) // the part after q2s_<prefix>_
		if stored != 1 || plain != 0 {
			t.Errorf("sessions: %d rows match the token's hash (want 1), %d hold its plaintext (want 0)", stored, plain)
		}

		// The token works like an API key, on the tenant's own things only.
		if p := a.GetProject(token, project); p.ID.String() != project {
			t.Errorf("project %+v", p)
		}
		wantError(t, a.Do("GET", "/api/tenant/projects/"+otherProject, token, nil), http.StatusNotFound, "project_not_found")

		// Logout ends it.
		if r := a.Do("POST", "/api/auth/logout", token, nil); r.Status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		wantError(t, a.Do("GET", "/api/tenant/projects/"+project, token, nil), http.StatusUnauthorized, "unauthorized")
		wantError(t, a.Do("POST", "/api/auth/logout", token, nil), http.StatusUnauthorized, "unauthorized")
		// The API key is untouched.
		a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+project, key, nil))

		// A session past its expiry answers 401 as well.
		code = requestCode(t, a, email, 2)
		token = apptest.Decode[apptest.Session](t, http.StatusOK, verify(a, email, code)).Token
		a.GetProject(token, project)
		apptest.SetTable(t, a.DB, "sessions", "expires_at", gorm.Expr("now() - interval '1 second'"), "token_hash = sha256(convert_to(?, 'UTF8'))", token)
		// Expired behind the API's back (a session's own expiry ends its
		// cache entry on time): refused within the cache's bound.
		refusedWithin(t, "a session past its expiry", func() apptest.Response {
			return a.Do("GET", "/api/tenant/projects/"+project, token, nil)
		})
		// A forged token of the right shape answers 401.
		wantError(t, a.Do("GET", "/api/tenant/projects/"+project, token[:len(token)-1]+"x", nil), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("401_wrong_code_burns_it", func(t *testing.T) {
		t.Parallel()
		a, email, code := otpSetup(t)
		n, _ := strconv.Atoi(code)
		for i := 1; i <= 5; i++ {
			wrong := fmt.Sprintf("%06d", (n+i)%1_000_000)
			wantError(t, verify(a, email, wrong), http.StatusUnauthorized, "invalid_code")
		}
		// Burnt: the right code fails too.
		wantError(t, verify(a, email, code), http.StatusUnauthorized, "invalid_code")
		var attempts int
		a.DB.Raw("SELECT attempts FROM otp_codes").Scan(&attempts)
		if attempts != 5 {
			t.Errorf("attempts %d, want 5", attempts)
		}
		// A new code works again.
		code = requestCode(t, a, email, 2)
		a.Must(http.StatusOK, verify(a, email, code))
	})
	t.Run("401_concurrent_wrong_tries", func(t *testing.T) {
		t.Parallel()
		a, email, code := otpSetup(t)
		n, _ := strconv.Atoi(code)
		// Eight wrong tries at once (under the per-email limit of 10): each is
		// refused and counted, none slips past the five.
		answers := race(t, a, 8, func(i int) call {
			return call{"POST", "/api/auth/otp/verify", "", map[string]any{"email": email, "code": fmt.Sprintf("%06d", (n+i+1)%1_000_000)}}
		})
		for i, r := range answers {
			if r.Status != http.StatusUnauthorized || r.ErrorCode(t) != "invalid_code" {
				t.Errorf("wrong try %d: %d %s, want 401 invalid_code", i+1, r.Status, r.Body)
			}
		}
		var attempts int
		a.DB.Raw("SELECT attempts FROM otp_codes").Scan(&attempts)
		if attempts < 5 {
			t.Errorf("%d tries counted after 8 wrong ones, want at least the 5 that burn the code", attempts)
		}
		wantError(t, verify(a, email, code), http.StatusUnauthorized, "invalid_code")
	})
	t.Run("401_expired", func(t *testing.T) {
		t.Parallel()
		a, email, code := otpSetup(t)
		apptest.SetTable(t, a.DB, "otp_codes", "expires_at", gorm.Expr("now() - interval '1 second'"), "true")
		wantError(t, verify(a, email, code), http.StatusUnauthorized, "invalid_code")
	})
	t.Run("401_single_use", func(t *testing.T) {
		t.Parallel()
		a, email, code := otpSetup(t)
		a.Must(http.StatusOK, verify(a, email, code))
		wantError(t, verify(a, email, code), http.StatusUnauthorized, "invalid_code")
	})
	t.Run("401_replaced_by_a_new_request", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		email, _ := otpTenant(t, a)
		first := requestCode(t, a, email, 1)
		second := requestCode(t, a, email, 2)
		if first != second {
			wantError(t, verify(a, email, first), http.StatusUnauthorized, "invalid_code")
		}
		a.Must(http.StatusOK, verify(a, email, second))
	})
}

// POST /api/auth/otp/request answers 202 the same for an unknown email and
// a known one (mailing only the known).
func TestOTPRequest(t *testing.T) {
	t.Parallel()
	t.Run("202_unknown_email", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		known, _ := otpTenant(t, a)
		unknown := "nobody-" + uuid.NewString()[:13] + "@example.com"

		rKnown := a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": known})
		rUnknown := a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": unknown})
		if rKnown.Status != http.StatusAccepted || rUnknown.Status != http.StatusAccepted || !bytes.Equal(rKnown.Body, rUnknown.Body) {
			t.Fatalf("known: %d %s; unknown: %d %s", rKnown.Status, rKnown.Body, rUnknown.Status, rUnknown.Body)
		}
		apptest.WaitMails(t, known, 1, mailWait)
		a.Svc.Wait() // every background send has ended
		if got := apptest.Mails(t, unknown); len(got) != 0 {
			t.Errorf("%d mails sent to an unknown address", len(got))
		}
		if n := apptest.CountTable(t, a.DB, "otp_codes", ""); n != 1 {
			t.Errorf("%d codes stored, want 1 (the known email's)", n)
		}
		// Verify answers an unknown email exactly as a wrong code.
		wantError(t, verify(a, unknown, "123456"), http.StatusUnauthorized, "invalid_code")
	})
}

func TestOTP429(t *testing.T) {
	t.Parallel()
	retryAfter := func(t *testing.T, r apptest.Response) {
		t.Helper()
		wantError(t, r, http.StatusTooManyRequests, "rate_limited")
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	t.Run("request_per_email", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		email, _ := otpTenant(t, a)
		for i := 0; i < 5; i++ {
			a.Must(http.StatusAccepted, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": email}))
		}
		// The same address in another case is the same bucket.
		retryAfter(t, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": strings.ToUpper(email)}))
		// Another address is not limited by this one.
		a.Must(http.StatusAccepted, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": "other@example.com"}))
	})
	t.Run("request_per_ip", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		spend(t, a, ratelimit.OTPPerIP, "127.0.0.1", 18)
		for i := 18; i < 20; i++ {
			a.Must(http.StatusAccepted, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": fmt.Sprintf("ip-%d@example.com", i)}))
		}
		retryAfter(t, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": "ip-20@example.com"}))
	})
	t.Run("verify_per_email", func(t *testing.T) {
		t.Parallel()
		a, email, code := otpSetup(t)
		for i := 0; i < 10; i++ {
			wantError(t, verify(a, email, "000000"), http.StatusUnauthorized, "invalid_code")
		}
		// Over the limit, even the right code waits (and the code is burnt anyway).
		retryAfter(t, verify(a, email, code))
	})
}

func TestAuth400And401And405(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cases := []struct {
		name, path, body, code, field string
	}{
		{"request: no body", "/api/auth/otp/request", "", "invalid_json", ""},
		{"request: missing email", "/api/auth/otp/request", `{}`, "missing_field", "email"},
		{"request: blank email", "/api/auth/otp/request", `{"email":"  "}`, "missing_field", "email"},
		{"request: not an email", "/api/auth/otp/request", `{"email":"not an email"}`, "invalid_email", "email"},
		{"request: a display name", "/api/auth/otp/request", `{"email":"Ops <ops@example.com>"}`, "invalid_email", "email"},
		{"request: email a number", "/api/auth/otp/request", `{"email":5}`, "invalid_type", "email"},
		{"request: unknown field", "/api/auth/otp/request", `{"email":"a@example.com","x":1}`, "unknown_field", "x"},
		{"verify: missing email", "/api/auth/otp/verify", `{"code":"123456"}`, "missing_field", "email"},
		{"verify: bad email", "/api/auth/otp/verify", `{"email":"@example.com","code":"123456"}`, "invalid_email", "email"},
		{"verify: missing code", "/api/auth/otp/verify", `{"email":"a@example.com"}`, "missing_field", "code"},
		{"verify: five digits", "/api/auth/otp/verify", `{"email":"a@example.com","code":"12345"}`, "invalid_code_format", "code"},
		{"verify: seven digits", "/api/auth/otp/verify", `{"email":"a@example.com","code":"1234567"}`, "invalid_code_format", "code"},
		{"verify: letters", "/api/auth/otp/verify", `{"email":"a@example.com","code":"12a456"}`, "invalid_code_format", "code"},
		{"verify: non-ASCII digits", "/api/auth/otp/verify", `{"email":"a@example.com","code":"١٢٣٤٥٦"}`, "invalid_code_format", "code"},
		{"verify: code a number", "/api/auth/otp/verify", `{"email":"a@example.com","code":123456}`, "invalid_type", "code"},
	}
	for _, c := range cases {
		r := a.Do("POST", c.path, "", c.body)
		if r.Status != http.StatusBadRequest || r.ErrorCode(t) != c.code {
			t.Errorf("%s: got %d %s, want 400 %s", c.name, r.Status, r.Body, c.code)
			continue
		}
		if f := r.Err(t).Field; f != c.field {
			t.Errorf("%s: field %q, want %q", c.name, f, c.field)
		}
	}
	// Logout wants a live session token: nothing, an API key or junk is a 401.
	tn := a.NewTenant("active")
	for _, token := range []string{"", tn.Key, "q2s_junk", "q2s_abcdefgh_" + strings.Repeat("a", 32)} {
		wantError(t, a.Do("POST", "/api/auth/logout", token, nil), http.StatusUnauthorized, "unauthorized")
	}
	// Wrong methods are 405s, not 404s.
	wantError(t, a.Do("GET", "/api/auth/otp/request", "", nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestOTPSecretsStayOutOfTheLog(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	a := apptest.New(t, apptest.Options{LogTo: &logs})
	email, key := otpTenant(t, a)
	project := a.Project(key, "logged")

	a.Must(http.StatusAccepted, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": "nobody-" + uuid.NewString()[:8] + "@example.com"}))
	code := requestCode(t, a, email, 1)
	n, _ := strconv.Atoi(code)
	wantError(t, verify(a, email, fmt.Sprintf("%06d", (n+1)%1_000_000)), http.StatusUnauthorized, "invalid_code")
	token := apptest.Decode[apptest.Session](t, http.StatusOK, verify(a, email, code)).Token
	a.GetProject(token, project)
	if r := a.Do("POST", "/api/auth/logout", token, nil); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	wantError(t, a.Do("GET", "/api/tenant/projects/"+project, token, nil), http.StatusUnauthorized, "unauthorized")
	a.Svc.Wait()

	out := logs.String()
	if !strings.Contains(out, "sign-in code sent") || !strings.Contains(out, "/api/auth/otp/verify") {
		t.Fatalf("the log capture missed the sign-in; got:\n%s", out)
	}
	secret := token[strings.LastIndexByte(token, '_')+1:]
	// The code stands alone (a timestamp's or an id's digits may hold the
	// same six by chance); the token's parts are long enough to search as is.
	if regexp.MustCompile(`(^|\D)` + code + `(\D|$)`).MatchString(out) {
		t.Errorf("the OTP code %s is in the log:\n%s", code, out)
	}
	for what, s := range map[string]string{"session token": token, "token secret": secret} {
		if strings.Contains(out, s) {
			t.Errorf("the %s %q is in the log:\n%s", what, s, out)
		}
	}
}
