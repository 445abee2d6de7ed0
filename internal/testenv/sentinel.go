package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name the private Sentinels monitor.
const SentinelMaster = "q2o"

// Sentinel is a private Redis of the test's own watched by Sentinels: a
// master, one replica and three Sentinels (quorum 2), each a redis-server
// process on a free port, for tests that take the master away. The shared
// Redis is never touched.
type Sentinel struct {
	t testing.TB
	// Sentinels are the Sentinels' host:port.
	Sentinels []string
	// MasterAddr and ReplicaAddr are where master and replica listen at
	// start; after a failover the replica is the master.
	MasterAddr, ReplicaAddr string

	master *exec.Cmd
}

// StartSentinel starts the five processes and stops them all when the test
// ends. It needs redis-server on PATH; without it the test is skipped.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH: no private Redis for the Sentinel test")
	}
	dir := t.TempDir()
	s := &Sentinel{t: t}
	mport, rport := freeTCPPort(t), freeTCPPort(t)
	s.MasterAddr, s.ReplicaAddr = "127.0.0.1:"+strconv.Itoa(mport), "127.0.0.1:"+strconv.Itoa(rport)
	s.master = s.start(filepath.Join(dir, "master.log"), false, "--port", strconv.Itoa(mport))
	s.waitPing(s.MasterAddr)
	s.start(filepath.Join(dir, "replica.log"), false, "--port", strconv.Itoa(rport), "--replicaof", "127.0.0.1", strconv.Itoa(mport))
	s.waitPing(s.ReplicaAddr)
	for i := range 3 {
		port := freeTCPPort(t)
		conf := filepath.Join(dir, fmt.Sprintf("sentinel%d.conf", i))
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %[3]s 1000\nsentinel failover-timeout %[3]s 5000\nsentinel parallel-syncs %[3]s 1\n",
			port, dir, SentinelMaster, mport)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s.start(filepath.Join(dir, fmt.Sprintf("sentinel%d.log", i)), true, conf)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		s.waitPing(addr)
		s.Sentinels = append(s.Sentinels, addr)
	}
	return s
}

// start runs redis-server with args, a server without persistence unless
// sentinel (args are then the config file), and kills it at cleanup.
func (s *Sentinel) start(logFile string, sentinel bool, args ...string) *exec.Cmd {
	s.t.Helper()
	if sentinel {
		args = append(args, "--sentinel")
	} else {
		args = append(args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	}
	args = append(args, "--logfile", logFile)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func (s *Sentinel) waitPing(addr string) {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// KillMaster kills the master's process (no shutdown: like a crash). The
// Sentinels then promote the replica.
func (s *Sentinel) KillMaster() {
	s.t.Helper()
	_ = s.master.Process.Kill()
	_ = s.master.Wait()
}

// WaitFailover waits until the Sentinels name the replica as the master.
func (s *Sentinel) WaitFailover(timeout time.Duration) {
	s.t.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0]})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		addr, err := c.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
		if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == s.ReplicaAddr {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no failover to %s within %s: master %v, %v", s.ReplicaAddr, timeout, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
