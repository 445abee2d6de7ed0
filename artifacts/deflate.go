package artifacts

import (
	stdflate "compress/flate"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// This file is how one chunk of a file is deflated: at which level, with
// which pooled writer, and a byte counter for the zip's size. Text goes
// through the standard library's deflater (smaller than klauspost's at the
// same speed, see textLevel); the probe, incompressible data and stored
// blocks through klauspost's, whose fast levels and ResetDict suit them.

const (
	// textLevel is the standard library's compress/flate level for data that
	// compresses (see stdDeflater). Measured against `zip -r -6` (zlib level
	// 6) on the 32 MiB text tree of BenchmarkWriteZip, CPU time per byte on
	// one core and the zip's size (the tree is seeded, so sizes repeat):
	//
	//	compress/flate 5: 1.3× zip -6's speed, 0.16% smaller
	//	compress/flate 6: 0.8×, 2.2% smaller
	//	klauspost 6:      5×,   3.8% larger
	//	klauspost 7:      2×,   0.7% larger
	//	klauspost 8:      1×,   2.6% smaller
	//
	// Only compress/flate 5 is both faster on one core and no larger; on two
	// cores the chunks run in parallel on top of that. On real source code
	// (Go's net and crypto trees, small files) every Go level up to these
	// comes out 0.1-0.7% larger than zlib's 6 (its 3-byte matches).
	textLevel = 5
	// probeLevel is the fast level the probe tries, and the level for data
	// the probe finds incompressible: it finds nothing and stores the blocks
	// about 50 times faster than textLevel gives up on them.
	probeLevel = 1
	// probeSize is how much of a chunk the probe compresses.
	probeSize = 32 << 10
	// incompressible is the probe's ratio (compressed over raw, in 1/1000)
	// from which a chunk is not worth textLevel.
	incompressible = 950
)

// storedExts are the extensions of files that are compressed already; their
// chunks are written as stored deflate blocks, without even a probe. They
// stay Deflate entries (stored blocks cost 5 bytes in 64 KiB), so that every
// entry is a self-delimiting stream whatever its size turns out to be.
var storedExts = map[string]bool{}

func init() {
	for _, e := range strings.Fields(`
		.zip .gz .tgz .bz2 .xz .txz .zst .lz4 .lzma .br .7z .rar .z .sz
		.whl .jar .war .apk .aar .egg .nupkg .vsix .xpi .crx .ipa .deb .rpm
		.docx .xlsx .pptx .odt .ods .odp .epub .npz .pt .pth .safetensors .keras .parquet .orc .avro
		.png .jpg .jpeg .gif .webp .avif .heic .heif .jxl .jp2 .tif .tiff
		.mp3 .m4a .aac .ogg .oga .opus .flac .wma
		.mp4 .m4v .mkv .webm .mov .avi .wmv .flv .3gp
		.woff .woff2`) {
		storedExts[e] = true
	}
}

// stored reports whether the file at rel is compressed already, going by its
// extension.
func stored(rel string) bool {
	return storedExts[strings.ToLower(path.Ext(rel))]
}

// chunkLevel is the level one chunk is deflated at. It depends only on the
// chunk's bytes, never on timing, so the same tree gives the same zip.
func chunkLevel(data []byte, storedFile bool) int {
	if storedFile {
		return flate.NoCompression
	}
	if len(data) < 4<<10 {
		return textLevel
	}
	probe := data[:min(len(data), probeSize)]
	var out countingWriter
	fw := getDeflater(probeLevel, &out, nil)
	_, _ = fw.Write(probe) // a countingWriter never fails
	_ = fw.Close()
	putDeflater(probeLevel, fw)
	if int64(out)*1000 >= int64(len(probe))*incompressible {
		return probeLevel
	}
	return textLevel
}

// deflate compresses c.data into c.out as a piece of one deflate stream: the
// dictionary is the end of the previous chunk, and a chunk that is not the
// last ends with a sync flush so that the pieces concatenate.
func deflate(c *chunk) {
	c.out.Reset()
	level := chunkLevel(c.data, c.stored)
	fw := getDeflater(level, &c.out, c.dict)
	_, c.err = fw.Write(c.data)
	if c.err == nil && c.last {
		c.err = fw.Close()
	} else if c.err == nil {
		c.err = fw.Flush()
	}
	putDeflater(level, fw)
}

// deflater is one chunk's compressor.
type deflater interface {
	Write(p []byte) (int, error)
	Flush() error
	Close() error
}

// deflaters reuses deflaters, one pool per level (textLevel's holds
// stdDeflaters, the others klauspost's writers): each holds up to about 1 MB
// of state, too much to make per chunk.
var deflaters sync.Map // level → *sync.Pool

// getDeflater returns a writer at level onto w, primed with dict.
func getDeflater(level int, w io.Writer, dict []byte) deflater {
	p, _ := deflaters.LoadOrStore(level, &sync.Pool{})
	if level == textLevel {
		d, ok := p.(*sync.Pool).Get().(*stdDeflater)
		if !ok {
			d = newStdDeflater(level)
		}
		d.reset(w, dict)
		return d
	}
	if fw, ok := p.(*sync.Pool).Get().(*flate.Writer); ok {
		fw.ResetDict(w, dict)
		return fw
	}
	fw, err := flate.NewWriterDict(w, level, dict)
	if err != nil {
		panic(err) // the levels are constants in range
	}
	return fw
}

func putDeflater(level int, fw deflater) {
	p, _ := deflaters.Load(level)
	p.(*sync.Pool).Put(fw)
}

// stdDeflater is the standard library's deflater for text. Its Writer has no
// ResetDict, so the dictionary is primed by compressing it into the void:
// the dictionary's blocks go to io.Discard up to a sync flush, which leaves
// the stream byte-aligned with the dictionary in its window, and only the
// blocks after it reach the chunk's output. That costs compressing the 32 KiB
// once more per chunk, and gives exactly the stream NewWriterDict would.
type stdDeflater struct {
	*stdflate.Writer
	dst switchWriter
}

func newStdDeflater(level int) *stdDeflater {
	d := &stdDeflater{}
	fw, err := stdflate.NewWriter(&d.dst, level)
	if err != nil {
		panic(err) // the levels are constants in range
	}
	d.Writer = fw
	return d
}

func (d *stdDeflater) reset(w io.Writer, dict []byte) {
	d.dst.w = io.Discard
	d.Reset(&d.dst)
	if len(dict) > 0 {
		_, _ = d.Write(dict) // io.Discard never fails
		_ = d.Flush()
	}
	d.dst.w = w
}

// switchWriter writes to w, which can change between writes.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// countingWriter counts the bytes written through it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
