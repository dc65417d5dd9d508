package flinktest

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/flink"
)

var shared struct {
	once sync.Once
	s    *flink.Server
	err  error
}

// Endpoint returns the shared job server's Job API address, starting it on
// first use.
func Endpoint(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		par, _ := strconv.Atoi(os.Getenv("TRIALFLOW_FLINK_PARALLELISM"))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		shared.s, shared.err = flink.Start(ctx, flink.Config{Parallelism: par, Log: os.Stderr})
	})
	if shared.err != nil {
		if flink.IsUnavailable(shared.err) && os.Getenv("CI") != "true" {
			t.Skipf("Flink job server unavailable: %v", shared.err)
		}
		t.Fatalf("Flink job server: %v", shared.err)
	}
	return shared.s.Endpoint
}

// Pid is the shared job server's java process id, starting it on first use.
func Pid(t testing.TB) int {
	t.Helper()
	Endpoint(t)
	return shared.s.Pid()
}

// Stop stops the shared job server, if it was started.
func Stop() {
	if shared.s != nil {
		shared.s.Stop()
	}
}

// JobServerLog is the end of the shared job server's log ("" if none).
func JobServerLog() string {
	if shared.s == nil {
		return ""
	}
	return shared.s.Log()
}

var flagMu sync.Mutex

// RunFlink runs p on the shared Flink job server with the LOOPBACK
// environment (the SDK worker is this test binary).
func RunFlink(ctx context.Context, t testing.TB, p *beam.Pipeline) (beam.PipelineResult, error) {
	t.Helper()
	ep := Endpoint(t)
	flagMu.Lock()
	savedEP, savedEnv := *jobopts.Endpoint, *jobopts.EnvironmentType
	*jobopts.Endpoint, *jobopts.EnvironmentType = ep, "loopback"
	flagMu.Unlock()
	defer func() {
		flagMu.Lock()
		*jobopts.Endpoint, *jobopts.EnvironmentType = savedEP, savedEnv
		flagMu.Unlock()
	}()
	return beam.Run(ctx, "universal", p)
}

// RunPrism runs p on in-process Prism, as trialflow's runners.Run does.
func RunPrism(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	return runners.Run(ctx, p, runners.WithRunner("prism"), runners.WithoutWebUI())
}

// Output collection: a DoFn in this process (LOOPBACK puts every runner's
// SDK worker here) appends each element of the compared PCollection.
var sink = struct {
	sync.Mutex
	m map[string][]string
}{m: map[string][]string{}}

type captureFn struct {
	Run string
}

func (f *captureFn) ProcessElement(v string) {
	sink.Lock()
	sink.m[f.Run] = append(sink.m[f.Run], v)
	sink.Unlock()
}

func init() { register.DoFn1x0[string](&captureFn{}) }

var runSeq struct {
	sync.Mutex
	n int
}

func newRunID(name string) string {
	runSeq.Lock()
	defer runSeq.Unlock()
	runSeq.n++
	return fmt.Sprintf("%s#%d", name, runSeq.n)
}

// Capture records every element of col (a PCollection<string>) under run.
func Capture(s beam.Scope, run string, col beam.PCollection) {
	beam.ParDo0(s, &captureFn{Run: run}, col)
}

// Collected returns what Capture recorded under run, sorted.
func Collected(run string) []string {
	sink.Lock()
	defer sink.Unlock()
	out := append([]string(nil), sink.m[run]...)
	sort.Strings(out)
	return out
}

// Compare builds the pipeline twice with build (which returns the
// PCollection<string> to compare), runs one on Prism and one on Flink, and
// fails t unless both produced the same multiset of elements. It returns
// the (sorted) output.
func Compare(t *testing.T, build func(s beam.Scope) beam.PCollection) []string {
	t.Helper()
	Endpoint(t) // skip early when unavailable
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runs := map[string]func(context.Context, *beam.Pipeline) (beam.PipelineResult, error){
		"prism": RunPrism,
		"flink": func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) { return RunFlink(ctx, t, p) },
	}
	got := map[string][]string{}
	for _, name := range []string{"prism", "flink"} {
		id := newRunID(t.Name() + "/" + name)
		p, s := beam.NewPipelineWithRoot()
		Capture(s, id, build(s))
		start := time.Now()
		if _, err := runs[name](ctx, p); err != nil {
			t.Fatalf("%s run: %v\njob server log:\n%s", name, err, logIf(name))
		}
		got[name] = Collected(id)
		t.Logf("%s: %d elements in %v", name, len(got[name]), time.Since(start).Round(time.Millisecond))
	}
	if !reflect.DeepEqual(got["prism"], got["flink"]) {
		t.Errorf("Flink's output differs from Prism's:\n%s", Diff(got["prism"], got["flink"]))
	}
	return got["prism"]
}

func logIf(name string) string {
	if name == "flink" {
		return JobServerLog()
	}
	return ""
}

// Diff lists the elements only in a ("-") or only in b ("+"), as multisets.
func Diff(a, b []string) string {
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	var lines []string
	for k, n := range count {
		for ; n > 0; n-- {
			lines = append(lines, "- prism only: "+k)
		}
		for ; n < 0; n++ {
			lines = append(lines, "+ flink only: "+k)
		}
	}
	sort.Strings(lines)
	if len(lines) > 40 {
		lines = append(lines[:40], fmt.Sprintf("... and %d more", len(lines)-40))
	}
	return strings.Join(lines, "\n")
}

type tagFn struct {
	Tag string
}

func (f *tagFn) ProcessElement(v string) string { return f.Tag + " | " + v }

func init() { register.DoFn1x1[string, string](&tagFn{}) }

// Tagged prefixes each PCollection<string> of cols with its tag and
// flattens them, so several outputs of one pipeline are compared at once.
// cols alternates tag (string) and PCollection.
func Tagged(s beam.Scope, cols ...any) beam.PCollection {
	var out []beam.PCollection
	for i := 0; i+1 < len(cols); i += 2 {
		out = append(out, beam.ParDo(s, &tagFn{Tag: cols[i].(string)}, cols[i+1].(beam.PCollection)))
	}
	return beam.Flatten(s, out...)
}
