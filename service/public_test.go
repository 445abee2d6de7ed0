package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// clock lets a test move the service's time.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestOpenClientSession(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	clk := &clock{now: time.Now().UTC().Truncate(time.Microsecond)}
	s.Now = clk.Now
	ctx := context.Background()
	tn := newTestTenant(t, s, models.SubActive)
	p, code := newReadyProject(t, s, tn, "client app")

	cs, err := s.OpenClientSession(ctx, strings.ToLower(code.Code))
	if err != nil {
		t.Fatal(err)
	}
	if prefix, ok := parseToken(cs.Token, clientSessionPrefix); !ok || !strings.HasPrefix(cs.Token, "q2c_") || cs.ProjectID != p.ID ||
		!cs.ExpiresAt.Equal(clk.now.Add(ClientSessionTTL)) {
		t.Fatalf("session %+v (prefix %q, %v)", cs, prefix, ok)
	}
	// Only the hash is kept.
	var row models.ClientSession
	if err := s.DB.Where("project_id = ?", p.ID).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if !equalHash(row.TokenHash, hashSecret(cs.Token)) ||
		row.ActivationCodeID != code.ID || !strings.HasPrefix(cs.Token, "q2c_"+row.Prefix+"_") {
		t.Errorf("stored row %+v", row)
	}

	// The token opens its project wherever a code does.
	if got, err := s.ProjectByCode(ctx, cs.Token); err != nil || got.ID != p.ID {
		t.Errorf("ProjectByCode(token) = %v, %v", got.ID, err)
	}
	if got, err := s.ProjectForCode(ctx, p.ID, cs.Token); err != nil || got.ID != p.ID {
		t.Errorf("ProjectForCode(token) = %v, %v", got.ID, err)
	}
	if pp, err := s.ActivateProject(ctx, cs.Token); err != nil || pp.ID != p.ID || pp.Name != "client app" {
		t.Errorf("ActivateProject(token) = %+v, %v", pp, err)
	}
	if _, err := s.OpenDownload(ctx, p.ID, cs.Token); models.ErrorCode(err) != "project_not_completed" {
		t.Errorf("OpenDownload(token) before a run: %v", err)
	}

	// Every wrong token is the same not_found.
	other, _ := newReadyProject(t, s, tn, "other")
	notFound := func(what string, err error) {
		t.Helper()
		if err != ErrPublicNotFound {
			t.Errorf("%s: %v, want not_found", what, err)
		}
	}
	_, err = s.ProjectForCode(ctx, other.ID, cs.Token)
	notFound("another project", err)
	for _, bad := range []string{"q2c_", "q2c_abcdefgh_short", cs.Token[:len(cs.Token)-1] + "x", cs.Token + "x",
		"q2c_zzzzzzzz_" + strings.Repeat("a", 32), strings.Replace(cs.Token, "q2c_", "q2s_", 1)} {
		if bad == cs.Token {
			continue
		}
		_, err := s.ProjectByCode(ctx, bad)
		notFound("token "+bad, err)
		_, err = s.ActivateProject(ctx, bad)
		notFound("activate "+bad, err)
	}
	// A session token does not open a session.
	_, err = s.OpenClientSession(ctx, cs.Token)
	notFound("a session from a session", err)

	// It lasts ClientSessionTTL.
	clk.now = clk.now.Add(ClientSessionTTL - time.Second)
	if _, err := s.ProjectByCode(ctx, cs.Token); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	clk.now = clk.now.Add(time.Second)
	_, err = s.ProjectByCode(ctx, cs.Token)
	notFound("at expiry", err)
	_, err = s.OpenDownload(ctx, p.ID, cs.Token)
	notFound("download at expiry", err)

	// A new session sweeps the project's expired ones.
	if _, err := s.OpenClientSession(ctx, code.Code); err != nil {
		t.Fatal(err)
	}
	var n int64
	s.DB.Model(&models.ClientSession{}).Where("project_id = ?", p.ID).Count(&n)
	if n != 1 {
		t.Errorf("%d sessions of the project, want only the new one", n)
	}
}

