package metrics

import (
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// asynq's queues, read at scrape time through its Inspector (one
// GetQueueInfo per queue), with Prometheus's naming: gauges without
// _total, the state as a label, seconds for time.
var (
	queueTasks = prometheus.NewDesc("q2o_queue_tasks",
		"Tasks in an asynq queue, by state (pending, active, scheduled, retry, archived, completed, aggregating).",
		[]string{"queue", "state"}, nil)
	queueLatency = prometheus.NewDesc("q2o_queue_latency_seconds",
		"How long the oldest pending task of an asynq queue has waited (0 when none).", []string{"queue"}, nil)
	queuePaused = prometheus.NewDesc("q2o_queue_paused",
		"1 when an asynq queue is paused (its tasks are not processed).", []string{"queue"}, nil)
	workersAlive = prometheus.NewDesc("q2o_workers_alive",
		"Worker processes whose asynq servers keep their heartbeat in Redis.", nil, nil)
	queueUp = prometheus.NewDesc("q2o_queue_scrape_ok",
		"1 when the queues could be read from Redis at this scrape.", nil, nil)
)

// queueCollector reads asynq's queues at scrape time. A queue appears once
// asynq knows it (its first task).
type queueCollector struct{ inspector *asynq.Inspector }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueTasks
	ch <- queueLatency
	ch <- queuePaused
	ch <- workersAlive
	ch <- queueUp
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	names, err := c.inspector.Queues()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 0)
		return
	}
	ok := 1.0
	for _, q := range names {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			ok = 0
			continue
		}
		for _, s := range []struct {
			state string
			n     int
		}{
			{"pending", info.Pending}, {"active", info.Active}, {"scheduled", info.Scheduled}, {"retry", info.Retry},
			{"archived", info.Archived}, {"completed", info.Completed}, {"aggregating", info.Aggregating},
		} {
			ch <- prometheus.MustNewConstMetric(queueTasks, prometheus.GaugeValue, float64(s.n), q, s.state)
		}
		ch <- prometheus.MustNewConstMetric(queueLatency, prometheus.GaugeValue, info.Latency.Seconds(), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(queuePaused, prometheus.GaugeValue, paused, q)
	}
	// A worker process runs two asynq servers (its slots and its control
	// slots): a process is one host and pid.
	if servers, err := c.inspector.Servers(); err != nil {
		ok = 0
	} else {
		procs := map[string]bool{}
		for _, s := range servers {
			procs[fmt.Sprintf("%s:%d", s.Host, s.PID)] = true
		}
		ch <- prometheus.MustNewConstMetric(workersAlive, prometheus.GaugeValue, float64(len(procs)))
	}
	ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, ok)
}
