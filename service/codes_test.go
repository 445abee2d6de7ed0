package service

import (
	"math"
	"strings"
	"testing"
	"time"

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
