package artifacts

import (
	"io"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// This file is how one chunk of a file is deflated: at which level, with
// which pooled writer, and a byte counter for the zip's size.

const (
	// textLevel is klauspost's level for data that compresses. Measured
	// against `zip -r -6` (zlib level 6) on BenchmarkWriteZip's 32 MiB trees
	// (seeded, so the sizes repeat), CPU time per byte on one core and the
	// zip's size, text tree / mixed tree:
	//
	//	klauspost 6:      4.0× zip -6's speed, 3.9% / 2.0% larger
	//	klauspost 7:      2.0×,                0.7% larger (text)
	//	klauspost 8:      1.0× / 1.1×,         2.6% / 1.2% smaller
	//	compress/flate 5: 1.4× / 1.5×,         0.16% smaller / 0.05% larger
	//	compress/flate 6: 0.8× / 0.9×,         2.2% / 1.4% smaller
	//
	// Level 8 is the fastest that is no larger on both trees, with room to
	// spare; the zip is to beat zip -6's throughput by deflating chunks on
	// every core at once (about 2× with two free cores), not per core. On
	// Go's own net and crypto sources (1,600 small files) those measured
	// (klauspost 7 and 8, compress/flate 5 and 6) come out 0.1-1% larger
	// than zlib's 6.
	textLevel = 8
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

// deflaters reuses flate writers, one pool per level: each holds up to about
// 1 MB of state, too much to make per chunk.
var deflaters sync.Map // level → *sync.Pool

// getDeflater returns a writer at level onto w, primed with dict.
func getDeflater(level int, w io.Writer, dict []byte) *flate.Writer {
	p, _ := deflaters.LoadOrStore(level, &sync.Pool{})
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

func putDeflater(level int, fw *flate.Writer) {
	p, _ := deflaters.Load(level)
	p.(*sync.Pool).Put(fw)
}

// countingWriter counts the bytes written through it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
