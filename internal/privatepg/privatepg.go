// Package privatepg runs a Postgres server of its own (initdb and pg_ctl on
// a free port, in a temporary folder), for tests that take the database away
// and for benchmarks that must count every statement and CPU tick: the
// shared server is never touched.
package privatepg

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Server is one private Postgres cluster. It needs Debian's postgresql
// binaries (/usr/lib/postgresql/*/bin); as root it runs them as the
// postgres user.
type Server struct {
	bin, dir     string
	port         int
	settings     []string
	asPostgresOS bool
}

// New creates a cluster (initdb, trust auth, superuser postgres) on a free
// port without starting it. Each of settings is a `name=value` server
// setting given at every start (e.g. shared_preload_libraries=…).
func New(settings ...string) (*Server, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no /usr/lib/postgresql/*/bin: install Debian's postgresql")
	}
	s := &Server{bin: dirs[len(dirs)-1], settings: settings, asPostgresOS: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "q2o-private-pg-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	if s.asPostgresOS {
		u, err := user.Lookup("postgres")
		if err != nil {
			s.Remove()
			return nil, fmt.Errorf("private Postgres as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			s.Remove()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Remove()
		return nil, err
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := s.run("initdb", "-D", s.dataDir(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		s.Remove()
		return nil, err
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(prog string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, prog), args...)
	if s.asPostgresOS {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(s.bin, prog)}, args...)...)
	}
	cmd.Dir = "/"
	return cmd
}

func (s *Server) run(prog string, args ...string) error {
	if out, err := s.command(prog, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", prog, err, out)
	}
	return nil
}

// URL is the connection URL of database name as the postgres superuser.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// Port is the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir)
	for _, kv := range s.settings {
		opts += " -c " + kv
	}
	return s.run("pg_ctl", "-D", s.dataDir(), "-l", filepath.Join(s.dir, "pg.log"), "-w", "-t", "30", "-o", opts, "start")
}

// Stop stops the server at once (immediate mode: like a crash, connections
// are cut).
func (s *Server) Stop() {
	_ = s.command("pg_ctl", "-D", s.dataDir(), "-m", "immediate", "-w", "stop").Run()
	time.Sleep(50 * time.Millisecond)
}

// PID is the postmaster's process id (the parent of every backend), from
// postmaster.pid.
func (s *Server) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// Remove deletes the cluster's folder; stop the server first.
func (s *Server) Remove() { _ = os.RemoveAll(s.dir) }
