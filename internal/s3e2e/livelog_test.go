package s3e2e_test

import (
	"bufio"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/internal/apptest"
)

// With s3 the API never sees run.log (the worker runs main.py in a scratch
// folder of its own): a log followed through another replica shows a live
// run's lines from the Redis stream, then its end; once the stream is gone,
// a follow reads the log from the bucket.
func TestS3LiveLogAcrossReplicas(t *testing.T) {
	a := apptest.New(t, apptest.Options{S3: seaweed})
	b := a.Replica(apptest.ReplicaOptions{})
	a.LogStreams().Linger = 200 * time.Millisecond
	a.StartWorker(a.LogLinesConfig("--phases 3,2", "--flush"))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "live from s3")
	eid := a.Run(tn.Key, pid)
	logs := "/api/tenant/projects/" + pid + "/logs"

	res := b.SSE(tn.Key, logs, "")
	lines := make(chan apptest.Event, 100)
	go func() {
		defer close(lines)
		var ev apptest.Event
		for sc := bufio.NewScanner(res.Body); sc.Scan(); {
			line := sc.Text()
			if line == "" {
				if ev != (apptest.Event{}) {
					lines <- ev
				}
				ev = apptest.Event{}
				continue
			}
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				ev.Data = value
			}
		}
	}()
	next := func() apptest.Event {
		t.Helper()
		select {
		case ev, ok := <-lines:
			if !ok {
				t.Fatal("the followed log ended")
			}
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("no line within 30 s")
		}
		return apptest.Event{}
	}
	var got []string
	for len(got) == 0 || got[len(got)-1] != "phase 1 line 3" {
		got = append(got, next().Data)
	}
	// main.py waits at its gate: the run is live, and run.log is only in
	// the worker's scratch.
	missing(t, filepath.Join(a.OutputRoot, pid, "run.log"))
	apptest.OpenGate(t, filepath.Join(a.ScratchRoot, pid), 1)
	for {
		ev := next()
		if ev.Event == "end" {
			if ev.Data != "completed" {
				t.Errorf("end %q", ev.Data)
			}
			break
		}
		got = append(got, ev.Data)
	}
	waitEnded(t, a, tn.Key, pid, eid, 60*time.Second)
	body, _ := object(t, a, objectName(a, pid, eid, ".log"))
	if strings.Join(got, "\n")+"\n" != string(body) {
		t.Errorf("followed live:\n%s\nthe stored log:\n%s", strings.Join(got, "\n"), body)
	}

	apptest.WaitFor(t, "the stream goes away", 10*time.Second, func() bool {
		return a.Redis.Exists(t.Context(), events.LogStreamKey(uuid.MustParse(eid))).Val() == 0
	})
	evs := apptest.ReadEvents(t, b.SSE(tn.Key, logs+"?tail=10000", "").Body)
	var stored []string
	for _, ev := range evs[:len(evs)-1] {
		stored = append(stored, ev.Data)
	}
	if strings.Join(stored, "\n")+"\n" != string(body) || evs[len(evs)-1].Event != "end" {
		t.Errorf("followed after the run: %v", evs)
	}
}
