package cluster_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/cluster"
	"github.com/q2o/q2o/models"
)

// TestCluster runs q2o the way it is deployed over several machines: six
// hosts (network namespaces, each process on its own host's address, each
// host its own folder), sharing only Postgres, Redis (behind Sentinels) and
// the object store, all on the infra host. The parts run in order on one
// cluster, since they take pieces of it away.
func TestCluster(t *testing.T) {
	c, gdb := upCluster(t)
	steps := []struct {
		name string
		run  func(*testing.T, *cluster.Cluster, *gorm.DB)
	}{
		{"SpreadOverWorkerHosts", testSpread},
		{"ZipsInTheBucketDownloadThroughEitherAPIHost", testZipsInTheBucket},
		{"LiveLogAcrossHosts", testLiveLogAcrossHosts},
		{"StripePauseReachesEveryWorkerHost", testStripePause},
		{"KillNineWorkerHost", testKillNineHost},
		{"SentinelFailover", testSentinelFailover},
		{"ObjectStoreDownDuringUpload", testObjectStoreOutage},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, c, gdb) }) {
			// A failed part may leave the cluster short of a host or a
			// master: what follows would fail for that, not for itself.
			t.Fatalf("%s failed; the later parts would run on a damaged cluster", s.name)
		}
	}
}

// submit makes n runs of tenant tn, alternately through api1 and api2.
func submit(t *testing.T, c *cluster.Cluster, tn tenant, n int, name, description string) []run {
	t.Helper()
	var runs []run
	for i := range n {
		host := cluster.APIs[i%2]
		runs = append(runs, apiOf(t, c, host).run(host, tn, fmt.Sprintf("%s %d", name, i), description))
	}
	return runs
}

// Runs submitted through both API hosts run on all three worker hosts and
// complete, and each API host reports the runs submitted through the other.
func testSpread(t *testing.T, c *cluster.Cluster, gdb *gorm.DB) {
	tn := apiOf(t, c, "api1").tenant("Spread")
	// Six runs for six slots (two per worker host), each long enough that
	// no host finishes one before the last host has taken its share.
	runs := submit(t, c, tn, 6, "spread", "seconds=4")
	waitFor(t, "the six runs completed", 90*time.Second, func() (bool, string) {
		return allIn(t, gdb, ids(runs), models.StatusCompleted)
	})
	st := checkStarts(t, c, gdb, ids(runs))
	rows := executions(t, gdb, ids(runs))
	perHost := map[string]int{}
	for _, r := range runs {
		for _, s := range st[r.execution] {
			perHost[s.host]++
			if h := hostOf(rows[r.execution]); h != s.host {
				t.Errorf("execution %s: main.py ran on %s, its row names a worker on %s", r.execution, s.host, h)
			}
		}
	}
	t.Logf("runs per worker host: %v", perHost)
	for _, host := range cluster.Workers {
		if perHost[host] == 0 {
			t.Errorf("no run on worker host %s: %v", host, perHost)
		}
	}
	for _, r := range runs {
		other := "api1"
		if r.via == "api1" {
			other = "api2"
		}
		e := call[models.Execution](apiOf(t, c, other), "GET", "/api/tenant/executions/"+r.execution, tn.key, nil, http.StatusOK)
		if e.Status != models.StatusCompleted {
			t.Errorf("run %s submitted through %s: %s says %s", r.execution, r.via, other, e.Status)
		}
	}
}

// A signed past_due webhook through one API host stops the tenant's runs
// on every worker host.
func testStripePause(t *testing.T, c *cluster.Cluster, gdb *gorm.DB) {
	a1, a2 := apiOf(t, c, "api1"), apiOf(t, c, "api2")
	payer := a1.tenant("Payer")
	r := billingtest.Deliver(t, a2.base, billingtest.Event{Type: "checkout.session.completed", Object: map[string]any{
		"id": "cs_cluster", "object": "checkout.session", "mode": "subscription", "client_reference_id": payer.id,
		"customer": "cus_cluster", "subscription": "sub_cluster"}})
	if r.Status != 200 || r.Body["outcome"] != "applied" {
		t.Fatalf("checkout.session.completed: %d %s", r.Status, r.Raw)
	}
	runs := submit(t, c, payer, 6, "long", "seconds=120")
	var st map[string][]start
	waitFor(t, "six runs of main.py going, on the three worker hosts", 60*time.Second, func() (bool, string) {
		ok, state := allIn(t, gdb, ids(runs), models.StatusRunning)
		st = starts(t, c)
		hosts := map[string]bool{}
		for _, id := range ids(runs) {
			if len(st[id]) != 1 {
				return false, state + fmt.Sprintf("; %s started %d times", id, len(st[id]))
			}
			hosts[st[id][0].host] = true
		}
		return ok && len(hosts) == len(cluster.Workers), state
	})
	sent := time.Now()
	r = billingtest.Deliver(t, a1.base, billingtest.Event{Type: "customer.subscription.updated",
		Object: billingtest.Subscription{ID: "sub_cluster", Customer: "cus_cluster", Status: "past_due",
			PeriodEnd: time.Now().Add(24 * time.Hour)}.Object()})
	if r.Status != 200 || r.Body["outcome"] != "applied" {
		t.Fatalf("customer.subscription.updated: %d %s", r.Status, r.Raw)
	}
	waitFor(t, "every run paused and its main.py gone", 30*time.Second, func() (bool, string) {
		ok, state := allIn(t, gdb, ids(runs), models.StatusPaused)
		for _, id := range ids(runs) {
			if pid := st[id][0].pid; apptest.Alive(pid) {
				return false, state + fmt.Sprintf("; main.py %d of %s (on %s) still runs", pid, id, st[id][0].host)
			}
		}
		return ok, state
	})
	t.Logf("paused on the three worker hosts %s after the webhook", time.Since(sent).Round(time.Millisecond))
	checkStarts(t, c, gdb, ids(runs))
}

