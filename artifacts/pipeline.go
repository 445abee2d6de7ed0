package artifacts

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// This file is how WriteZip uses every core while the zip stays one ordered
// stream: the walk reads each file in chunks and hands them to workers that
// deflate them in parallel, and writes the results into the zip in walk order
// as they come back. At most maxInFlight chunks exist at once, whatever the
// tree, which is what bounds the memory.

const (
	// chunkSize is how much of a file one worker deflates at a time.
	chunkSize = 2 * copyBufSize
	// dictSize is how much of the previous chunk primes the next one's
	// deflater: the whole deflate window, so that a file cut in chunks
	// compresses almost as well as in one piece.
	dictSize = 32 << 10
	// chunksPerWorker chunks per worker in flight keep the workers busy while
	// the walk waits for the oldest one.
	chunksPerWorker = 3
)

// chunk is a piece of a file on its way into the zip.
type chunk struct {
	data   []byte // the file's bytes, at most chunkSize
	dict   []byte // the end of the file's previous chunk, or empty
	stored bool   // the file is compressed already
	last   bool   // the file ends here: the deflate stream ends too
	out    bytes.Buffer
	err    error
	done   chan struct{} // closed when out and err are set
}

// pending is the next thing to write into the zip, in walk order: an entry's
// header (a directory's or a file's) or a chunk of the file last started.
type pending struct {
	header *zip.FileHeader
	chunk  *chunk
}

// pipeline is the zipper's share of the work with the deflate workers. It is
// only used from the walk's goroutine; the workers see only chunks.
type pipeline struct {
	queue    []pending
	inFlight int      // chunks queued and not written yet
	free     []*chunk // chunks written, for reuse
	jobs     chan *chunk
	workers  sync.WaitGroup
	stopping atomic.Bool
	entry    io.Writer // the zip entry the chunks are written to
	replay   replayDeflater
}

func (p *pipeline) maxInFlight() int { return chunksPerWorker * runtime.GOMAXPROCS(0) }

// start starts the workers on the first chunk.
func (p *pipeline) start() {
	if p.jobs != nil {
		return
	}
	n := runtime.GOMAXPROCS(0)
	p.jobs = make(chan *chunk, p.maxInFlight())
	for range n {
		p.workers.Go(func() {
			for c := range p.jobs {
				if !p.stopping.Load() {
					deflate(c)
				}
				close(c.done)
			}
		})
	}
}

// stop ends the workers once they finish what they hold, so that no
// goroutine outlives WriteZip.
func (p *pipeline) stop() {
	if p.jobs == nil {
		return
	}
	p.stopping.Store(true)
	close(p.jobs)
	p.workers.Wait()
	p.jobs = nil
}

// newChunk returns an empty chunk, writing the oldest pending ones into zw
// while too many are in flight.
func (p *pipeline) newChunk(zw *zip.Writer) (*chunk, error) {
	for p.inFlight >= p.maxInFlight() {
		if err := p.writeNext(zw); err != nil {
			return nil, err
		}
	}
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c, nil
	}
	return &chunk{data: make([]byte, 0, chunkSize), dict: make([]byte, 0, dictSize)}, nil
}

// submit hands c to the workers; it is written into the zip in its turn.
func (p *pipeline) submit(c *chunk) {
	p.start()
	c.done = make(chan struct{})
	c.err = nil
	p.inFlight++
	p.queue = append(p.queue, pending{chunk: c})
	p.jobs <- c // never blocks: the channel holds maxInFlight
}

// addHeader queues an entry's header.
func (p *pipeline) addHeader(h *zip.FileHeader) {
	p.queue = append(p.queue, pending{header: h})
}

// flush writes everything pending into zw.
func (p *pipeline) flush(zw *zip.Writer) error {
	for len(p.queue) > 0 {
		if err := p.writeNext(zw); err != nil {
			return err
		}
	}
	return nil
}

// writeNext writes the oldest pending item into zw, waiting for a chunk's
// workers if need be.
func (p *pipeline) writeNext(zw *zip.Writer) error {
	next := p.queue[0]
	p.queue[0] = pending{}
	p.queue = p.queue[1:]
	if h := next.header; h != nil {
		w, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip entry %q: %w", h.Name, err)
		}
		p.entry = w
		return nil
	}
	c := next.chunk
	<-c.done
	p.inFlight--
	if c.err != nil {
		return fmt.Errorf("deflate: %w", c.err)
	}
	// The entry's writer counts and checksums c.data, and passes it to the
	// zip's compressor, replayDeflater, which writes c.out in its place.
	p.replay.next = c.out.Bytes()
	if _, err := p.entry.Write(c.data); err != nil {
		return err
	}
	p.free = append(p.free, c)
	return nil
}

// replayDeflater is the zip writer's Deflate compressor: the workers have
// already deflated each chunk, so for the chunk written to the entry it
// writes their output instead.
type replayDeflater struct {
	w    io.Writer
	next []byte
}

func (r *replayDeflater) compressor(w io.Writer) (io.WriteCloser, error) {
	r.w, r.next = w, nil
	return r, nil
}

func (r *replayDeflater) Write(p []byte) (int, error) {
	if err := r.Close(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes the chunk not written yet, if any: an empty chunk may reach
// the compressor only when the entry closes.
func (r *replayDeflater) Close() error {
	if r.next == nil {
		return nil
	}
	_, err := r.w.Write(r.next)
	r.next = nil
	return err
}

// copyFile queues at most size bytes of f, the file at rel, as chunks,
// checking ctx before each read of copyBufSize so that a large file does not
// delay a cancel.
func (z *zipper) copyFile(f *os.File, rel string, size int64) error {
	storedFile := stored(rel)
	z.buf = z.buf[:0]
	for {
		c, err := z.pipe.newChunk(z.zw)
		if err != nil {
			return err
		}
		c.stored, c.last = storedFile, false
		c.data, c.dict = c.data[:0], append(c.dict[:0], z.buf...)
		for len(c.data) < chunkSize && !c.last {
			if size <= 0 {
				c.last = true
				break
			}
			if err := z.ctx.Err(); err != nil {
				return err
			}
			n, err := f.Read(c.data[len(c.data):min(int64(len(c.data))+copyBufSize, int64(len(c.data))+size, chunkSize)])
			c.data = c.data[:len(c.data)+n]
			size -= int64(n)
			if errors.Is(err, io.EOF) {
				c.last = true
			} else if err != nil {
				return err
			}
		}
		c.last = c.last || size <= 0
		if !c.last {
			z.buf = append(z.buf[:0], c.data[max(0, len(c.data)-dictSize):]...)
		}
		z.pipe.submit(c)
		if c.last {
			return nil
		}
	}
}