// A session opens its project only while its code still does; and exactly
// where ActivateProject refuses a code, OpenClientSession does.
func TestClientSessionFollowsItsCode(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	ctx := context.Background()
	tn := newTestTenant(t, s, models.SubActive)
	open := func(code string) ClientSession {
		t.Helper()
		cs, err := s.OpenClientSession(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	cases := []struct {
		name string
		end  func(p models.Project, c IssuedCode) // makes the code stop opening the project
	}{
		{"code revoked", func(_ models.Project, c IssuedCode) {
			if _, err := s.RevokeActivationCode(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		}},
		{"code expired", func(_ models.Project, c IssuedCode) {
			exec(t, s, "UPDATE activation_codes SET expires_at = now() - interval '1 second' WHERE id = ?", c.ID)
		}},
		{"project deleted", func(p models.Project, _ IssuedCode) {
			if err := s.DeleteProject(ctx, tn, p.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		p, code := newReadyProject(t, s, tn, c.name)
		cs := open(code.Code)
		c.end(p, code)
		if _, err := s.ProjectForCode(ctx, p.ID, cs.Token); err != ErrPublicNotFound {
			t.Errorf("%s: session still opens the project: %v", c.name, err)
		}
		if _, err := s.ActivateProject(ctx, cs.Token); err != ErrPublicNotFound {
			t.Errorf("%s: ActivateProject(session) = %v", c.name, err)
		}
		_, aErr := s.ActivateProject(ctx, code.Code)
		_, oErr := s.OpenClientSession(ctx, code.Code)
		if aErr != ErrPublicNotFound || oErr != ErrPublicNotFound {
			t.Errorf("%s: ActivateProject %v, OpenClientSession %v; want both not_found", c.name, aErr, oErr)
		}
	}
	for _, bad := range []string{"", "   ", "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", "q2c_"} {
		_, aErr := s.ActivateProject(ctx, bad)
		_, oErr := s.OpenClientSession(ctx, bad)
		if aErr != ErrPublicNotFound || oErr != ErrPublicNotFound {
			t.Errorf("%q: ActivateProject %v, OpenClientSession %v", bad, aErr, oErr)
		}
	}
	// An unassigned code opens nothing.
	free := newTestCode(t, s, tn, NewCodes{})
	if _, err := s.OpenClientSession(ctx, free.Code); err != ErrPublicNotFound {
		t.Errorf("unassigned code: %v", err)
	}
}

// A multi-use code opens every project it is assigned to; a session opened
// with it opens only the one ProjectByCode names.
func TestClientSessionOneProject(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	ctx := context.Background()
	tn := newTestTenant(t, s, models.SubActive)
	code := newTestCode(t, s, tn, NewCodes{MaxUses: 2})
	older, newer := newTestProject(t, s, tn, "older"), newTestProject(t, s, tn, "newer")
	for _, p := range []models.Project{older, newer} {
		if _, err := s.AssignActivationCode(ctx, tn, p.ID, code.Code); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ProjectForCode(ctx, older.ID, code.Code); err != nil {
		t.Fatalf("the code opens the older project: %v", err)
	}
	cs, err := s.OpenClientSession(ctx, code.Code)
	if err != nil || cs.ProjectID != newer.ID {
		t.Fatalf("session %+v, %v; want the newer project", cs, err)
	}
	if _, err := s.ProjectForCode(ctx, older.ID, cs.Token); err != ErrPublicNotFound {
		t.Errorf("the session opens the older project too: %v", err)
	}
}

func TestLatestCompletedExecution(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	ctx := context.Background()
	tn := newTestTenant(t, s, models.SubActive)
	p, _ := newReadyProject(t, s, tn, "runs")
	run := func(status models.ExecutionStatus) uuid.UUID {
		t.Helper()
		r, err := s.StartRun(ctx, tn, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, s, "UPDATE executions SET status = ? WHERE id = ?", status, r.ExecutionID)
		exec(t, s, "UPDATE projects SET execution_status = ? WHERE id = ?", status, p.ID)
		return r.ExecutionID
	}
	latest := func() *models.Execution {
		t.Helper()
		e, err := s.LatestCompletedExecution(ctx, tn, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := latest(); e != nil {
		t.Fatalf("before any run: %+v", e)
	}
	run(models.StatusFailed)
	if e := latest(); e != nil {
		t.Fatalf("after a failed run: %+v", e)
	}
	first := run(models.StatusCompleted)
	run(models.StatusFailed)
	run(models.StatusPaused)
	if e := latest(); e == nil || e.ID != first || e.Status != models.StatusCompleted {
		t.Fatalf("after completed, failed, paused: %+v, want %s", e, first)
	}
	second := run(models.StatusCompleted)
	if _, err := s.StartRun(ctx, tn, p.ID); err != nil { // a run going on now changes nothing
		t.Fatal(err)
	}
	if e := latest(); e == nil || e.ID != second {
		t.Fatalf("after a second completed run: %+v, want %s", e, second)
	}
	for name, id := range map[string]uuid.UUID{"unknown": models.NewID(), "another tenant's": p.ID} {
		tenant := tn
		if name == "another tenant's" {
			tenant = newTestTenant(t, s, models.SubActive)
		}
		if e, err := s.LatestCompletedExecution(ctx, tenant, id); models.ErrorCode(err) != "project_not_found" || e != nil {
			t.Errorf("%s project: %+v, %v", name, e, err)
		}
	}
}
