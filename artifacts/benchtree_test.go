package artifacts

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// This file makes the benchmark trees: reproducible (a fixed seed), made by
// streaming so that a 1 GiB tree never sits in memory.

// benchTree names a kind of output folder the zip benchmarks run on.
type benchTree string

const (
	// treeRandom is incompressible files only: the cost of the zip itself.
	treeRandom benchTree = "random"
	// treeText is what a main.py mostly writes: JSON results, CSV metrics,
	// logs, Markdown reports and Python source.
	treeText benchTree = "text"
	// treeMixed is treeText with a fifth of its bytes already compressed
	// (PNG, JPEG, gzip, wheels, and random .bin files that only a probe can
	// tell apart).
	treeMixed benchTree = "mixed"
)

// textKinds are the text files of treeText and treeMixed with their share of
// the bytes (in twentieths) and how each is written.
var textKinds = []struct {
	dir, ext string
	share    int
	write    func(g *textGen, w *bufio.Writer, size int64)
}{
	{"results", ".json", 6, (*textGen).json},
	{"metrics", ".csv", 4, (*textGen).csv},
	{"logs", ".log", 3, (*textGen).log},
	{"reports", ".md", 3, (*textGen).markdown},
	{"src", ".py", 4, (*textGen).python},
}

// binaryExts are the already compressed files of treeMixed; ".bin" is an
// extension WriteZip does not know, so its probe must find them.
var binaryExts = []string{".png", ".jpg", ".gz", ".whl", ".bin"}

// writeTree fills dir with about total bytes of the given kind.
func writeTree(b *testing.B, dir string, kind benchTree, total int64) {
	b.Helper()
	cha := rand.NewChaCha8([32]byte{42})
	rng := rand.New(cha)
	g := newTextGen(rng)
	var binary int64
	switch kind {
	case treeRandom:
		binary = total
	case treeMixed:
		binary = total / 5
	}
	// Sizes from 1 KiB to 4 MiB, skewed small like real outputs; the bytes,
	// not the files, are shared out.
	size := func() int64 { return min(4<<20, 1<<10<<rng.IntN(13)+rng.Int64N(1<<10)) }
	n := 0
	create := func(sub, ext string, size int64, write func(w *bufio.Writer)) {
		n++
		p := filepath.Join(dir, sub, fmt.Sprintf("%s-%05d%s", sub, n, ext))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 256<<10)
		write(w)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	chunk := make([]byte, 64<<10)
	for left := binary; left > 0; {
		s := min(size()*4, left)
		left -= s
		ext := binaryExts[rng.IntN(len(binaryExts))]
		create("media", ext, s, func(w *bufio.Writer) {
			for left := s; left > 0; {
				c := chunk[:min(int64(len(chunk)), left)]
				_, _ = cha.Read(c)
				_, _ = w.Write(c)
				left -= int64(len(c))
			}
		})
	}
	for left := total - binary; left > 0; {
		k := textKinds[pickShare(rng)]
		s := min(size(), left)
		left -= s
		create(k.dir, k.ext, s, func(w *bufio.Writer) { k.write(g, w, s) })
	}
}

// pickShare picks an index of textKinds in proportion to the shares.
func pickShare(rng *rand.Rand) int {
	r := rng.IntN(20)
	for i, k := range textKinds {
		if r < k.share {
			return i
		}
		r -= k.share
	}
	return len(textKinds) - 1
}

// textGen writes plausible text: words drawn from a Zipf-distributed
// vocabulary, so that it compresses about as well as real prose and data.
type textGen struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	words []string
}

func newTextGen(rng *rand.Rand) *textGen {
	syll := []string{"ka", "lo", "mi", "ner", "sta", "te", "vo", "qu", "ri", "zen", "pa", "dul", "or", "ex", "an", "si", "mon", "tra", "bel", "cu"}
	words := make([]string, 8000)
	for i := range words {
		var w []byte
		for range 1 + rng.IntN(4) {
			w = append(w, syll[rng.IntN(len(syll))]...)
		}
		words[i] = string(w)
	}
	return &textGen{rng: rng, zipf: rand.NewZipf(rng, 1.1, 2, uint64(len(words)-1)), words: words}
}

