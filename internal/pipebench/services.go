package pipebench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/internal/privatepg"
)

// The database roles the api and the worker connect as, so that
// pg_stat_statements (which keeps statements by role) tells them apart from
// each other and from the benchmark's own queries (as postgres).
const (
	roleAPI    = "bench_api"
	roleWorker = "bench_worker"
)

// postgres is the private Postgres with pg_stat_statements loaded.
type postgres struct {
	srv  *privatepg.Server
	conn *pgx.Conn // as postgres, on the q2o database
}

func startPostgres(ctx context.Context) (*postgres, error) {
	srv, err := privatepg.New("shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=top",
		"pg_stat_statements.max=10000", "max_connections=200")
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		srv.Remove()
		return nil, err
	}
	p := &postgres{srv: srv}
	admin, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		p.stop()
		return nil, err
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		"CREATE DATABASE q2o",
		"CREATE ROLE " + roleAPI + " SUPERUSER LOGIN",
		"CREATE ROLE " + roleWorker + " SUPERUSER LOGIN",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			p.stop()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	if p.conn, err = pgx.Connect(ctx, srv.URL("q2o")); err != nil {
		p.stop()
		return nil, err
	}
	if _, err := p.conn.Exec(ctx, "CREATE EXTENSION pg_stat_statements"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// urlAs is the q2o database's URL for role.
func (p *postgres) urlAs(role string) string {
	return strings.Replace(p.srv.URL("q2o"), "postgres@", role+"@", 1)
}

func (p *postgres) cpu() time.Duration {
	pid, err := p.srv.PID()
	if err != nil {
		return 0
	}
	return treeCPU(pid)
}

func (p *postgres) stop() {
	if p.conn != nil {
		_ = p.conn.Close(context.Background())
	}
	p.srv.Stop()
	p.srv.Remove()
}

// sqlCounts is what Postgres counted between a reset and now, for one role.
type sqlCounts struct {
	Statements int64 `json:"statements"`   // every statement but transaction control
	Explicit   int64 `json:"transactions"` // BEGIN … COMMIT/ROLLBACK blocks
	Rollbacks  int64 `json:"rollbacks"`
}

// nextXID is the next transaction id. Only a transaction that writes takes
// one, so its delta counts the writing (committing) transactions; read-only
// and autocommit SELECTs take none. pg_stat_database's xact_commit would
// count those too, but other backends flush it only after up to 10 s idle.
func (p *postgres) nextXID(ctx context.Context) (n int64, err error) {
	err = p.conn.QueryRow(ctx, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").Scan(&n)
	return n, err
}

func (p *postgres) reset(ctx context.Context) error {
	_, err := p.conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
	return err
}

// byRole reads pg_stat_statements since the last reset, by role.
func (p *postgres) byRole(ctx context.Context) (map[string]sqlCounts, error) {
	rows, err := p.conn.Query(ctx, `SELECT r.rolname,
		coalesce(sum(s.calls) FILTER (WHERE s.query !~* '^\s*(begin|start|commit|end|rollback|savepoint|release)'), 0)::bigint,
		coalesce(sum(s.calls) FILTER (WHERE s.query ~* '^\s*(begin|start)'), 0)::bigint,
		coalesce(sum(s.calls) FILTER (WHERE s.query ~* '^\s*rollback'), 0)::bigint
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid GROUP BY r.rolname`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]sqlCounts{}
	for rows.Next() {
		var role string
		var c sqlCounts
		if err := rows.Scan(&role, &c.Statements, &c.Explicit, &c.Rollbacks); err != nil {
			return nil, err
		}
		out[role] = c
	}
	return out, rows.Err()
}

// redisServer is a private redis-server: no persistence, its own port.
type redisServer struct {
	cmd    *exec.Cmd
	addr   string
	client *redis.Client
}

func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	r.client = redis.NewClient(&redis.Options{Addr: r.addr})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r.client.Ping(ctx).Err() == nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer", r.addr)
		}
	}
}

func (r *redisServer) url(db int) string { return fmt.Sprintf("redis://%s/%d", r.addr, db) }

func (r *redisServer) cpu() time.Duration { return cpuOf(r.cmd.Process.Pid) }

func (r *redisServer) stop() {
	_ = r.client.Close()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
}

// commandStats is INFO commandstats: calls by command. The benchmark's own
// INFO, MONITOR and FLUSHALL are left out.
func (r *redisServer) commandStats(ctx context.Context) (map[string]int64, error) {
	info, err := r.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		if name == "info" || name == "monitor" || strings.HasPrefix(name, "flushall") {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		out[name] = n
	}
	return out, nil
}

// monitor counts the commands Redis runs while it is on, telling those
// clients sent (round trips, each EVALSHA one) from those scripts called.
// MONITOR costs Redis CPU, so it runs on a burst of its own.
type monitor struct {
	conn        net.Conn
	done        chan struct{}
	sent, inLua int64
}

func (r *redisServer) startMonitor() (*monitor, error) {
	conn, err := net.Dial("tcp", r.addr)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		conn.Close()
		return nil, err
	}
	m := &monitor{conn: conn, done: make(chan struct{})}
	br := bufio.NewReaderSize(conn, 1<<16)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		conn.Close()
		return nil, fmt.Errorf("MONITOR: %q %v", line, err)
	}
	go func() {
		defer close(m.done)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			// +1700000000.123456 [0 127.0.0.1:5555] "EVALSHA" … or [0 lua]
			if strings.Contains(line, " lua] ") {
				m.inLua++
			} else {
				m.sent++
			}
		}
	}()
	return m, nil
}

func (m *monitor) stop() (sent, inLua int64) {
	time.Sleep(100 * time.Millisecond) // the last lines in flight
	m.conn.Close()
	<-m.done
	return m.sent, m.inLua
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeScript writes the do-nothing main.py of the python3 case.
func writeScript(dir string) (string, error) {
	path := filepath.Join(dir, "main.py")
	return path, os.WriteFile(path, []byte("# does nothing: the benchmark measures what runs around main.py\n"), 0o644)
}

// Statement is one normalised statement's calls per run, by the role that
// ran it (pg_stat_statements keeps one entry per statement, role and
// database).
type Statement struct {
	Role   string  `json:"role"` // api, worker
	PerRun float64 `json:"calls_per_run"`
	MeanMs float64 `json:"mean_exec_ms"` // Postgres's execution time, planning left out
	Query  string  `json:"query"`        // shortened
}

// statements reads pg_stat_statements since the last reset: the api's and
// the worker's statements, transaction control included, most called first.
func (p *postgres) statements(ctx context.Context, runs int) ([]Statement, error) {
	rows, err := p.conn.Query(ctx, `SELECT r.rolname, s.calls, s.mean_exec_time, s.query FROM pg_stat_statements s
		JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname IN ($1, $2) ORDER BY s.calls DESC, r.rolname, s.query`,
		roleAPI, roleWorker)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Statement
	for rows.Next() {
		var role, query string
		var calls int64
		var mean float64
		if err := rows.Scan(&role, &calls, &mean, &query); err != nil {
			return nil, err
		}
		out = append(out, Statement{Role: strings.TrimPrefix(role, "bench_"), PerRun: float64(calls) / float64(runs),
			MeanMs: mean, Query: shorten(query, 100)})
	}
	return out, rows.Err()
}

// shorten puts a statement on one line and cuts it to at most n runes.
func shorten(q string, n int) string {
	q = strings.Join(strings.Fields(q), " ")
	if r := []rune(q); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return q
}
