package worker

import (
	"github.com/google/uuid"

	"github.com/q2o/q2o/worker/runner"
)

// liveLog starts publishing an attempt's log, when the worker has
// LogStreams: it returns what runner.Spec.Live takes (nil without) and the
// func that ends it, which the attempt calls once main.py's output is all
// in run.log (it sends the stream's end entry).
func (w *Worker) liveLog(execID uuid.UUID) (runner.LiveLog, func()) {
	if w.cfg.LogStreams == nil {
		return nil, func() {}
	}
	p := w.cfg.LogStreams.Publish(execID)
	return p, p.Close
}
