package service

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

func TestNewActivationCode(t *testing.T) {
	t.Parallel()
	if len(codeAlphabet) != 32 || strings.ContainsAny(codeAlphabet, "01OI") {
		t.Fatalf("alphabet %q: want 32 symbols without 0, O, 1, I", codeAlphabet)
	}
	if bits := float64(codeLength) * math.Log2(float64(len(codeAlphabet))); bits < 80 {
		t.Fatalf("%d characters of %d symbols carry %.0f bits, want at least 80", codeLength, len(codeAlphabet), bits)
	}
	const n = 10000
	seen := make(map[string]bool, n)
	counts := map[rune]int{}
	for i := 0; i < n; i++ {
		code := newActivationCode()
		groups := strings.Split(code, "-")
		if len(groups) != 4 {
			t.Fatalf("code %q: want four dash-separated groups", code)
		}
		for _, g := range groups {
			if len(g) != 5 {
				t.Fatalf("code %q: want groups of five", code)
			}
			for _, r := range g {
				if !strings.ContainsRune(codeAlphabet, r) {
					t.Fatalf("code %q: %q is not in the alphabet", code, r)
				}
				counts[r]++
			}
		}
		if seen[code] {
			t.Fatalf("code %q made twice in %d", code, i+1)
		}
		seen[code] = true
	}
	// Every symbol is used, none far off its fair share (200,000 draws, 6,250
	// each; a fair generator stays within a few percent).
	if len(counts) != len(codeAlphabet) {
		t.Errorf("%d of %d symbols used", len(counts), len(codeAlphabet))
	}
	for r, c := range counts {
		if c < 5500 || c > 7000 {
			t.Errorf("symbol %q drawn %d times of 200000, want about 6250", r, c)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	t.Parallel()
	code := newActivationCode()
	plain := strings.ReplaceAll(code, "-", "")
	for _, typed := range []string{
		code,
		plain,
		strings.ToLower(code),
		strings.ToLower(plain),
		"  " + strings.ReplaceAll(code, "-", " ") + "\n",
	} {
		if got := normalizeCode(typed); got != plain {
			t.Errorf("normalizeCode(%q) = %q, want %q", typed, got, plain)
		}
		if !equalHash(hashCode(typed), hashCode(code)) {
			t.Errorf("hashCode(%q) differs from the code's hash", typed)
		}
	}
	if equalHash(hashCode(code), hashCode(newActivationCode())) {
		t.Error("two codes share a hash")
	}
	if hint := codeHint(code); hint != "…"+plain[16:] || strings.Contains(hint, plain[:16]) {
		t.Errorf("codeHint(%q) = %q, want only the last four characters", code, hint)
	}
}

func TestQuotaMonth(t *testing.T) {
	t.Parallel()
	est := time.FixedZone("EST", -5*3600)
	cases := []struct {
		now         time.Time
		month, next string
	}{
		{time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), "2026-11-01", "2026-12-01"},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), "2026-12-01", "2027-01-01"},
		// 20:00 EST on 31 January is 1 February in UTC.
		{time.Date(2027, 1, 31, 20, 0, 0, 0, est), "2027-02-01", "2027-03-01"},
	}
	for _, c := range cases {
		m, n := quotaMonth(c.now)
		if m.Format(time.DateOnly) != c.month || n.Format(time.DateOnly) != c.next || m.Location() != time.UTC {
			t.Errorf("quotaMonth(%s) = %s, %s; want %s, %s", c.now, m, n, c.month, c.next)
		}
	}
}

func TestCodeStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	past := now.Add(-time.Minute)
	cases := []struct {
		c    models.ActivationCode
		want string
	}{
		{models.ActivationCode{MaxUses: 1}, CodeAvailable},
		{models.ActivationCode{MaxUses: 1, UseCount: 1}, CodeUsedUp},
		{models.ActivationCode{MaxUses: 1, ExpiresAt: &past}, CodeExpired},
		{models.ActivationCode{MaxUses: 1, UseCount: 1, RevokedAt: &past}, CodeRevoked},
	}
	for _, c := range cases {
		if got := codeStatus(&c.c, now); got != c.want {
			t.Errorf("codeStatus(%+v) = %q, want %q", c.c, got, c.want)
		}
	}
}

