package artifacts

import (
	"io/fs"
	"testing"

	"github.com/q2o/q2o/worker/runner"
)

// The progress file main.py writes in its folder is the platform's, not the
// client's: it never goes into the zip.
func TestProgressFileIsLeftOut(t *testing.T) {
	t.Parallel()
	if Included(runner.ProgressFileName, fs.FileMode(0o644)) {
		t.Errorf("%s would go into the client's zip", runner.ProgressFileName)
	}
}
