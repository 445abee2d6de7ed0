package s3e2e_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/internal/apptest"
)

// With s3, run.log is only in the worker's scratch: the admin's execution
// detail (through another replica) shows a live run's log tail from the
// Redis stream, and once the run has ended and its stream is gone, the
// stored log's from the bucket.
func TestS3AdminExecutionLogTail(t *testing.T) {
	a := apptest.New(t, apptest.Options{S3: seaweed})
	b := a.Replica(apptest.ReplicaOptions{})
	a.LogStreams().Linger = 200 * time.Millisecond
	a.StartWorker(a.LogLinesConfig("--phases 3,2", "--flush"))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "admin tail from s3")
	eid := a.Run(tn.Key, pid)
	tail := func() []string {
		t.Helper()
		m := b.Must(http.StatusOK, b.Do("GET", "/api/admin/executions/"+eid+"?tail=2", apptest.AdminToken, nil))
		var lines []string
		for _, l := range m["log_tail"].([]any) {
			lines = append(lines, l.(string))
		}
		return lines
	}

	// main.py waits at its gate once it has printed phase 1.
	var live []string
	apptest.WaitFor(t, "the live tail shows phase 1's end", 30*time.Second, func() bool {
		live = tail()
		return slices.Equal(live, []string{"phase 1 line 2", "phase 1 line 3"})
	})
	missing(t, filepath.Join(a.OutputRoot, pid, "run.log"))
	if m := b.Must(http.StatusOK, b.Do("GET", "/api/admin/executions/"+eid+"?tail=0", apptest.AdminToken, nil)); len(m["log_tail"].([]any)) != 0 {
		t.Errorf("tail=0 of a live run: %v", m["log_tail"])
	}

	apptest.OpenGate(t, filepath.Join(a.ScratchRoot, pid), 1)
	waitEnded(t, a, tn.Key, pid, eid, 60*time.Second)
	apptest.WaitFor(t, "the stream goes away", 10*time.Second, func() bool {
		return a.Redis.Exists(t.Context(), events.LogStreamKey(uuid.MustParse(eid))).Val() == 0
	})
	if got, want := tail(), []string{"phase 2 line 2", "PROGRESS 100 done"}; !slices.Equal(got, want) {
		t.Errorf("the ended run's tail: %q, want %q (from the stored log)", got, want)
	}
}
