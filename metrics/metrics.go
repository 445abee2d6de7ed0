// Package metrics holds q2o's Prometheus metrics: HTTP requests and
// streams, runs by outcome and in flight, zips, mail, the outbox backlog,
// Stripe events, the build, and asynq's queues (read through asynq's
// Inspector at scrape time). One Registry per process; /metrics serves it.
package metrics

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors the API and the worker update.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // route, method, status
	HTTPDuration *prometheus.HistogramVec // route, method; requests only, never streams
	StreamsOpen  *prometheus.GaugeVec     // route: SSE answers being written now
	StreamsTotal *prometheus.CounterVec   // route: SSE answers begun
	RunsStarted  prometheus.Counter
	RunsInFlight *prometheus.GaugeVec     // queue: main.py running now
	RunsFinished *prometheus.CounterVec   // outcome: completed, failed, timed_out, paused, interrupted
	RunDuration  *prometheus.HistogramVec // outcome
	ZipDuration  prometheus.Histogram
	ZipSize      prometheus.Histogram
	Mails        *prometheus.CounterVec // result: sent, failed
	StripeEvents *prometheus.CounterVec // type, result

	build *prometheus.GaugeVec // version, commit, go_version
}

// OutboxBacklog reads the outbox's rows not yet on Redis (jobs.Backlog is
// one): how many, and the age of the oldest.
type OutboxBacklog interface {
	Unsent(ctx context.Context) (int64, time.Duration, error)
}

// New registers q2o's metrics, the Go and process collectors, and, when
// given, the queue collector and the outbox collector. q2o_build_info
// starts from the build information the Go toolchain embeds;
// SetBuildInfo replaces it.
func New(inspector *asynq.Inspector, outbox OutboxBacklog) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_http_requests_total", Help: "HTTP requests (streams included) by route, method and status.",
		}, []string{"route", "method", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "q2o_http_request_duration_seconds", Help: "HTTP request latency by route and method; event streams are not in it (q2o_http_streams_*).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		StreamsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "q2o_http_streams_open", Help: "Server-sent event streams (live events, followed logs) open now, by route.",
		}, []string{"route"}),
		StreamsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_http_streams_total", Help: "Server-sent event streams opened, by route.",
		}, []string{"route"}),
		RunsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "q2o_runs_started_total", Help: "Run attempts started (main.py launched).",
		}),
		RunsInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "q2o_runs_in_flight", Help: "Runs whose main.py is running now, by queue.",
		}, []string{"queue"}),
		RunsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_runs_finished_total", Help: "Run attempts ended, by outcome.",
		}, []string{"outcome"}),
		RunDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "q2o_run_duration_seconds", Help: "How long main.py ran, by outcome.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}, []string{"outcome"}),
		ZipDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "q2o_zip_duration_seconds", Help: "How long writing a run's output zip took.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		ZipSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "q2o_zip_size_bytes", Help: "Size of the output zips written.",
			Buckets: prometheus.ExponentialBuckets(1<<10, 4, 12), // 1 KiB … 4 GiB
		}),
		Mails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_mail_total", Help: "Emails (sign-in codes, email confirmations) handed to the SMTP server, by result: sent or failed.",
		}, []string{"result"}),
		StripeEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "q2o_stripe_events_total", Help: "Stripe webhook events by type and result.",
		}, []string{"type", "result"}),
		build: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "q2o_build_info", Help: "Always 1: the version, commit and Go version of this build.",
		}, []string{"version", "commit", "go_version"}),
	}
	// Both results exist from the start, so a ratio of them never lacks a side.
	m.Mails.WithLabelValues("sent")
	m.Mails.WithLabelValues("failed")
	r.MustRegister(m.HTTPRequests, m.HTTPDuration, m.StreamsOpen, m.StreamsTotal, m.RunsStarted, m.RunsInFlight,
		m.RunsFinished, m.RunDuration, m.ZipDuration, m.ZipSize, m.Mails, m.StripeEvents, m.build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.SetBuildInfo(embeddedBuild())
	if inspector != nil {
		r.MustRegister(queueCollector{inspector: inspector})
	}
	if outbox != nil {
		r.MustRegister(outboxCollector{outbox: outbox})
	}
	return m
}

// SetBuildInfo makes q2o_build_info's one series the given build's.
func (m *Metrics) SetBuildInfo(version, commit, goVersion string) {
	m.build.Reset()
	m.build.WithLabelValues(version, commit, goVersion).Set(1)
}

// embeddedBuild is the build information the Go toolchain embeds, which
// cmd/q2o completes with what `make build` stamps.
func embeddedBuild() (version, commit, goVersion string) {
	version, commit, goVersion = "(devel)", "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if info.Main.Version != "" {
		version = info.Main.Version
	}
	goVersion = info.GoVersion
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			commit = s.Value
		}
	}
	return
}

// Running counts a run of main.py from queue as started and in flight;
// the returned func, called when main.py has ended, takes it out of flight.
func (m *Metrics) Running(queue string) (done func()) {
	m.RunsStarted.Inc()
	g := m.RunsInFlight.WithLabelValues(queue)
	g.Inc()
	return g.Dec
}

// ObserveZip records one output zip written.
func (m *Metrics) ObserveZip(took time.Duration, size int64) {
	m.ZipDuration.Observe(took.Seconds())
	m.ZipSize.Observe(float64(size))
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
