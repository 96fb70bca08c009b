package sync

import (
	"slices"
	"strconv"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the engine's Prometheus metrics, on their own registry.
type Metrics struct {
	Registry *prometheus.Registry

	runs         *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	records      *prometheus.CounterVec
	pages        *prometheus.CounterVec
	restaged     *prometheus.CounterVec
	problems     *prometheus.CounterVec
	lastSuccess  *prometheus.GaugeVec
	cursorAge    *prometheus.GaugeVec
	requests     *prometheus.CounterVec
	retries      *prometheus.CounterVec
	throttled    *prometheus.CounterVec
	rateWait     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	outboxDepth  prometheus.Gauge
	dlqDepth     prometheus.Gauge
	pushes       *prometheus.CounterVec
	conflicts    prometheus.Counter
	target       string
	mu           gosync.Mutex
	vendorGauges map[string]*prometheus.GaugeVec
}

// NewMetrics registers every metric on a new registry. target names the
// target instance, whose request latencies feed the CRM histogram.
func NewMetrics(target string) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r, target: target, vendorGauges: map[string]*prometheus.GaugeVec{}}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_source_runs_total", Help: "Source runs by result (ok, error, canceled)."}, []string{"connector", "result"})
	m.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_source_runs_skipped_total", Help: "Scheduled runs skipped because the previous run was still going."}, []string{"connector"})
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_source_records_total", Help: "Records read from a source, by outcome (changed, unchanged, skipped)."}, []string{"connector", "outcome"})
	m.pages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_source_pages_total", Help: "Pages staged."}, []string{"connector"})
	m.restaged = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_source_pages_restaged_total", Help: "Pages staged a second time: staged ahead against a snapshot while the page before them committed, they found the store changed when their turn came (a push committed, or the page before was itself staged again). Counted in leadsync_source_pages_total once."}, []string{"connector"})
	m.problems = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_source_record_problems_total", Help: "Per-record decoding problems (odd dates, invalid phones)."}, []string{"connector"})
	m.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "leadsync_source_last_success_timestamp_seconds", Help: "End of the last successful run, Unix time."}, []string{"connector"})
	m.cursorAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "leadsync_source_cursor_age_seconds", Help: "Seconds since the source's cursor last advanced."}, []string{"connector"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_http_requests_total", Help: "HTTP attempts by status code (0: no response)."}, []string{"connector", "code"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_http_retries_total", Help: "HTTP retries by reason."}, []string{"connector", "reason"})
	m.throttled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_http_throttled_total", Help: "429 answers."}, []string{"connector"})
	m.rateWait = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_rate_limit_wait_seconds_total", Help: "Time spent waiting on the rate limiter and Retry-After pauses."}, []string{"connector"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "leadsync_crm_request_duration_seconds", Help: "CRM request latency.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10)}, []string{"method"})
	m.outboxDepth = prometheus.NewGauge(prometheus.GaugeOpts{Name: "leadsync_outbox_depth", Help: "Persons waiting to be pushed."})
	m.dlqDepth = prometheus.NewGauge(prometheus.GaugeOpts{Name: "leadsync_dlq_depth", Help: "Persons in the dead-letter queue."})
	m.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leadsync_pushes_total", Help: "Person pushes by result (ok, retry, dlq, error)."}, []string{"result"})
	m.conflicts = prometheus.NewCounter(prometheus.CounterOpts{Name: "leadsync_merge_conflicts_total", Help: "Joins refused because both persons have different CRM ids, and persons left with a second CRM lead by pushes that ran while they were merged."})
	for _, c := range []prometheus.Collector{m.runs, m.skipped, m.records, m.pages, m.restaged, m.problems, m.lastSuccess, m.cursorAge, m.requests, m.retries, m.throttled, m.rateWait, m.latency, m.outboxDepth, m.dlqDepth, m.pushes, m.conflicts} {
		f(c)
	}
	return m
}

// Request implements httpapi.Observer.
func (m *Metrics) Request(instance, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(instance, strconv.Itoa(status)).Inc()
	if status == 429 {
		m.throttled.WithLabelValues(instance).Inc()
	}
	if instance == m.target {
		m.latency.WithLabelValues(method).Observe(d.Seconds())
	}
}

// Retry implements httpapi.Observer.
func (m *Metrics) Retry(instance, reason string) { m.retries.WithLabelValues(instance, reason).Inc() }

// RateWait implements httpapi.Observer.
func (m *Metrics) RateWait(instance string, d time.Duration) {
	m.rateWait.WithLabelValues(instance).Add(d.Seconds())
}

// Gauge implements connectors.Metrics: a vendor-specific gauge, created on
// first use with the label names it is first given.
func (m *Metrics) Gauge(name string, labels map[string]string, v float64) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m.mu.Lock()
	g, ok := m.vendorGauges[name]
	if !ok {
		g = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "Connector-reported value."}, keys)
		if err := m.Registry.Register(g); err != nil {
			m.mu.Unlock()
			return
		}
		m.vendorGauges[name] = g
	}
	m.mu.Unlock()
	if gg, err := g.GetMetricWith(labels); err == nil {
		gg.Set(v)
	}
}
