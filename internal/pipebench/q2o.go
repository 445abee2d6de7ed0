package pipebench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildQ2O builds bin/q2o's package into dir and returns the binary's path.
// It must run inside the q2o module (make, go test).
func BuildQ2O(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "q2o")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/q2o/q2o/cmd/q2o")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build q2o: %v\n%s", err, out)
	}
	return bin, nil
}

const adminToken = "bench-admin-token"

// stack is a real `q2o api` and `q2o worker`, each a process of its own, on
// the private Postgres and Redis.
type stack struct {
	dir, bin    string
	pg          *postgres
	rds         *redisServer
	env         []string
	api, worker *proc
	apiURL      string
	http        *http.Client
	key         string
	tenantID    string
	codes       []string
}

func (s *stack) environ(dbRole string) []string {
	env := append([]string{}, s.env...)
	return append(env, "Q2O_DATABASE_URL="+s.pg.urlAs(dbRole))
}

// q2o runs a q2o command to its end and returns its standard output.
func (s *stack) q2o(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.environ("postgres")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("q2o %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// proc is a started q2o process; done closes when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (s *stack) start(name, role string) (*proc, error) {
	log, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, name)
	cmd.Env = s.environ(role)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("q2o %s: %w", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.done) }()
	return p, nil
}

// startStack migrates, creates the tenant with codes activation codes and
// starts the api and the worker, waiting until both are up.
func startStack(ctx context.Context, o Options, dir, bin string, pg *postgres, rds *redisServer, codes int) (*stack, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &stack{dir: dir, bin: bin, pg: pg, rds: rds, apiURL: fmt.Sprintf("http://127.0.0.1:%d", port),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for _, kv := range os.Environ() { // none of the caller's q2o settings
		if !strings.HasPrefix(kv, "Q2O_") {
			s.env = append(s.env, kv)
		}
	}
	sandbox := "off"
	if o.Sandbox {
		sandbox = "on"
	}
	s.env = append(s.env, "Q2O_REDIS_URL="+rds.url(0), "Q2O_HTTP_ADDR="+strings.TrimPrefix(s.apiURL, "http://"),
		"Q2O_ADMIN_TOKEN="+adminToken, "Q2O_OUTPUT_ROOT="+filepath.Join(dir, "output"), "Q2O_RUNNER="+o.runnerLine,
		"Q2O_SANDBOX="+sandbox, "Q2O_WORKER_CONCURRENCY="+strconv.Itoa(o.Concurrency), "Q2O_LOG_LEVEL=warn")
	if _, err := s.q2o(ctx, "migrate"); err != nil {
		return nil, err
	}
	// The pro plan runs 10 at once: no fewer than the worker's slots.
	if _, err := pg.conn.Exec(ctx, "UPDATE plans SET max_concurrent_runs = greatest(max_concurrent_runs, $1) WHERE code = 'pro'", o.Concurrency); err != nil {
		return nil, err
	}
	stacks++ // each stack its own tenant: the email is unique
	out, err := s.q2o(ctx, "admin", "create-tenant", "--name", "Bench", "--email", fmt.Sprintf("bench%d@example.com", stacks), "--plan", "pro",
		"--status", "active", "--codes", strconv.Itoa(min(codes, maxCodesPerCall)))
	if err != nil {
		return nil, err
	}
	var tenant struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
		Codes  []struct {
			Code string `json:"code"`
		} `json:"codes"`
	}
	if err := json.Unmarshal(out, &tenant); err != nil {
		return nil, fmt.Errorf("create-tenant's answer: %w", err)
	}
	s.key, s.tenantID = tenant.APIKey, tenant.ID
	for _, c := range tenant.Codes {
		s.codes = append(s.codes, c.Code)
	}
	if s.api, err = s.start("api", roleAPI); err != nil {
		return nil, err
	}
	if s.worker, err = s.start("worker", roleWorker); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.waitUp(ctx); err != nil {
		s.stop()
		return nil, err
	}
	for len(s.codes) < codes {
		var more struct {
			Codes []struct {
				Code string `json:"code"`
			} `json:"codes"`
		}
		body := map[string]int{"count": min(codes-len(s.codes), maxCodesPerCall), "max_uses": 1}
		if err := s.post(ctx, "/api/admin/tenants/"+tenant.ID+"/activation-codes", adminToken, body, &more); err != nil {
			s.stop()
			return nil, err
		}
		for _, c := range more.Codes {
			s.codes = append(s.codes, c.Code)
		}
	}
	return s, nil
}

// stacks counts the stacks started, for their tenants' emails.
var stacks int

// maxCodesPerCall is how many activation codes one request may make.
const maxCodesPerCall = 100

