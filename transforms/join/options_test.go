package join

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOptionsHonoured checks the table of the package documentation
// (Options): each option implements the option interfaces of exactly the
// transforms that honour it.
func TestOptionsHonoured(t *testing.T) {
	ifaces := []struct {
		name string
		typ  reflect.Type
	}{
		{"Window", typeOf[WindowOption]()},
		{"Interval", typeOf[IntervalOption]()},
		{"Temporal", typeOf[TemporalOption]()},
		{"TemporalTable", typeOf[TableOption]()},
		{"Broadcast", typeOf[BroadcastOption]()},
	}
	for _, tc := range []struct {
		name string
		opt  any
		want string
	}{
		{"Name", Name("j"), "Window Interval Temporal TemporalTable Broadcast"},
		{"Batched", Batched(2), "Window Interval"},
		{"AllowedLateness", AllowedLateness(time.Second), "Interval Temporal"},
		{"StateTTL", StateTTL(time.Hour), "Interval Temporal Broadcast"},
		{"CleanupEvery", CleanupEvery(time.Second), "Interval"},
		{"Bounded", Bounded(), "TemporalTable"},
		{"Shards", Shards(2), "Broadcast"},
	} {
		var got []string
		for _, i := range ifaces {
			if reflect.TypeOf(tc.opt).Implements(i.typ) {
				got = append(got, i.name)
			}
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s is accepted by %q, want %q", tc.name, g, tc.want)
		}
	}
}

// misapplied is a program that uses join options; the lines marked
// "// want X" misapply an option and must fail to compile with
// "does not implement join.X", the others must compile.
const misapplied = `package main

import (
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/trialflow/trialflow/transforms/join"
)

func main() {
	s := beam.NewPipeline().Root()
	var in []beam.PCollection
	var l, r beam.PCollection
	join.Window(s, join.Inner, in, join.Batched(2), join.Name("w"))
	join.Window(s, join.Inner, in, join.Bounded()) // want WindowOption
	join.CoGroup(s, join.Inner, in, join.StateTTL(time.Hour)) // want WindowOption
	join.Interval(s, join.Inner, l, r, 0, time.Second, join.AllowedLateness(time.Second), join.StateTTL(time.Hour), join.CleanupEvery(time.Minute), join.Batched(4))
	join.Interval(s, join.Inner, l, r, 0, time.Second, join.Shards(2)) // want IntervalOption
	join.Temporal(s, join.Inner, l, r, join.AllowedLateness(time.Second), join.StateTTL(time.Hour))
	join.Latest(s, join.Inner, l, r, join.Batched(2)) // want TemporalOption
	join.Temporal(s, join.Inner, l, r, join.CleanupEvery(time.Second)) // want TemporalOption
	join.TemporalTable(s, l, nil, join.Bounded(), join.Name("t"))
	join.TemporalTable(s, l, nil, join.StateTTL(time.Hour)) // want TableOption
	join.Broadcast(s, l, r, nil, join.Shards(2), join.StateTTL(time.Hour))
	join.Broadcast(s, l, r, nil, join.AllowedLateness(time.Second)) // want BroadcastOption
	join.Broadcast(s, l, r, nil, join.Batched(2)) // want BroadcastOption
}
`

// TestMisappliedOptionDoesNotCompile builds misapplied (as a package of
// this module that exists only in a -overlay) and checks that exactly the
// marked lines fail, each naming the option interface it does not
// implement. It costs one `go build` of a package importing join: under a
// second once the build cache holds join's dependencies as a non-test
// build, minutes the first time (380 s on the shared 2-core machine); -short
// skips it, and TestOptionsHonoured checks the same table in no time.
func TestMisappliedOptionDoesNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(misapplied), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(wd, "misappliedprobe")
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(pkg, "main.go"): src}})
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "build", "-overlay", ov, "-o", os.DevNull, "./misappliedprobe")
	cmd.Dir = wd
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the misapplied options compiled:\n%s", out)
	}

	want := map[int]string{}
	for i, line := range strings.Split(misapplied, "\n") {
		if _, iface, ok := strings.Cut(line, "// want "); ok {
			want[i+1] = iface
		}
	}
	got := map[int]string{}
	re := regexp.MustCompile(`main\.go:(\d+):\d+: (.*)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		got[n] = m[2]
	}
	var lines []int
	for n := range want {
		lines = append(lines, n)
	}
	sort.Ints(lines)
	for _, n := range lines {
		msg, ok := got[n]
		if !ok {
			t.Errorf("line %d compiled, want an error naming %s", n, want[n])
			continue
		}
		if !strings.Contains(msg, "does not implement join."+want[n]) {
			t.Errorf("line %d: %s\nwant it to say: does not implement join.%s", n, msg, want[n])
		}
		t.Logf("line %d: %s", n, msg)
	}
	for n, msg := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("line %d, a correct use, failed: %s", n, msg)
		}
	}
	if len(got) == 0 {
		t.Fatalf("go build failed without a compile error in main.go:\n%s", out)
	}
}
