package runner

import (
	"strings"
	"testing"
)

func TestParseProgress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line    string
		ok      bool
		percent int
		message string
	}{
		{"PROGRESS 10\n", true, 10, ""},
		{"PROGRESS 50 writing the code now\n", true, 50, "writing the code now"},
		{"PROGRESS\t75\t tabs  and  spaces \r\n", true, 75, "tabs  and  spaces"},
		{"PROGRESS 150 over\n", true, 100, "over"},
		{"PROGRESS -5\n", true, 0, ""},
		{"PROGRESS 40%\n", true, 40, ""},
		{"PROGRESS 99999999999999999999999 huge\n", true, 100, "huge"},
		{"PROGRESS 20 bad \xff utf8 and \x00 nul\n", true, 20, "bad \uFFFD utf8 and   nul"},
		{"PROGRESS abc\n", false, 0, ""},
		{"PROGRESS 12.5\n", false, 0, ""},
		{"PROGRESS\n", false, 0, ""},
		{"PROGRESS \n", false, 0, ""},
		{"PROGRESSIVE 20\n", false, 0, ""},
		{"progress 20\n", false, 0, ""},
		{" PROGRESS 20\n", false, 0, ""},
		{"INFO PROGRESS 20\n", false, 0, ""},
	}
	for _, tt := range tests {
		percent, message, ok := parseProgress([]byte(tt.line))
		if ok != tt.ok || percent != tt.percent || message != tt.message {
			t.Errorf("parseProgress(%q) = %d, %q, %v; want %d, %q, %v", tt.line, percent, message, ok, tt.percent, tt.message, tt.ok)
		}
	}
}

func TestParseProgressCutsLongMessages(t *testing.T) {
	t.Parallel()
	_, message, ok := parseProgress([]byte("PROGRESS 5 " + strings.Repeat("é", MaxProgressMessage) + "\n"))
	if !ok {
		t.Fatal("not parsed")
	}
	if len(message) > MaxProgressMessage || len(message) < MaxProgressMessage-1 {
		t.Fatalf("message is %d bytes, want about %d", len(message), MaxProgressMessage)
	}
	if strings.ToValidUTF8(message, "?") != message {
		t.Fatal("message was cut inside a character")
	}
}
