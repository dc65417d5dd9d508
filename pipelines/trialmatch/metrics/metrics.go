package metrics

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/trialflow/trialflow/schemas"
)

// Namespace is the Beam metrics namespace of every metric of this package
// and the prefix of the Prometheus metric names.
const Namespace = "trialflow"

// Beam metric names are "<stage>/<metric>", with these metrics.
const (
	RecordsIn      = "records_in"
	RecordsOut     = "records_out"
	Matches        = "matches"
	Retractions    = "retractions"
	DeadLetters    = "dead_letters" // "<stage>/dead_letters/<reason>"
	EventToMatchMs = "event_to_match_ms"
)

// Registry is the process-global Prometheus registry that mirrors the Beam
// metrics of every Stage in this process (plus Go runtime and process
// collectors). Serve exposes it.
var Registry = prometheus.NewRegistry()

var (
	promIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "records_in_total", Help: "Records read by a pipeline stage.",
	}, []string{"stage"})
	promOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "records_out_total", Help: "Records emitted by a pipeline stage.",
	}, []string{"stage"})
	promDead = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "dead_letters_total", Help: "Records rejected to the dead-letter output, by reason code.",
	}, []string{"stage", "reason"})
	promMatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "matches_total", Help: "Approved-patient records emitted, by action (NEW or RETRACTED).",
	}, []string{"stage", "action"})
	promLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "event_to_match_latency_seconds",
		Help: "Match time minus event time of approved-patient records.",
		// 1 ms to about 18.6 h: streaming latencies and bounded replays of old events.
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 14),
	}, []string{"stage"})
)

func init() {
	Registry.MustRegister(promIn, promOut, promDead, promMatches, promLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Stage counts the records of one pipeline stage, both as Beam metrics
// (namespace Namespace, names "<stage>/<metric>") and in Registry. A Stage
// is a small value: keep one in a package variable or a DoFn field (set it
// in Setup, or make the field unexported: it is not serialized). Its
// methods are safe for concurrent use. Beam metrics need the ctx a DoFn
// method receives.
type Stage struct {
	name                       string
	in, out, matches, retracts beam.Counter
	latency                    beam.Distribution
	promIn, promOut            prometheus.Counter
	promNew, promRetracted     prometheus.Counter
	promLatency                prometheus.Observer
}

// NewStage returns the counters of the stage called name (lower_snake_case
// or dotted, without "/").
func NewStage(name string) Stage {
	return Stage{
		name:          name,
		in:            beam.NewCounter(Namespace, name+"/"+RecordsIn),
		out:           beam.NewCounter(Namespace, name+"/"+RecordsOut),
		matches:       beam.NewCounter(Namespace, name+"/"+Matches),
		retracts:      beam.NewCounter(Namespace, name+"/"+Retractions),
		latency:       beam.NewDistribution(Namespace, name+"/"+EventToMatchMs),
		promIn:        promIn.WithLabelValues(name),
		promOut:       promOut.WithLabelValues(name),
		promNew:       promMatches.WithLabelValues(name, "NEW"),
		promRetracted: promMatches.WithLabelValues(name, "RETRACTED"),
		promLatency:   promLatency.WithLabelValues(name),
	}
}

// Name returns the stage name.
func (s Stage) Name() string { return s.name }

// In counts n records read by the stage.
func (s Stage) In(ctx context.Context, n int64) {
	s.in.Inc(ctx, n)
	s.promIn.Add(float64(n))
}

// Out counts n records emitted by the stage.
func (s Stage) Out(ctx context.Context, n int64) {
	s.out.Inc(ctx, n)
	s.promOut.Add(float64(n))
}

// DeadLetter counts one record rejected for reason (a deadletter reason
// code such as "invalid_payload").
func (s Stage) DeadLetter(ctx context.Context, reason string) {
	beam.NewCounter(Namespace, s.name+"/"+DeadLetters+"/"+reason).Inc(ctx, 1)
	promDead.WithLabelValues(s.name, reason).Inc()
}

// Match counts one approved-patient record emitted by the stage: a match
// (NEW) or a retraction (RETRACTED), and for NEW records the event-to-match
// latency (MatchTime - EventTime; negative skew counts as 0). Records with
// another action are not counted.
func (s Stage) Match(ctx context.Context, a *schemas.ApprovedPatient) {
	switch a.Action {
	case "NEW":
		s.matches.Inc(ctx, 1)
		s.promNew.Inc()
		s.Latency(ctx, a.MatchTime.Sub(a.EventTime))
	case "RETRACTED":
		s.retracts.Inc(ctx, 1)
		s.promRetracted.Inc()
	}
}

// Latency records one event-to-match latency (negative values count as 0).
func (s Stage) Latency(ctx context.Context, d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.latency.Update(ctx, d.Milliseconds())
	s.promLatency.Observe(d.Seconds())
}
