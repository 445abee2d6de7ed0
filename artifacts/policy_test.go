package artifacts

import (
	"io/fs"
	"testing"
)

func TestIncluded(t *testing.T) {
	t.Parallel()
	const (
		file = fs.FileMode(0o644)
		dir  = fs.ModeDir | 0o755
	)
	tests := []struct {
		rel  string
		mode fs.FileMode
		want bool
	}{
		{"report.md", file, true},
		{"src/main.go", file, true},
		{"sub/run.log", file, true},
		{"src", dir, true},
		{"a/b/c", dir, true},
		{"x.pyc.txt", file, true},
		{"pyc", file, true},
		{"naïve.txt", file, true},
		{"bad\xffname.txt", file, true},

		{"run.log", file, false},
		{".env", file, false},
		{".git", dir, false},
		{".git/config", file, false},
		{"sub/.cache", dir, false},
		{"sub/.cache/x", file, false},
		{"__pycache__", dir, false},
		{"__pycache__/x.pyc", file, false},
		{"pkg/__pycache__/m.cpython-312.pyc", file, false},
		{"a.pyc", file, false},
		{"pkg/b.pyc", file, false},

		{"link", fs.ModeSymlink | 0o777, false},
		{"fifo", fs.ModeNamedPipe | 0o644, false},
		{"sock", fs.ModeSocket | 0o755, false},
		{"dev", fs.ModeDevice | 0o660, false},
		{"tty", fs.ModeDevice | fs.ModeCharDevice | 0o620, false},
		{"irregular", fs.ModeIrregular, false},

		{"", file, false},
		{".", dir, false},
		{"..", dir, false},
		{"../x", file, false},
		{"a/../b", file, false},
		{"/etc/passwd", file, false},
		{"a//b", file, false},
		{"a/", dir, false},
		{`x\..\..\evil.bat`, file, false},
	}
	for _, tc := range tests {
		if got := Included(tc.rel, tc.mode); got != tc.want {
			t.Errorf("Included(%q, %v) = %v, want %v", tc.rel, tc.mode, got, tc.want)
		}
	}
}
