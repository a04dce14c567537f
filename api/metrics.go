package api

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metrics is the node's Prometheus exposition (text format 0.0.4) at
// /metrics: a handful of counters, gauges and one latency histogram per
// route pattern, kept in memory.
type metrics struct {
	requests     counterVec // by route, method, status
	latency      histogramVec
	authFailures counter
	predictions  counter
	bytesIn      counter
	bytesOut     counter
	connsOpen    counter // a gauge: accepted connections not yet closed
	connsRefused counter
	queueDepth   func() int
	jobsRunning  func() int
	keyCacheSize func() int64
}

type counter struct{ v atomic.Int64 }

func (c *counter) Inc()        { c.v.Add(1) }
func (c *counter) Add(n int64) { c.v.Add(n) }

type counterVec struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counterVec) Inc(labels string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[labels]++
	c.mu.Unlock()
}

var latencyBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60}

type histogramVec struct {
	mu sync.Mutex
	m  map[string]*histogram
}

type histogram struct {
	counts []int64 // per bucket, cumulative on output
	sum    float64
	n      int64
}

func (h *histogramVec) Observe(labels string, v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]*histogram{}
	}
	x, ok := h.m[labels]
	if !ok {
		x = &histogram{counts: make([]int64, len(latencyBuckets))}
		h.m[labels] = x
	}
	for i, b := range latencyBuckets {
		if v <= b {
			x.counts[i]++
			break
		}
	}
	x.sum += v
	x.n++
}

func (m *metrics) write(w io.Writer) {
	fmt.Fprintln(w, "# HELP aios_http_requests_total HTTP requests by route pattern, method and status.")
	fmt.Fprintln(w, "# TYPE aios_http_requests_total counter")
	m.requests.mu.Lock()
	for _, k := range sortedKeys(m.requests.m) {
		fmt.Fprintf(w, "aios_http_requests_total{%s} %d\n", k, m.requests.m[k])
	}
	m.requests.mu.Unlock()
	fmt.Fprintln(w, "# HELP aios_http_request_duration_seconds Request latency by route pattern.")
	fmt.Fprintln(w, "# TYPE aios_http_request_duration_seconds histogram")
	m.latency.mu.Lock()
	for _, k := range sortedKeys(m.latency.m) {
		h := m.latency.m[k]
		var cum int64
		for i, b := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "aios_http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", k, b, cum)
		}
		fmt.Fprintf(w, "aios_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", k, h.n)
		fmt.Fprintf(w, "aios_http_request_duration_seconds_sum{%s} %g\n", k, h.sum)
		fmt.Fprintf(w, "aios_http_request_duration_seconds_count{%s} %d\n", k, h.n)
	}
	m.latency.mu.Unlock()
	simple := []struct {
		name, help, kind string
		v                int64
	}{
		{"aios_auth_failures_total", "Requests refused for failed authentication.", "counter", m.authFailures.v.Load()},
		{"aios_predictions_total", "Encrypted predictions computed.", "counter", m.predictions.v.Load()},
		{"aios_request_bytes_total", "Bytes of request bodies read.", "counter", m.bytesIn.v.Load()},
		{"aios_response_bytes_total", "Bytes of response bodies written.", "counter", m.bytesOut.v.Load()},
		{"aios_connections_open", "Connections accepted and not yet closed (LimitConnections).", "gauge", m.connsOpen.v.Load()},
		{"aios_connections_refused_total", "Connections closed on accept for exceeding the per-address limit.", "counter", m.connsRefused.v.Load()},
		{"aios_job_queue_depth", "Jobs waiting in the queue.", "gauge", int64(call(m.queueDepth))},
		{"aios_jobs_running", "Jobs being evaluated.", "gauge", int64(call(m.jobsRunning))},
		{"aios_key_cache_bytes", "Bytes of deserialized evaluation keys in the cache.", "gauge", call64(m.keyCacheSize)},
	}
	for _, s := range simple {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", s.name, s.help, s.name, s.kind, s.name, s.v)
	}
}

func call(f func() int) int {
	if f == nil {
		return 0
	}
	return f()
}

func call64(f func() int64) int64 {
	if f == nil {
		return 0
	}
	return f()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// statusRecorder captures the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1e6) / 1e6 }
