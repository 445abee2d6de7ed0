// Package cluster drives scripts/cluster.sh, which builds a q2o fleet over
// separate hosts on this machine (network namespaces on a private bridge:
// an infra host with Postgres, Redis + replica + 3 Sentinels and the object
// store, two API hosts, three worker hosts), for the tests that take parts
// of it away. The script is the one description of the layout; this
// package reads the state it writes (cluster.env) and asks it for faults.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Workers are the worker hosts, APIs the API hosts, as the script names them.
var (
	Workers = []string{"w1", "w2", "w3"}
	APIs    = []string{"api1", "api2"}
)

// Cluster is one running cluster.
type Cluster struct {
	// Dir is its state folder: cluster.env, logs/, procs/, hosts/<host>/.
	Dir string
	env map[string]string
}

// Script is the path of scripts/cluster.sh in this checkout.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "cluster.sh")
}

// Unavailable says why no cluster can be built here ("" when one can):
// it needs root, network namespaces and bridges that really can be made,
// and the programs scripts/cluster.sh runs.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces and veth pairs)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs iproute2's ip (apt-get install iproute2)"
	}
	// Listing works anywhere; making a namespace and a bridge needs
	// CAP_SYS_ADMIN and CAP_NET_ADMIN, which a container may not grant root.
	probe := fmt.Sprintf("q2op%d", os.Getpid()%10000000)
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return fmt.Sprintf("ip netns add does not work here: %v %s", err, bytes.TrimSpace(out))
	}
	_ = exec.Command("ip", "netns", "del", probe).Run()
	if out, err := exec.Command("ip", "link", "add", probe, "type", "bridge").CombinedOutput(); err != nil {
		return fmt.Sprintf("ip link add … type bridge does not work here: %v %s", err, bytes.TrimSpace(out))
	}
	_ = exec.Command("ip", "link", "del", probe).Run()
	if _, err := user.Lookup("postgres"); err != nil {
		return "needs the postgres user (Debian's postgresql) to run Postgres as"
	}
	for _, prog := range []string{"redis-server", "python3", "curl", "unshare", "setpriv"} {
		if _, err := exec.LookPath(prog); err != nil {
			return "needs " + prog + " on PATH"
		}
	}
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) == 0 {
		return "needs Debian's postgresql (/usr/lib/postgresql/*/bin)"
	}
	return ""
}

// Up runs `cluster.sh up` with env added to this process's environment and
// loads the cluster it built. On failure the script has already torn down
// what it built; its output is in the error.
func Up(ctx context.Context, env ...string) (*Cluster, error) {
	cmd := exec.CommandContext(ctx, Script(), "up")
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cluster.sh up: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return Load(lines[len(lines)-1])
}

// Load reads the state of the cluster in dir.
func Load(dir string) (*Cluster, error) {
	f, err := os.Open(filepath.Join(dir, "cluster.env"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &Cluster{Dir: dir, env: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		c.env[name] = strings.Trim(value, "'")
	}
	if c.env["CLUSTER_ID"] == "" {
		return nil, errors.New("cluster: no CLUSTER_ID in " + f.Name())
	}
	return c, sc.Err()
}

// Get is one value of cluster.env (DATABASE_URL, API1_URL, S3_ENDPOINT, …).
func (c *Cluster) Get(name string) string { return c.env[name] }

// APIURL is the base URL of an API host ("api1" or "api2").
func (c *Cluster) APIURL(host string) string {
	return c.env[strings.ToUpper(host)+"_URL"]
}

// HostDir is a host's own folder (its Q2O_OUTPUT_ROOT is output/ in it).
func (c *Cluster) HostDir(host string) string { return filepath.Join(c.Dir, "hosts", host) }

// Log is the output of one process (a PROC as `cluster.sh status` names it).
func (c *Cluster) Log(proc string) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "logs", proc+".log"))
	return string(b)
}

func (c *Cluster) script(args ...string) error {
	out, err := exec.Command(Script(), append(args, c.Dir)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Down stops every process and removes the namespaces, bridge and folder.
func (c *Cluster) Down() error { return c.script("down") }

// KillHost kills -9 every process on host (as `ip netns pids` lists them).
func (c *Cluster) KillHost(host string) error { return c.script("kill-host", host) }

// Stop kills one process (SIGKILL) and waits until it is gone.
func (c *Cluster) Stop(proc string) error { return c.script("stop", proc) }

// Start starts one process again, as the script first started it.
func (c *Cluster) Start(proc string) error { return c.script("start", proc) }

// PIDs lists the processes on host.
func (c *Cluster) PIDs(host string) ([]int, error) {
	out, err := exec.Command("ip", "netns", "pids", "q2o-"+c.env["CLUSTER_ID"]+"-"+host).Output()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