func (g *textGen) word() string { return g.words[g.zipf.Uint64()] }

// until calls line until about size bytes went to w; a line is under 4 KiB,
// so bufio never flushes behind the count's back.
func until(w *bufio.Writer, size int64, line func()) {
	var flushed int64
	for flushed+int64(w.Buffered()) < size {
		if w.Available() < 4<<10 {
			flushed += int64(w.Buffered())
			if w.Flush() != nil {
				return
			}
		}
		line()
	}
}

func (g *textGen) json(w *bufio.Writer, size int64) {
	w.WriteString("[\n")
	until(w, size, func() {
		fmt.Fprintf(w, `  {"id": %d, "name": "%s %s", "score": %.6f, "count": %d, "tags": ["%s", "%s"], "ok": %t, "created": "2026-%02d-%02dT%02d:%02d:%02dZ"},`+"\n",
			g.rng.IntN(1e6), g.word(), g.word(), g.rng.Float64()*100, g.rng.IntN(5000), g.word(), g.word(), g.rng.IntN(2) == 0,
			1+g.rng.IntN(12), 1+g.rng.IntN(28), g.rng.IntN(24), g.rng.IntN(60), g.rng.IntN(60))
	})
	w.WriteString("  {}\n]\n")
}

func (g *textGen) csv(w *bufio.Writer, size int64) {
	w.WriteString("step,epoch,loss,accuracy,learning_rate,elapsed_s\n")
	step := 0
	loss := 2.5
	until(w, size, func() {
		step++
		loss *= 0.9995 + g.rng.Float64()*0.0008
		fmt.Fprintf(w, "%d,%d,%.5f,%.4f,%.2e,%.3f\n", step, step/1000, loss, 1-loss/3+g.rng.Float64()*0.01, 3e-4*(1-float64(step%100000)/1e5), float64(step)*0.137)
	})
}

func (g *textGen) log(w *bufio.Writer, size int64) {
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR"}
	sec := 0
	until(w, size, func() {
		sec += g.rng.IntN(3)
		fmt.Fprintf(w, "2026-12-01 %02d:%02d:%02d,%03d %-7s %s.%s: %s %s %s=%d\n", sec/3600%24, sec/60%60, sec%60, g.rng.IntN(1000),
			levels[g.rng.IntN(len(levels))], g.word(), g.word(), g.word(), g.word(), g.word(), g.rng.IntN(10000))
	})
}

func (g *textGen) markdown(w *bufio.Writer, size int64) {
	until(w, size, func() {
		switch g.rng.IntN(6) {
		case 0:
			fmt.Fprintf(w, "\n## %s %s\n\n", g.word(), g.word())
		case 1:
			fmt.Fprintf(w, "| %s | %.3f | %d |\n", g.word(), g.rng.Float64(), g.rng.IntN(1000))
		default:
			for range 8 + g.rng.IntN(20) {
				w.WriteString(g.word())
				w.WriteByte(' ')
			}
			w.WriteString(".\n")
		}
	})
}

func (g *textGen) python(w *bufio.Writer, size int64) {
	until(w, size, func() {
		name := g.word()
		fmt.Fprintf(w, "\n\ndef %s_%s(%s, %s=None):\n    \"\"\"%s %s %s.\"\"\"\n", name, g.word(), g.word(), g.word(), g.word(), g.word(), g.word())
		for range 2 + g.rng.IntN(6) {
			fmt.Fprintf(w, "    %s = %s.%s(%s, %s)\n", g.word(), g.word(), g.word(), g.word(), strconv.Itoa(g.rng.IntN(100)))
		}
		fmt.Fprintf(w, "    if %s > %d:\n        return %s\n    return None\n", g.word(), g.rng.IntN(100), g.word())
	})
}