func TestProfileFieldChecks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		check     func(string) (string, error)
		in        string
		want, err string
	}{
		{profilePhone, "+14155550123", "+14155550123", ""},
		{profilePhone, "+44 (20) 7946-0958", "+442079460958", ""},
		{profilePhone, "+1234567", "+1234567", ""},
		{profilePhone, "+123456", "", "invalid_phone"},
		{profilePhone, "+1234567890123456", "", "invalid_phone"},
		{profilePhone, "14155550123", "", "invalid_phone"},
		{profilePhone, "+04155550123", "", "invalid_phone"},
		{profilePhone, "+1415555O123", "", "invalid_phone"},
		{profilePhone, "++14155550123", "", "invalid_phone"},
		{profileLogoURL, "https://cdn.example.com/logo.png?v=2", "https://cdn.example.com/logo.png?v=2", ""},
		{profileLogoURL, "http://localhost:8080/l.svg", "http://localhost:8080/l.svg", ""},
		{profileLogoURL, "ftp://example.com/logo.png", "", "invalid_url"},
		{profileLogoURL, "/logo.png", "", "invalid_url"},
		{profileLogoURL, "example.com/logo.png", "", "invalid_url"},
		{profileLogoURL, "https://", "", "invalid_url"},
		{profileLogoURL, "https://user:pw@example.com/logo.png", "", "invalid_url"},
		{profileLogoURL, "javascript:alert(1)", "", "invalid_url"},
		{profileLogoURL, "https://example.com/a b.png", "", "invalid_url"},
		{profileLogoURL, "https://example.com/" + strings.Repeat("a", 2048), "", "invalid_url"},
		{profileColor, "#1a2B3c", "#1A2B3C", ""},
		{profileColor, "1A2B3C", "", "invalid_color"},
		{profileColor, "#1A2B3", "", "invalid_color"},
		{profileColor, "#1A2B3G", "", "invalid_color"},
		{profileColor, "#1A2B3C\n", "", "invalid_color"},
		{profileColor, "red", "", "invalid_color"},
		{profileDomain, "Portal.Example.COM", "portal.example.com", ""},
		{profileDomain, "xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{profileDomain, "a-b.c1.io", "a-b.c1.io", ""},
		{profileDomain, "https://example.com", "", "invalid_domain"},
		{profileDomain, "example.com:8080", "", "invalid_domain"},
		{profileDomain, "example.com/path", "", "invalid_domain"},
		{profileDomain, "localhost", "", "invalid_domain"},
		{profileDomain, "10.0.0.1", "", "invalid_domain"},
		{profileDomain, "-a.example.com", "", "invalid_domain"},
		{profileDomain, "a-.example.com", "", "invalid_domain"},
		{profileDomain, "a..example.com", "", "invalid_domain"},
		{profileDomain, "example.com.", "", "invalid_domain"},
		{profileDomain, "under_score.example.com", "", "invalid_domain"},
		{profileDomain, "bücher.example", "", "invalid_domain"},
		{profileDomain, strings.Repeat("a", 64) + ".com", "", "invalid_domain"},
		{profileDomain, strings.Repeat("abcdefghi.", 26) + "com", "", "invalid_domain"},
	}
	for _, c := range cases {
		got, err := c.check(c.in)
		if code := models.ErrorCode(err); code != c.err || got != c.want {
			t.Errorf("%q: %q, %q; want %q, %q", c.in, got, code, c.want, c.err)
		}
	}
}

