package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/q2o/q2o/db"
)

// PrivatePostgres is a Postgres server of the test's own (initdb and pg_ctl
// on a free port), for tests that take the database away: the shared server
// is never stopped.
type PrivatePostgres struct {
	t            testing.TB
	bin, dir     string
	port         int
	URL          string
	asPostgresOS bool
}

// StartPrivatePostgres creates, starts and migrates a private server, and
// removes it when the test ends. It needs Debian's postgresql binaries
// (/usr/lib/postgresql/*/bin); as root it runs them as the postgres user.
func StartPrivatePostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	if len(dirs) == 0 {
		t.Fatal("no /usr/lib/postgresql/*/bin: install Debian's postgresql")
	}
	p := &PrivatePostgres{t: t, bin: dirs[len(dirs)-1], asPostgresOS: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "q2o-private-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	if p.asPostgresOS {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("private Postgres as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.run("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	p.Start()
	t.Cleanup(func() {
		p.Stop()
		_ = os.RemoveAll(dir)
	})
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/q2o?sslmode=disable", p.port)
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

func (p *PrivatePostgres) run(prog string, args ...string) {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, prog), args...)
	if p.asPostgresOS {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, prog)}, args...)...)
	}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", prog, err, out)
	}
}

// Start starts the server (again) and waits until it accepts connections.
func (p *PrivatePostgres) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "pg.log"), "-w", "-t", "30",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir), "start")
}

// Stop stops the server at once (immediate mode: like a crash, connections
// are cut).
func (p *PrivatePostgres) Stop() {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "-w", "stop")
	if p.asPostgresOS {
		cmd = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "-w", "stop")
	}
	cmd.Dir = "/"
	_ = cmd.Run()
	time.Sleep(50 * time.Millisecond)
}
