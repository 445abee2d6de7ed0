package artifacts

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ArtifactsDir is the folder under the output root that holds the zips. Its
// name cannot be a UUID, so it never collides with a project's output folder.
const ArtifactsDir = "_artifacts"

// ErrInvalidID is returned (wrapped) for an id that is not a canonical UUID.
var ErrInvalidID = errors.New("artifacts: id is not a canonical lowercase UUID")

// ProjectDir returns root/<projectID>, the output folder of one project. It
// refuses an empty root and a projectID that is not a canonical UUID (see
// ValidID), so no path traversal is possible; the error then wraps
// ErrInvalidID.
func ProjectDir(root, projectID string) (string, error) {
	if root == "" {
		return "", errors.New("artifacts: empty output root")
	}
	if !ValidID(projectID) {
		return "", fmt.Errorf("%w: project id %q", ErrInvalidID, projectID)
	}
	return filepath.Join(root, projectID), nil
}

// ZipPath returns where the zip of one execution lives:
// root/_artifacts/<projectID>/<executionID>.zip. It lies outside the project's
// output folder, so a later zip never includes an earlier one. Both ids must be
// canonical UUIDs; otherwise the error wraps ErrInvalidID.
func ZipPath(root, projectID, executionID string) (string, error) {
	if root == "" {
		return "", errors.New("artifacts: empty output root")
	}
	if !ValidID(projectID) {
		return "", fmt.Errorf("%w: project id %q", ErrInvalidID, projectID)
	}
	if !ValidID(executionID) {
		return "", fmt.Errorf("%w: execution id %q", ErrInvalidID, executionID)
	}
	return filepath.Join(root, ArtifactsDir, projectID, executionID+".zip"), nil
}

// ZipKey is the store key of an execution's zip (artifacts/store):
// _artifacts/<projectID>/<executionID>.zip, the path of ZipPath under the
// output root. Both ids must be canonical UUIDs (ErrInvalidID).
func ZipKey(projectID, executionID string) (string, error) {
	return artifactKey(projectID, executionID, ".zip")
}

// LogKey is the store key of an ended execution's kept log:
// _artifacts/<projectID>/<executionID>.log, beside its zip.
func LogKey(projectID, executionID string) (string, error) {
	return artifactKey(projectID, executionID, ".log")
}

func artifactKey(projectID, executionID, ext string) (string, error) {
	if !ValidID(projectID) {
		return "", fmt.Errorf("%w: project id %q", ErrInvalidID, projectID)
	}
	if !ValidID(executionID) {
		return "", fmt.Errorf("%w: execution id %q", ErrInvalidID, executionID)
	}
	return ArtifactsDir + "/" + projectID + "/" + executionID + ext, nil
}

// ValidID reports whether id is a UUID in its canonical text form: 36
// characters, lowercase hex digits in groups of 8-4-4-4-12 separated by
// hyphens, as uuid.UUID.String produces. Uppercase is refused so that one id
// always maps to one folder.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
