package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// No API key, activation code or admin token ever reaches the logs, while
// every request line carries its request id and tenant id and every run line
// its execution id.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	a := apptest.New(t, apptest.Options{LogTo: &logs})
	a.StartWorker(a.WorkerConfig("--mode fail"))
	tn := a.NewTenant("active")
	pid := a.Project(tn.Key, "secret-free")
	_, code := a.Code(tn.ID, nil)
	a.Must(200, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	eid := a.Run(tn.Key, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusFailed))
	a.Do("GET", "/api/tenant/projects/"+pid, tn.Key+"x", nil)         // a bad key
	a.Do("POST", "/api/admin/tenants", "not-the-admin-token-1", "{}") // a bad admin token

	out := logs.String()
	for name, secret := range map[string]string{
		"API key": tn.Key, "API key secret part": tn.Key[13:], "activation code": code,
		"activation code (no dashes)": strings.ReplaceAll(code, "-", ""), "admin token": apptest.AdminToken,
		"wrong admin token": "not-the-admin-token-1",
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs hold the %s", name)
		}
	}
	var requestLines, runLines int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, "/api/tenant/projects/"+pid) && strings.Contains(line, `"status":200`) {
			requestLines++
			if !strings.Contains(line, `"request_id":"`) || !strings.Contains(line, `"tenant_id":"`+tn.ID) {
				t.Errorf("request line without request or tenant id: %s", line)
			}
		}
		if strings.Contains(line, `"msg":"run `) {
			runLines++
			if !strings.Contains(line, `"execution_id":"`+eid) {
				t.Errorf("run line without its execution id: %s", line)
			}
		}
	}
	if requestLines == 0 || runLines == 0 {
		t.Errorf("expected request and run log lines, got %d and %d", requestLines, runLines)
	}
}
