package s3e2e_test

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/q2o/q2o/internal/apptest"
)

// With s3 the RUN answer has no output_folder_path, and the API makes no
// folder under its own OUTPUT_ROOT: the run happens in a worker's scratch,
// on another host, and nothing but the bucket is shared. (Local mode's
// answer, the shared folder, is checked in the api tests.)
func TestS3RunAnswerHasNoAPIFolder(t *testing.T) {
	a := apptest.New(t, apptest.Options{S3: seaweed})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "Scratch elsewhere")
	r := a.Do("POST", "/api/tenant/projects/"+pid+"/run", tn.Key, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	if v, ok := body["output_folder_path"]; ok {
		t.Errorf("RUN answer has output_folder_path %v; with s3 the run's folder is a worker's scratch", v)
	}
	if body["execution_id"] == nil || body["status"] != "pending" {
		t.Errorf("RUN answer %v", body)
	}
	if _, err := os.Stat(filepath.Join(a.OutputRoot, pid)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the API's OUTPUT_ROOT/%s: %v, want no folder", pid, err)
	}
}
