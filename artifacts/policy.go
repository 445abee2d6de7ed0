package artifacts

import (
	"io/fs"
	"strings"
)

// RunLog is the name of the run's log in the output folder. The top-level one
// is the platform's and never goes into the client's zip.
const RunLog = "run.log"

// Included reports whether the entry at rel (slash separated, relative to the
// output folder) with the given mode goes into the client's zip. It leaves out:
//
//   - anything that is neither a regular file nor a directory (symlinks,
//     devices, fifos, sockets);
//   - the top-level run.log (a nested sub/run.log is kept);
//   - any path with a component that starts with "." (.env, .git/config…);
//   - any path with a __pycache__ component, and *.pyc files;
//   - a rel that is not a clean relative path ("", ".", "/x", "a/../b", "a//b");
//   - a path with a backslash, which Windows extractors read as a separator
//     (x\..\..\evil would climb out of the client's folder).
//
// Names that are not valid UTF-8 are kept: they are legal file names and the
// client's data.
//
// A path inside a left-out folder is left out too, so rel may be checked on its
// own. The hard-link rule (more than one link is left out) needs the file's
// link count and is applied by WriteZip.
func Included(rel string, mode fs.FileMode) bool {
	if !mode.IsRegular() && !mode.IsDir() {
		return false
	}
	if rel == RunLog || strings.Contains(rel, "\\") {
		return false
	}
	for part := range strings.SplitSeq(rel, "/") {
		// The dot rule also refuses "." and ".." elements.
		if part == "" || strings.HasPrefix(part, ".") || part == "__pycache__" {
			return false
		}
	}
	if mode.IsRegular() && strings.HasSuffix(rel, ".pyc") {
		return false
	}
	return true
}
