package artifacts

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const (
	projectID   = "0190f1d2-7a3b-7c4d-8e5f-0123456789ab"
	executionID = "0190f1d2-7a3b-7c4d-8e5f-ba9876543210"
)

// badIDs are refused wherever an id is taken.
var badIDs = []struct{ name, id string }{
	{"empty", ""},
	{"parent", "../x"},
	{"parent of a uuid", "../" + projectID[3:]},
	{"nested", "a/b"},
	{"absolute", "/" + projectID[1:]},
	{"not a uuid", "hello"},
	{"uppercase", strings.ToUpper(projectID)},
	{"braces", "{" + projectID + "}"},
	{"no hyphens", strings.ReplaceAll(projectID, "-", "")},
	{"hyphen moved", projectID[:7] + "-" + projectID[7:8] + projectID[9:]},
	{"non hex", "0190f1d2-7a3b-7c4d-8e5f-0123456789ag"},
	{"trailing newline", projectID[:35] + "\n"},
	{"too long", projectID + "0"},
	{"dot dot in place of hex", "0190f1d2-7a3b-7c4d-8e5f-01234567../"},
}

func TestProjectDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()

	got, err := ProjectDir(root, projectID)
	if err != nil {
		t.Fatalf("ProjectDir(valid): %v", err)
	}
	if want := filepath.Join(root, projectID); got != want {
		t.Errorf("ProjectDir = %q, want %q", got, want)
	}

	for _, tc := range badIDs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ProjectDir(root, tc.id)
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ProjectDir(%q) = %q, %v; want ErrInvalidID", tc.id, got, err)
			}
			if got != "" {
				t.Errorf("ProjectDir(%q) returned path %q with an error", tc.id, got)
			}
		})
	}

	if _, err := ProjectDir("", projectID); err == nil {
		t.Error("ProjectDir with an empty root: no error")
	}
}

func TestZipPath(t *testing.T) {
	t.Parallel()
	root := t.TempDir()

	got, err := ZipPath(root, projectID, executionID)
	if err != nil {
		t.Fatalf("ZipPath(valid): %v", err)
	}
	if want := filepath.Join(root, "_artifacts", projectID, executionID+".zip"); got != want {
		t.Errorf("ZipPath = %q, want %q", got, want)
	}
	dir, _ := ProjectDir(root, projectID)
	if rel, err := filepath.Rel(dir, got); err != nil || filepath.IsLocal(rel) {
		t.Errorf("zip path %q lies inside the project folder %q", got, dir)
	}

	for _, tc := range badIDs {
		t.Run("project "+tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := ZipPath(root, tc.id, executionID); !errors.Is(err, ErrInvalidID) || got != "" {
				t.Errorf("ZipPath(project %q) = %q, %v; want ErrInvalidID", tc.id, got, err)
			}
		})
		t.Run("execution "+tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := ZipPath(root, projectID, tc.id); !errors.Is(err, ErrInvalidID) || got != "" {
				t.Errorf("ZipPath(execution %q) = %q, %v; want ErrInvalidID", tc.id, got, err)
			}
		})
	}

	if _, err := ZipPath("", projectID, executionID); err == nil {
		t.Error("ZipPath with an empty root: no error")
	}
}
