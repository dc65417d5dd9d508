package metrics

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beammetrics "github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
)

// DeadLetterNamespace is the Beam namespace of the counters of
// transforms/deadletter.Emit by stage (deadletter.StageMetricsNamespace:
// one counter per "<stage>/<reason code>"); Summarize reports them as dead
// letters of that stage.
const DeadLetterNamespace = "deadletter.stage"

// deadLetterCodes is deadletter.Emit's namespace of counters by reason
// code only, which the by-stage counters repeat.
const deadLetterCodes = "deadletter"

// Summary is the Beam metrics of a finished job, by stage.
type Summary struct {
	Stages      []StageSummary    // sorted by stage name
	DeadLetters []DeadLetterCount // sorted by stage, then reason
	Other       []CounterValue    // counters of other namespaces, sorted
}

// StageSummary is the metrics of one stage, summed over the steps that
// report it.
type StageSummary struct {
	Stage       string
	In, Out     int64
	DeadLetters int64
	Matches     int64
	Retractions int64
	Latency     LatencySummary
}

// LatencySummary is the event-to-match latency distribution of a stage, in
// milliseconds. Beam distributions keep count, sum, min and max only.
type LatencySummary struct {
	Count, SumMs, MinMs, MaxMs int64
}

// MeanMs returns the mean latency in ms (0 without samples).
func (l LatencySummary) MeanMs() float64 {
	if l.Count == 0 {
		return 0
	}
	return float64(l.SumMs) / float64(l.Count)
}

// DeadLetterCount is the number of dead letters of one stage and reason.
type DeadLetterCount struct {
	Stage, Reason string
	Count         int64
}

// CounterValue is a counter outside this package's scheme, summed over
// the steps that report it.
type CounterValue struct {
	Namespace, Name string
	Value           int64
}

// Summarize reads the metrics of a finished job (committed values where the
// runner reports them, else attempted). A nil result has an empty summary.
func Summarize(res beam.PipelineResult) Summary {
	if res == nil {
		return Summary{}
	}
	return FromResults(res.Metrics())
}

// FromResults builds the Summary of Beam metrics results.
func FromResults(r beammetrics.Results) Summary {
	all := r.AllMetrics()
	stages := map[string]*StageSummary{}
	stage := func(name string) *StageSummary {
		s := stages[name]
		if s == nil {
			s = &StageSummary{Stage: name}
			stages[name] = s
		}
		return s
	}
	dead := map[[2]string]int64{}
	other := map[[2]string]int64{}
	var sum Summary
	for _, c := range all.Counters() {
		v := c.Result()
		switch c.Namespace() {
		case Namespace:
			name, metric, ok := strings.Cut(c.Name(), "/")
			if !ok {
				break
			}
			s := stage(name)
			switch {
			case metric == RecordsIn:
				s.In += v
			case metric == RecordsOut:
				s.Out += v
			case metric == Matches:
				s.Matches += v
			case metric == Retractions:
				s.Retractions += v
			case strings.HasPrefix(metric, DeadLetters+"/"):
				s.DeadLetters += v
				dead[[2]string{name, strings.TrimPrefix(metric, DeadLetters+"/")}] += v
			default:
				ok = false
			}
			if ok {
				continue
			}
		case DeadLetterNamespace:
			if i := strings.LastIndex(c.Name(), "/"); i > 0 {
				dead[[2]string{c.Name()[:i], c.Name()[i+1:]}] += v
				continue
			}
		case deadLetterCodes:
			continue
		}
		other[[2]string{c.Namespace(), c.Name()}] += v
	}
	for _, d := range all.Distributions() {
		name, metric, ok := strings.Cut(d.Name(), "/")
		if d.Key.Namespace != Namespace || !ok || metric != EventToMatchMs {
			continue
		}
		v := d.Result()
		if v.Count == 0 {
			continue
		}
		l := &stage(name).Latency
		if l.Count == 0 || v.Min < l.MinMs {
			l.MinMs = v.Min
		}
		if v.Max > l.MaxMs {
			l.MaxMs = v.Max
		}
		l.Count += v.Count
		l.SumMs += v.Sum
	}
	for _, s := range stages {
		sum.Stages = append(sum.Stages, *s)
	}
	sort.Slice(sum.Stages, func(i, j int) bool { return sum.Stages[i].Stage < sum.Stages[j].Stage })
	for k, v := range dead {
		sum.DeadLetters = append(sum.DeadLetters, DeadLetterCount{Stage: k[0], Reason: k[1], Count: v})
	}
	sort.Slice(sum.DeadLetters, func(i, j int) bool {
		a, b := sum.DeadLetters[i], sum.DeadLetters[j]
		if a.Stage != b.Stage {
			return a.Stage < b.Stage
		}
		return a.Reason < b.Reason
	})
	for k, v := range other {
		sum.Other = append(sum.Other, CounterValue{Namespace: k[0], Name: k[1], Value: v})
	}
	sort.Slice(sum.Other, func(i, j int) bool {
		a, b := sum.Other[i], sum.Other[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return sum
}

// Stage returns the summary of the named stage.
func (s Summary) Stage(name string) (StageSummary, bool) {
	for _, st := range s.Stages {
		if st.Stage == name {
			return st, true
		}
	}
	return StageSummary{}, false
}

// WithoutLatency returns s without its latency distributions, for a run
// where event-to-match latency measures nothing about the pipeline (a
// bounded replay of history measures the age of the data).
func (s Summary) WithoutLatency() Summary {
	s.Stages = append([]StageSummary(nil), s.Stages...)
	for i := range s.Stages {
		s.Stages[i].Latency = LatencySummary{}
	}
	return s
}

// WriteTable prints the summary as aligned text tables: one row per stage
// (records in and out, dead letters, matches, retractions and, when some
// stage has latency samples, latency count, mean, min and max), then dead
// letters by stage and reason, then other counters.
func (s Summary) WriteTable(w io.Writer) error {
	withLatency := false
	for _, st := range s.Stages {
		withLatency = withLatency || st.Latency.Count > 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if withLatency {
		fmt.Fprintln(tw, "stage\tin\tout\tdead letters\tmatches\tretractions\tlatency n\tmean ms\tmin ms\tmax ms\t")
	} else {
		fmt.Fprintln(tw, "stage\tin\tout\tdead letters\tmatches\tretractions\t")
	}
	for _, st := range s.Stages {
		l := st.Latency
		lat := ""
		if withLatency {
			lat = "-\t-\t-\t-\t"
			if l.Count > 0 {
				lat = fmt.Sprintf("%d\t%.1f\t%d\t%d\t", l.Count, l.MeanMs(), l.MinMs, l.MaxMs)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", st.Stage, st.In, st.Out, st.DeadLetters, st.Matches, st.Retractions, lat)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("metrics: writing summary table: %w", err)
	}
	if len(s.DeadLetters) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\ndead letters\treason\tcount")
		for _, d := range s.DeadLetters {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", d.Stage, d.Reason, d.Count)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("metrics: writing summary table: %w", err)
		}
	}
	if len(s.Other) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nother counters\tname\tvalue")
		for _, c := range s.Other {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Namespace, c.Name, c.Value)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("metrics: writing summary table: %w", err)
		}
	}
	return nil
}
