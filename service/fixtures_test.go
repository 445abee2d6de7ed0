package service

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// newTestService returns a Service on a database of the test's own, with no
// outbox sender (tasks stay in the outbox table).
func newTestService(t *testing.T) *Service {
	t.Helper()
	s := New(Deps{DB: testenv.Postgres(t), OutputRoot: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(s.Wait)
	return s
}

// newTestTenant creates a tenant on the starter plan with the given
// subscription status.
func newTestTenant(t *testing.T, s *Service, status models.SubscriptionStatus) uuid.UUID {
	t.Helper()
	tn, err := s.CreateTenant(context.Background(), NewTenant{Name: "T", Email: "svc-" + uuid.NewString()[:8] + "@example.com",
		Plan: "starter", SubscriptionStatus: string(status)})
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// newTestProject creates a project of the tenant, with no code.
func newTestProject(t *testing.T, s *Service, tenantID uuid.UUID, name string) models.Project {
	t.Helper()
	desc, obj := "a tool for "+name, "ship it"
	p, err := s.CreateProject(context.Background(), tenantID, NewProject{Name: &name, Description: &desc, Objectives: &obj})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestCode makes one activation code for the tenant.
func newTestCode(t *testing.T, s *Service, tenantID uuid.UUID, in NewCodes) IssuedCode {
	t.Helper()
	in.Count = 1
	codes, err := s.IssueActivationCodes(context.Background(), tenantID, in)
	if err != nil {
		t.Fatal(err)
	}
	return codes[0]
}

// newReadyProject creates a project with a fresh code assigned, ready to RUN.
func newReadyProject(t *testing.T, s *Service, tenantID uuid.UUID, name string) (models.Project, IssuedCode) {
	t.Helper()
	p := newTestProject(t, s, tenantID, name)
	c := newTestCode(t, s, tenantID, NewCodes{})
	p, err := s.AssignActivationCode(context.Background(), tenantID, p.ID, c.Code)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// exec runs SQL that sets up a case, failing the test on error.
func exec(t *testing.T, s *Service, sql string, args ...any) {
	t.Helper()
	if err := s.DB.Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
