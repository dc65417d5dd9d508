package history

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

func init() {
	register.Function1x1(fileRows)
	register.Function1x1(deadOne)
}

func fileRows(f File) int { return f.Rows }

func deadOne(deadletter.Record) int { return 1 }

// TestWriteBeam writes a bounded PCollection with a few bad records:
// every good record is in the history, every bad one is a dead letter.
func TestWriteBeam(t *testing.T) {
	dir := t.TempDir()
	in := sample(200)
	bad := sample(3)
	bad[0].Tenant, bad[1].EventTime, bad[2].Action = "", time.Time{}, "?"
	for i := range bad {
		bad[i].MatchID = "bad-" + bad[i].MatchID
	}
	p, s := beam.NewPipelineWithRoot()
	files, dead := WriteWithDeadLetters(s, dir, beam.CreateList(s, append(append([]schemas.ApprovedPatient{}, in...), bad...)))
	passert.Equals(s, stats.Sum(s, beam.ParDo(s, fileRows, files)), len(in))
	passert.Equals(s, stats.Sum(s, beam.ParDo(s, deadOne, dead)), len(bad))
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	sortByID(got)
	if d := cmp.Diff(in, got); d != "" {
		t.Fatalf("history (-want +got):\n%s", d)
	}
}

// TestWriteStreaming feeds a TestStream in several steps, windowed into
// fixed windows, as the streaming pipeline does: every record reaches a
// file, in its partition.
func TestWriteStreaming(t *testing.T) {
	dir := t.TempDir()
	in := sample(90)
	sortByTime(in)
	cfg := teststream.NewConfig()
	for i := 0; i < len(in); i += 30 {
		batch := in[i : i+30]
		for _, a := range batch {
			if err := cfg.AddElements(a.EventTime.UnixMilli(), a); err != nil {
				t.Fatal(err)
			}
		}
		if err := cfg.AdvanceWatermark(batch[len(batch)-1].EventTime.UnixMilli() + 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	matches := beam.WindowInto(s, window.NewFixedWindows(time.Hour), teststream.Create(s, cfg))
	files := Write(s, dir, matches, MaxRowsPerFile(1000), Compression("zstd"))
	passert.Equals(s, stats.Sum(s, beam.ParDo(s, fileRows, files)), len(in))
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	sortByID(got)
	sortByID(in)
	if d := cmp.Diff(in, got); d != "" {
		t.Fatalf("history (-want +got):\n%s", d)
	}
}

func sortByTime(ms []schemas.ApprovedPatient) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].EventTime.Before(ms[j-1].EventTime); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

func TestBadCompressionFailsSetup(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	Write(s, t.TempDir(), beam.CreateList(s, sample(1)), Compression("lzma"))
	if err := ptest.Run(p); err == nil {
		t.Fatal("pipeline with an unknown codec succeeded")
	}
}

// TestWriteDirect runs the bounded sink on the direct runner too.
func TestWriteDirect(t *testing.T) {
	dir := t.TempDir()
	in := sample(50)
	p, s := beam.NewPipelineWithRoot()
	files := Write(s, dir, beam.CreateList(s, in))
	passert.Equals(s, stats.Sum(s, beam.ParDo(s, fileRows, files)), len(in))
	if _, err := direct.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	sortByID(got)
	if d := cmp.Diff(in, got); d != "" {
		t.Fatalf("history (-want +got):\n%s", d)
	}
}
