package runner

import (
	"bytes"
	"strings"
)

// tailBuffer keeps the end of what is written to it in bounded memory
// (about twice its size), however much is written.
type tailBuffer struct {
	max int
	// buf ends with everything written; when earlier bytes were dropped it
	// holds at least max+1 bytes, so the byte before the last max is known.
	buf []byte
}

func newTailBuffer(max int) *tailBuffer {
	return &tailBuffer{max: max, buf: make([]byte, 0, 2*(max+1))}
}

func (t *tailBuffer) Write(p []byte) {
	keep := t.max + 1
	switch {
	case len(p) >= keep:
		t.buf = append(t.buf[:0], p[len(p)-keep:]...)
		return
	case len(t.buf)+len(p) > cap(t.buf):
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-(keep-len(p)):])]
	}
	t.buf = append(t.buf, p...)
}

// String returns the last max bytes as text fit for an error message: when
// earlier output was cut off, it starts at a line boundary if a whole line
// fits; it is valid UTF-8 and has no NUL bytes.
func (t *tailBuffer) String() string {
	b := t.buf
	if len(b) > t.max {
		before := b[len(b)-t.max-1]
		b = b[len(b)-t.max:]
		// Drop the fragment of a line that began before the window.
		if i := bytes.IndexByte(b, '\n'); before != '\n' && i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "")
}
