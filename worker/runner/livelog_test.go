package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// liveRecorder is a LiveLog that keeps what it is given.
type liveRecorder struct {
	mu     sync.Mutex
	starts []int64
	data   []byte
	gaps   int
}

func (r *liveRecorder) Write(off int64, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.starts) == 0 {
		r.starts = append(r.starts, off)
	} else if last := r.starts[0] + int64(len(r.data)); off != last {
		r.gaps++
	}
	r.data = append(r.data, p...)
}

// The live log gets every byte of run.log at its offset: what run.log held
// before the program started (the header, an earlier attempt), then both
// streams as they were written.
func TestRunLiveLogGetsRunLogAsWritten(t *testing.T) {
	t.Parallel()
	dir, prog := script(t, `
echo out 1
echo err 1 >&2
head -c 100000 /dev/zero | tr '\0' 'a'; echo
echo out 2
`)
	logPath := filepath.Join(dir, "run.log")
	before := "=== q2o execution x, attempt 1 ===\nfirst attempt\n=== q2o execution x, attempt 2 ===\n"
	if err := os.WriteFile(logPath, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	var live liveRecorder
	res, err := Run(context.Background(), Spec{Argv: []string{prog}, Env: os.Environ(), Dir: dir, LogPath: logPath, Live: &live})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	log := readFile(t, logPath)
	if len(live.starts) != 1 || live.starts[0] != 0 || live.gaps != 0 || string(live.data) != log {
		t.Fatalf("live log from %v (%d gaps) %.100q…, want run.log from 0 %.100q…", live.starts, live.gaps, live.data, log)
	}
	if !strings.HasPrefix(log, before) || !strings.Contains(log, "err 1\n") || !strings.HasSuffix(log, "out 2\n") {
		t.Errorf("run.log %.200q", log)
	}
}