// The SQL filter of each status (codeStatusWhere) keeps exactly the codes
// that codeStatus names so (or, for assigned, the codes with a project), on
// codes in every state and at the edges of expiry.
func TestCodeStatusFilterAgreesWithCodeStatus(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 123456000, time.UTC) // microseconds: what Postgres keeps
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	tn := newTestTenant(t, s, models.SubActive)
	code := func(maxUses int, sql string, args ...any) uuid.UUID {
		t.Helper()
		c := newTestCode(t, s, tn, NewCodes{MaxUses: maxUses})
		if sql != "" {
			exec(t, s, "UPDATE activation_codes SET "+sql+" WHERE id = ?", append(args, c.ID)...)
		}
		return c.ID
	}
	assign := func(codeID uuid.UUID) {
		t.Helper()
		p := newTestProject(t, s, tn, "p")
		exec(t, s, "UPDATE projects SET activation_code_id = ? WHERE id = ?", codeID, p.ID)
		exec(t, s, "UPDATE activation_codes SET use_count = use_count + 1 WHERE id = ?", codeID)
	}
	code(1, "")                                                                         // available
	assign(code(1, ""))                                                                 // used up, assigned
	assign(code(2, ""))                                                                 // available, assigned
	code(1, "expires_at = ?::timestamptz - interval '1 second'", now)                   // expired
	code(1, "expires_at = ?", now)                                                      // expires exactly now: expired
	code(1, "expires_at = ?::timestamptz + interval '1 microsecond'", now)              // available
	code(1, "revoked_at = ?", now)                                                      // revoked
	code(1, "revoked_at = ?, expires_at = ?::timestamptz - interval '1 day'", now, now) // revoked and expired: revoked
	assign(code(1, "expires_at = ?::timestamptz - interval '1 day'", now))              // expired and used up: expired
	revokedUsed := code(1, "")
	assign(revokedUsed)
	exec(t, s, "UPDATE activation_codes SET revoked_at = ? WHERE id = ?", now, revokedUsed) // revoked, assigned
	newTestCode(t, s, newTestTenant(t, s, models.SubActive), NewCodes{})                    // another tenant's

	all, err := s.ActivationCodes(ctx, tn, CodeListQuery{PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	if all.Total != 10 {
		t.Fatalf("%d codes, want 10", all.Total)
	}
	in := func(v CodeView, status string) bool {
		if status == CodeAssigned {
			return len(v.Projects) > 0
		}
		return v.Status == status
	}
	seen := map[string]bool{}
	for _, status := range codeStatuses {
		page, err := s.ActivationCodes(ctx, tn, CodeListQuery{PerPage: 100, Status: status})
		if err != nil {
			t.Fatalf("%s: %v", status, err)
		}
		var want []uuid.UUID
		for _, v := range all.Items {
			if in(v, status) {
				want = append(want, v.ID)
			}
			seen[v.Status] = true
		}
		var got []uuid.UUID
		for _, v := range page.Items {
			got = append(got, v.ID)
		}
		if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) || page.Total != int64(len(want)) {
			t.Errorf("status %s: SQL filter %v (total %d), codeStatus %v", status, got, page.Total, want)
		}
	}
	for _, st := range []string{CodeAvailable, CodeUsedUp, CodeExpired, CodeRevoked} {
		if !seen[st] {
			t.Errorf("no code in state %s: the test does not cover it", st)
		}
	}
	if len(codeStatusWhere) != len(codeStatuses) {
		t.Errorf("%d SQL filters for %d statuses", len(codeStatusWhere), len(codeStatuses))
	}

	for _, bad := range []string{"bogus", "USED_UP", "assigned ", "unassigned"} {
		_, err := s.ActivationCodes(ctx, tn, CodeListQuery{Status: bad})
		if e, _ := models.AsError(err); e == nil || e.Code != "invalid_status" || e.Field != "status" || e.Kind != models.KindInvalid {
			t.Errorf("status %q: %v", bad, err)
		}
	}

	// AvailableCodes: the available ones, newest first.
	avail, err := s.AvailableCodes(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	var want []CodeView
	for _, v := range all.Items {
		if v.Status == CodeAvailable {
			want = append(want, v)
		}
	}
	if len(avail) != 3 || len(avail) != len(want) {
		t.Fatalf("AvailableCodes: %d codes, want 3", len(avail))
	}
	for i := range avail {
		if avail[i].ID != want[i].ID || avail[i].Status != CodeAvailable || (i > 0 && avail[i].CreatedAt.After(avail[i-1].CreatedAt)) {
			t.Errorf("AvailableCodes[%d] = %+v, want %+v", i, avail[i], want[i])
		}
	}
}

// AvailableCodes stops at 100 codes, the newest.
func TestAvailableCodesAtMost100(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	ctx := context.Background()
	tn := newTestTenant(t, s, models.SubActive)
	for range 2 {
		if _, err := s.IssueActivationCodes(ctx, tn, NewCodes{Count: 100}); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, s, "UPDATE activation_codes SET revoked_at = now() WHERE id IN (SELECT id FROM activation_codes WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT 50)", tn)
	avail, err := s.AvailableCodes(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	if len(avail) != 100 {
		t.Fatalf("%d codes, want 100", len(avail))
	}
	for _, v := range avail {
		if v.Status != CodeAvailable {
			t.Errorf("code %s is %s", v.ID, v.Status)
		}
	}
}
