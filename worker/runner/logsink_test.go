package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The log sink keeps a long line whole while the other stream writes,
// holds that stream's output back only up to maxPending, and ends a line a
// stopped stream left unfinished.
func TestLogSinkKeepsLongLinesWhole(t *testing.T) {
	big := strings.Repeat("p", maxPending)
	for _, tc := range []struct {
		name   string
		writes func(s *logSink)
		want   string
	}{
		{"a line between the pieces of a long one waits for its end", func(s *logSink) {
			s.write("stderr", []byte("xxx"))
			s.write("stdout", []byte("between\n"))
			s.write("stderr", []byte("xxx"))
			s.write("stderr", []byte("\n"))
			s.write("stdout", []byte("after\n"))
		}, "xxxxxx\nbetween\nafter\n"},
		{"held-back output may itself start a long line", func(s *logSink) {
			s.write("stderr", []byte("ee"))
			s.write("stdout", []byte("oo"))
			s.write("stderr", []byte("e\n"))
			s.write("stderr", []byte("next\n"))
			s.write("stdout", []byte("o\n"))
			s.write("stderr", []byte("last\n"))
		}, "eee\nooo\nnext\nlast\n"},
		{"past maxPending the long line is broken", func(s *logSink) {
			s.write("stderr", []byte("long"))
			s.write("stdout", []byte(big))
			s.write("stdout", []byte("!\n"))
			s.write("stderr", []byte("rest\n"))
		}, "long\n" + big + "!\nrest\n"},
		{"a stream that stops inside a line lets the other go on", func(s *logSink) {
			s.write("stdout", []byte("no newline"))
			s.write("stderr", []byte("waiting\n"))
			s.release("stdout")
			s.write("stderr", []byte("then\n"))
		}, "no newline\nwaiting\nthen\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "run.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s := &logSink{file: f}
			tc.writes(s)
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("run.log\n%.200q\nwant\n%.200q", got, tc.want)
			}
		})
	}
}
