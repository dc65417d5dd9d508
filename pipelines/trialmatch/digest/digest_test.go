package digest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/trialflow/trialflow/schemas"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

func init() {
	register.Function2x0(stampMatch)
	register.Function1x1(format)
	register.Emitter2[beam.EventTime, schemas.ApprovedPatient]()
}

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func match(tenant, protocol, action string, at time.Duration) schemas.ApprovedPatient {
	return schemas.ApprovedPatient{
		MatchID: fmt.Sprintf("%s/%s/%s/%v", tenant, protocol, action, at), Tenant: tenant,
		PatientID: tenant + "-p", ProtocolNo: protocol, Action: action, EventTime: t0.Add(at), MatchTime: t0.Add(at),
	}
}

// stampMatch gives a record its event time as the element timestamp, as
// the Kafka source does.
func stampMatch(a schemas.ApprovedPatient, emit func(beam.EventTime, schemas.ApprovedPatient)) {
	emit(mtime.FromTime(a.EventTime), a)
}

func format(d Digest) string {
	var ps []string
	for _, p := range d.ByProtocol {
		ps = append(ps, fmt.Sprintf("%s:%d/%d", p.ProtocolNo, p.New, p.Retracted))
	}
	return fmt.Sprintf("%s %s..%s new=%d retracted=%d [%s]", d.Tenant, d.WindowStart.Format("01-02T15:04"),
		d.WindowEnd.Format("15:04"), d.New, d.Retracted, strings.Join(ps, " "))
}

func formatAll(ds []Digest) []any {
	out := make([]any, len(ds))
	for i, d := range ds {
		out[i] = format(d)
	}
	return out
}

// records: three tenants over four hours; no records at all in hour 2, and
// practice-03 only retracts.
var records = []schemas.ApprovedPatient{
	match("practice-01", "17-251", "NEW", 5*time.Minute),
	match("practice-01", "17-251", "NEW", 59*time.Minute),
	match("practice-01", "18-001", "NEW", 30*time.Minute),
	match("practice-01", "17-251", "RETRACTED", 61*time.Minute),
	match("practice-02", "18-001", "NEW", 10*time.Minute),
	match("practice-02", "18-001", "NEW", 3*time.Hour+time.Minute),
	match("practice-03", "19-777", "RETRACTED", 3*time.Hour+59*time.Minute),
}

func TestOf(t *testing.T) {
	got := formatAll(Of(records, time.Hour))
	want := []any{
		"practice-01 01-05T00:00..01:00 new=3 retracted=0 [17-251:2/0 18-001:1/0]",
		"practice-01 01-05T01:00..02:00 new=0 retracted=1 [17-251:0/1]",
		"practice-02 01-05T00:00..01:00 new=1 retracted=0 [18-001:1/0]",
		"practice-02 01-05T03:00..04:00 new=1 retracted=0 [18-001:1/0]",
		"practice-03 01-05T03:00..04:00 new=0 retracted=1 [19-777:0/1]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Of =\n%v\nwant\n%v", got, want)
	}
}

func boundedPipeline(size time.Duration) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, stampMatch, beam.CreateList(s, records))
	digests := Tumbling(s, in, Window(size))
	out := beam.WindowInto(s, window.NewGlobalWindows(), beam.ParDo(s, format, digests))
	passert.Equals(s, out, formatAll(Of(records, size))...)
	return p
}

// TestTumbling runs bounded input on Prism for the default hour and a
// quarter hour: the digests are those of Of, empty windows have none.
func TestTumbling(t *testing.T) {
	for _, size := range []time.Duration{time.Hour, 15 * time.Minute} {
		if err := ptest.Run(boundedPipeline(size)); err != nil {
			t.Fatalf("window %v: %v", size, err)
		}
	}
}

// TestTumblingDirect runs the same bounded pipeline on the direct runner.
func TestTumblingDirect(t *testing.T) {
	if _, err := direct.Execute(context.Background(), boundedPipeline(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// streamWithLate delivers hour 0 of two tenants on time, advances the
// watermark past hour 0 and into hour 2, then delivers a late record for
// hour 0 and an on-time one for hour 2.
func streamWithLate(t *testing.T, s beam.Scope) beam.PCollection {
	t.Helper()
	cfg := teststream.NewConfig()
	add := func(a schemas.ApprovedPatient) {
		if err := cfg.AddElements(a.EventTime.UnixMilli(), a); err != nil {
			t.Fatal(err)
		}
	}
	add(match("practice-01", "17-251", "NEW", 5*time.Minute))
	add(match("practice-02", "18-001", "NEW", 6*time.Minute))
	add(match("practice-01", "18-001", "RETRACTED", 7*time.Minute))
	if err := cfg.AdvanceWatermark(t0.Add(2*time.Hour + 10*time.Minute).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	add(match("practice-01", "17-251", "NEW", 20*time.Minute)) // late for hour 0
	add(match("practice-02", "18-001", "NEW", 2*time.Hour+30*time.Minute))
	if err := cfg.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	return teststream.Create(s, cfg)
}

func TestTumblingLateData(t *testing.T) {
	onTime := []any{
		"practice-01 01-05T00:00..01:00 new=1 retracted=1 [17-251:1/0 18-001:0/1]",
		"practice-02 01-05T00:00..01:00 new=1 retracted=0 [18-001:1/0]",
		"practice-02 01-05T02:00..03:00 new=1 retracted=0 [18-001:1/0]",
	}
	for _, tc := range []struct {
		name     string
		lateness time.Duration
		want     []any
	}{
		{"dropped", 0, onTime},
		{"allowed", 3 * time.Hour, append(append([]any{}, onTime...),
			// The late pane counts only the late record.
			"practice-01 01-05T00:00..01:00 new=1 retracted=0 [17-251:1/0]")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			digests := Tumbling(s, streamWithLate(t, s), AllowedLateness(tc.lateness))
			out := beam.WindowInto(s, window.NewGlobalWindows(), beam.ParDo(s, format, digests))
			passert.Equals(s, out, tc.want...)
			if err := ptest.Run(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBadOptionsPanic(t *testing.T) {
	for name, opt := range map[string]Option{
		"zero window":       Window(0),
		"sub-ms window":     Window(time.Microsecond),
		"negative lateness": AllowedLateness(-time.Second),
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			_, s := beam.NewPipelineWithRoot()
			Tumbling(s, beam.CreateList(s, records), opt)
		}()
	}
}

// TestGrouped gives the digests of Of for bounded input whatever the
// element timestamps (here the minimum, as after a global-window group), on
// Prism and on the direct runner.
func TestGrouped(t *testing.T) {
	for _, size := range []time.Duration{time.Hour, 15 * time.Minute} {
		p, s := beam.NewPipelineWithRoot()
		digests := Grouped(s, beam.CreateList(s, records), Window(size))
		passert.Equals(s, beam.ParDo(s, format, digests), formatAll(Of(records, size))...)
		if err := ptest.Run(p); err != nil {
			t.Fatalf("window %v: %v", size, err)
		}
		if size == time.Hour {
			if _, err := direct.Execute(context.Background(), p); err != nil {
				t.Fatalf("direct: %v", err)
			}
		}
	}
}