func (s *stack) waitUp(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for ; ; time.Sleep(100 * time.Millisecond) {
		for name, p := range map[string]*proc{"api": s.api, "worker": s.worker} {
			select {
			case <-p.done:
				log, _ := os.ReadFile(filepath.Join(s.dir, name+".log"))
				return fmt.Errorf("q2o %s exited: %s", name, log)
			default:
			}
		}
		var workers int
		_ = s.pg.conn.QueryRow(ctx, "SELECT count(*) FROM workers").Scan(&workers)
		resp, err := s.http.Get(s.apiURL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK && workers > 0 {
			time.Sleep(time.Second) // the worker's servers settle
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("api or worker not up after 60 s (logs in %s)", s.dir)
		}
	}
}

func (s *stack) stop() {
	for _, p := range []*proc{s.api, s.worker} {
		if p != nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range []*proc{s.api, s.worker} {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	s.api, s.worker = nil, nil
}

// call sends one tenant request and decodes the answer into out.
func (s *stack) call(ctx context.Context, path string, body, out any) error {
	return s.post(ctx, path, s.key, body, out)
}

func (s *stack) post(ctx context.Context, path, token string, body, out any) error {
	return s.send(ctx, http.MethodPost, path, token, body, out)
}

func (s *stack) send(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.apiURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// newProjects creates n projects, each with its activation code, ready to RUN.
func (s *stack) newProjects(ctx context.Context, n int) ([]string, error) {
	if len(s.codes) < n {
		return nil, fmt.Errorf("%d activation codes left, %d projects wanted", len(s.codes), n)
	}
	ids := make([]string, n)
	err := parallel(n, 4, func(i int) error {
		var p struct {
			ID string `json:"id"`
		}
		body := map[string]string{"name": fmt.Sprintf("bench %d", i), "description": "benchmark", "objectives": "none"}
		if err := s.call(ctx, "/api/tenant/projects", body, &p); err != nil {
			return err
		}
		ids[i] = p.ID
		return s.call(ctx, "/api/tenant/projects/"+p.ID+"/assign-activation-code", map[string]string{"code": s.codes[i]}, nil)
	})
	s.codes = s.codes[n:]
	return ids, err
}

// runAll presses RUN on every project (clients at once) and waits until
// every run is completed and its zip recorded. It returns the executions.
func (s *stack) runAll(ctx context.Context, projects []string, clients int, timeout time.Duration) ([]string, error) {
	execs := make([]string, len(projects))
	err := parallel(len(projects), clients, func(i int) error {
		var r struct {
			ExecutionID string `json:"execution_id"`
		}
		if err := s.call(ctx, "/api/tenant/projects/"+projects[i]+"/run", nil, &r); err != nil {
			return err
		}
		execs[i] = r.ExecutionID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return execs, s.waitZipped(ctx, execs, timeout)
}

func (s *stack) waitZipped(ctx context.Context, execs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for ; ; time.Sleep(50 * time.Millisecond) { // rarely: this query costs Postgres CPU too
		var zipped, failed int
		err := s.pg.conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'completed' AND zip_path IS NOT NULL),
			count(*) FILTER (WHERE status NOT IN ('pending', 'running', 'completed'))
			FROM executions WHERE id = ANY($1::uuid[])`, execs).Scan(&zipped, &failed)
		if err != nil {
			return err
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d runs did not complete (worker log in %s)", failed, len(execs), s.dir)
		}
		if zipped == len(execs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d runs zipped after %s (logs in %s)", zipped, len(execs), timeout, s.dir)
		}
	}
}

// runTimes is one run's timestamps from the executions table; zipped is
// when its zip was recorded (its `zipped` event).
type runTimes struct{ queued, started, finished, zipped time.Time }

func (s *stack) times(ctx context.Context, execs []string) ([]runTimes, error) {
	rows, err := s.pg.conn.Query(ctx, `SELECT e.queued_at, e.started_at, e.finished_at,
		coalesce((SELECT min(v.created_at) FROM execution_events v WHERE v.execution_id = e.id AND v.kind = 'zipped'), e.updated_at)
		FROM executions e WHERE e.id = ANY($1::uuid[])`, execs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runTimes
	for rows.Next() {
		var t runTimes
		if err := rows.Scan(&t.queued, &t.started, &t.finished, &t.zipped); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// parallel calls f(0..n-1) on at most k goroutines; the first error wins.
func parallel(n, k int, f func(i int) error) error {
	var (
		mu   sync.Mutex
		next int
		ferr error
		wg   sync.WaitGroup
	)
	for range min(k, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := ferr != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if ferr == nil {
						ferr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ferr
}
