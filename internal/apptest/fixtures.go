package apptest

// Fixtures made through the service's own methods, for service-level tests
// (and any test that wants a row without going through HTTP).

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// CreateTenant makes a tenant on the starter plan with this subscription
// status and returns its id.
func CreateTenant(t testing.TB, svc *service.Service, status models.SubscriptionStatus) uuid.UUID {
	t.Helper()
	tn, err := svc.CreateTenant(context.Background(), service.NewTenant{Name: "Tenant " + string(status),
		Email: "fixture-" + uuid.NewString()[:13] + "@example.com", Plan: "starter", SubscriptionStatus: string(status)})
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// CreateReadyProject makes a project of the tenant with a fresh activation
// code assigned: ready to RUN.
func CreateReadyProject(t testing.TB, svc *service.Service, tenantID uuid.UUID, name string) models.Project {
	t.Helper()
	ctx := context.Background()
	desc, obj := "a tool for "+name, "ship it"
	p, err := svc.CreateProject(ctx, tenantID, service.NewProject{Name: &name, Description: &desc, Objectives: &obj})
	if err != nil {
		t.Fatal(err)
	}
	codes, err := svc.IssueActivationCodes(ctx, tenantID, service.NewCodes{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p, err = svc.AssignActivationCode(ctx, tenantID, p.ID, codes[0].Code); err != nil {
		t.Fatal(err)
	}
	return p
}

// WantCode fails the test unless err is a models error with this code.
func WantCode(t testing.TB, err error, code string) {
	t.Helper()
	e, ok := models.AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}
