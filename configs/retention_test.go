package configs

import (
	"strings"
	"testing"
	"time"
)

// Q2O_TASK_RETENTION: an hour by default, any positive duration, and a
// refusal that names the variable otherwise.
func TestTaskRetention(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TaskRetention != time.Hour {
		t.Errorf("default %s, want 1h", cfg.TaskRetention)
	}
	t.Setenv("Q2O_TASK_RETENTION", "30m")
	if cfg, err = Load(""); err != nil || cfg.TaskRetention != 30*time.Minute {
		t.Errorf("30m: %s, %v", cfg.TaskRetention, err)
	}
	for _, bad := range []string{"0s", "-1h", "soon"} {
		t.Setenv("Q2O_TASK_RETENTION", bad)
		if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "Q2O_TASK_RETENTION") {
			t.Errorf("%q: %v, want a refusal naming Q2O_TASK_RETENTION", bad, err)
		}
	}
}
