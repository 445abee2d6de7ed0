// Package metrics holds q2o's Prometheus metrics: HTTP requests, runs by
// outcome, the outbox backlog, Stripe events, and asynq's queues (through
// asynq's x/metrics collector). One Registry per process; /metrics serves it.
package metrics

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors the API and the worker update.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // route, method, status
	HTTPDuration *prometheus.HistogramVec // route, method
	RunsStarted  prometheus.Counter
	RunsFinished *prometheus.CounterVec   // outcome: completed, failed, timed_out, paused, interrupted
	RunDuration  *prometheus.HistogramVec // outcome
	StripeEvents *prometheus.CounterVec   // type, result
}

// OutboxBacklog reads the outbox's rows not yet on Redis (jobs.Backlog is
// one): how many, and the age of the oldest.
type OutboxBacklog interface {
	Unsent(ctx context.Context) (int64, time.Duration, error)
}

// New registers q2o's metrics, the Go and process collectors, and, when
// given, the asynq queue collector and the outbox collector.
func New(inspector *asynq.Inspector, outbox OutboxBacklog) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "q2o_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		RunsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "q2o_runs_started_total", Help: "Run attempts started (main.py launched).",
		}),
		RunsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_runs_finished_total", Help: "Run attempts ended, by outcome.",
		}, []string{"outcome"}),
		RunDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "q2o_run_duration_seconds", Help: "How long main.py ran, by outcome.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}, []string{"outcome"}),
		StripeEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_stripe_events_total", Help: "Stripe webhook events by type and result.",
		}, []string{"type", "result"}),
	}
	r.MustRegister(m.HTTPRequests, m.HTTPDuration, m.RunsStarted, m.RunsFinished, m.RunDuration, m.StripeEvents,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if inspector != nil {
		r.MustRegister(asynqmetrics.NewQueueMetricsCollector(inspector))
	}
	if outbox != nil {
		r.MustRegister(outboxCollector{outbox: outbox})
	}
	return m
}

var (
	outboxBacklog = prometheus.NewDesc("q2o_outbox_backlog", "Outbox tasks not yet on Redis.", nil, nil)
	outboxAge     = prometheus.NewDesc("q2o_outbox_oldest_age_seconds", "Age of the oldest outbox task not yet on Redis (0 when none).", nil, nil)
)

// outboxCollector reads the outbox backlog at scrape time.
type outboxCollector struct{ outbox OutboxBacklog }

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxBacklog; ch <- outboxAge }

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, age, err := c.outbox.Unsent(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxBacklog, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxBacklog, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(outboxAge, prometheus.GaugeValue, age.Seconds())
}
