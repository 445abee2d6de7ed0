package testenv

import (
	"context"
	"log/slog"
	"testing"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/privatepg"
)

// PrivatePostgres is a Postgres server of the test's own (initdb and pg_ctl
// on a free port), for tests that take the database away: the shared server
// is never stopped.
type PrivatePostgres struct {
	t   testing.TB
	srv *privatepg.Server
	URL string
}

// StartPrivatePostgres creates, starts and migrates a private server, and
// removes it when the test ends. It needs Debian's postgresql binaries
// (/usr/lib/postgresql/*/bin); as root it runs them as the postgres user.
func StartPrivatePostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	srv, err := privatepg.New()
	if err != nil {
		t.Fatal(err)
	}
	p := &PrivatePostgres{t: t, srv: srv}
	p.Start()
	t.Cleanup(func() {
		p.Stop()
		srv.Remove()
	})
	p.URL = srv.URL("q2o")
	ctx := context.Background()
	if _, err := db.CreateDatabase(ctx, p.URL); err != nil {
		t.Fatal(err)
	}
	gdb, err := db.Open(ctx, p.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	if err := db.Migrate(ctx, gdb, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start starts the server (again) and waits until it accepts connections.
func (p *PrivatePostgres) Start() {
	p.t.Helper()
	if err := p.srv.Start(); err != nil {
		p.t.Fatal(err)
	}
}

// Stop stops the server at once (immediate mode: like a crash, connections
// are cut).
func (p *PrivatePostgres) Stop() {
	p.t.Helper()
	p.srv.Stop()
}