// kill -9 of every process on one worker host while it runs: its runs are
// handed to the other hosts (q2o's 30 s lease, then the reconciler) and
// complete there within 45 s, each attempt started once.
func testKillNineHost(t *testing.T, c *cluster.Cluster, gdb *gorm.DB) {
	tn := apiOf(t, c, "api1").tenant("Takeover")
	runs := submit(t, c, tn, 6, "takeover", "seconds=4")
	// The victim: a worker host with runs whose main.py has started.
	var victim string
	var held []string
	waitFor(t, "runs of main.py going on a worker host", 60*time.Second, func() (bool, string) {
		rows, st := executions(t, gdb, ids(runs)), starts(t, c)
		byHost := map[string][]string{}
		for id, e := range rows {
			if e.Status == models.StatusRunning && len(st[id]) == 1 && st[id][0].host == hostOf(e) {
				byHost[hostOf(e)] = append(byHost[hostOf(e)], id)
			}
		}
		for _, host := range cluster.Workers {
			if len(byHost[host]) > len(held) {
				victim, held = host, byHost[host]
			}
		}
		return len(held) == 2, fmt.Sprintf("%v", byHost)
	})
	pids, _ := c.PIDs(victim)
	if err := c.KillHost(victim); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if left, _ := c.PIDs(victim); len(left) != 0 {
		t.Fatalf("processes %v still on %s after kill -9", left, victim)
	}
	t.Logf("killed -9 the %d processes on %s (%v), holding %v", len(pids), victim, pids, held)
	waitFor(t, "the killed host's runs completed on the other hosts", 45*time.Second, func() (bool, string) {
		rows := executions(t, gdb, held)
		ok, state := allIn(t, gdb, held, models.StatusCompleted)
		for _, id := range held {
			ok = ok && rows[id].Attempt == 2 && hostOf(rows[id]) != victim
		}
		return ok, state
	})
	t.Logf("taken over and completed %s after kill -9", time.Since(killed).Round(time.Millisecond))
	waitFor(t, "every run completed", 60*time.Second, func() (bool, string) {
		return allIn(t, gdb, ids(runs), models.StatusCompleted)
	})
	// A run the killed host had taken but not yet started main.py for
	// counts an attempt without a start; the held ones started on it.
	st := checkStartsAtMost(t, c, gdb, ids(runs), false)
	for _, id := range held {
		onVictim := 0
		for _, s := range st[id] {
			if s.host == victim {
				onVictim++
			}
		}
		if len(st[id]) != 2 || onVictim != 1 {
			t.Errorf("execution %s started on %v; want once on the killed %s and once on another host", id, st[id], victim)
		}
	}
	// The host comes back for what follows.
	if err := c.Start("q2o-" + victim); err != nil {
		t.Fatal(err)
	}
	health := "http://" + c.Get("IP_"+strings.ToUpper(victim)) + ":9090/healthz"
	waitFor(t, "the worker on "+victim+" back", 60*time.Second, func() (bool, string) {
		res, err := httpClient.Get(health)
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
}

// The Redis master stops while runs go on and more are submitted: the
// Sentinels promote the replica and every accepted run completes.
func testSentinelFailover(t *testing.T, c *cluster.Cluster, gdb *gorm.DB) {
	tn := apiOf(t, c, "api1").tenant("Failover")
	runs := submit(t, c, tn, 3, "before", "seconds=3")
	waitFor(t, "a run going", 60*time.Second, func() (bool, string) {
		rows := executions(t, gdb, ids(runs))
		for _, e := range rows {
			if e.Status == models.StatusRunning {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v", rows)
	})
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: strings.Split(c.Get("REDIS_SENTINELS"), ",")[0]})
	defer sentinel.Close()
	master := func() string {
		addr, err := sentinel.GetMasterAddrByName(context.Background(), "q2o").Result()
		if err != nil || len(addr) != 2 {
			return fmt.Sprint(addr, err)
		}
		return net.JoinHostPort(addr[0], addr[1])
	}
	// Whichever of the two is the master now (a loaded machine may have
	// made the Sentinels fail over before; it is still a failover to prove).
	procs := map[string]string{c.Get("REDIS_MASTER"): "redis-master", c.Get("REDIS_REPLICA"): "redis-replica"}
	old := master()
	if procs[old] == "" {
		t.Fatalf("the Sentinels name %s as the master, neither of the cluster's Redis", old)
	}
	if err := c.Stop(procs[old]); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Logf("stopped the master %s (%s)", old, procs[old])
	runs = append(runs, submit(t, c, tn, 3, "during", "seconds=3")...)
	waitFor(t, "the Sentinels promote the replica", 30*time.Second, func() (bool, string) {
		now := master()
		return now != old && procs[now] != "", now
	})
	t.Logf("failed over %s after the master stopped", time.Since(stopped).Round(time.Millisecond))
	runs = append(runs, submit(t, c, tn, 2, "after", "seconds=1")...)
	waitFor(t, "every accepted run completed", 90*time.Second, func() (bool, string) {
		return allIn(t, gdb, ids(runs), models.StatusCompleted)
	})
	checkStartsAtMost(t, c, gdb, ids(runs), false)
}
