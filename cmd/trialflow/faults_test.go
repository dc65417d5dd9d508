package main

// Fault tests of issue 15 (durable streaming): the real trialflow binary as
// a child process, killed with SIGKILL, its broker and registry taken away,
// re-run; its approved_patients compared with an uninterrupted run's.
//
//	make test          3 kills, a few hundred patients (TestFault*; skipped with -short)
//	make test-faults   TRIALFLOW_FAULTS=full: 10 kills on more data, broker and registry outages
//
// TRIALFLOW_FAULT_KILLS=N sets the number of kills, TRIALFLOW_FAULT_SEED the
// seed of the kill moments. The child's logs are in the test's temp dirs;
// a failure prints their tails.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners/local/faulttest"
	"github.com/trialflow/trialflow/schemas"
)

// faultsFull is the `make test-faults` mode: more kills, more data, outages.
func faultsFull() bool { return os.Getenv("TRIALFLOW_FAULTS") == "full" }

func faultKills(t *testing.T) int {
	if v := os.Getenv("TRIALFLOW_FAULT_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("TRIALFLOW_FAULT_KILLS=%q: want a count", v)
		}
		return n
	}
	if faultsFull() {
		return 10
	}
	return 3
}

func faultSeed(t *testing.T) uint64 {
	if v := os.Getenv("TRIALFLOW_FAULT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TRIALFLOW_FAULT_SEED=%q: want a number", v)
		}
		return n
	}
	return 15
}

func skipFaults(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests run the trialflow binary for minutes; not with -short")
	}
}

// liveFeed is a small data set whose event times start shortly after now
// and span span, so that Drip delivers it as live input.
func liveFeed(t *testing.T, patients int, span time.Duration) *faulttest.Feed {
	t.Helper()
	c := synth.DefaultConfig()
	c.Seed, c.Patients, c.Tenants, c.Trials = 7, patients, 3, 6
	c.Start, c.Span = time.Now().Add(3*time.Second).Truncate(time.Second), span
	f, err := faulttest.NewFeed(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// streamArgs is the streaming job's command line on s.
func streamArgs(s *faulttest.Stack) []string {
	return []string{"match", "--unbounded", "--group", "g1", "--bootstrap", strings.Join(s.Bootstrap(), ","),
		"--registry", s.RegistryURL(), "--tick", "1s", "--shards", "4"}
}

// job is a streaming trialflow match on one stack, restarted as the test
// says; it remembers every incarnation's log.
type job struct {
	t     *testing.T
	bin   string
	stack *faulttest.Stack
	name  string
	procs []*faulttest.Proc
	// snapshots of (committed offsets, approved_patients) taken while the
	// job was down, checked with CommitAhead once the baseline is complete.
	snaps []snapshot
}

type snapshot struct {
	when      string
	committed faulttest.Offsets
	approved  []schemas.ApprovedPatient
}

func (j *job) start() {
	j.procs = append(j.procs, faulttest.Start(j.t, fmt.Sprintf("%s-%d", j.name, len(j.procs)), j.bin, streamArgs(j.stack)...))
}

func (j *job) cur() *faulttest.Proc { return j.procs[len(j.procs)-1] }

// alive fails when the current incarnation exited by itself.
func (j *job) alive() error {
	if ok, err := j.cur().Exited(); ok {
		return fmt.Errorf("%s exited by itself (%v); its log ends:\n%s", j.cur().Name, err, j.cur().Tail(30))
	}
	return nil
}

// snapshot records the group's committed offsets, then approved_patients.
// Read in that order, an offset committed ahead of its outputs shows even
// while the job runs.
func (j *job) snapshot(ctx context.Context, when string) {
	committed, err := faulttest.Committed(ctx, j.stack, "g1", faulttest.InputTopics...)
	if err != nil {
		j.t.Logf("%s: snapshot %s: %v", j.name, when, err)
		return
	}
	approved, err := faulttest.ReadApproved(ctx, j.stack)
	if err != nil {
		j.t.Logf("%s: snapshot %s: %v", j.name, when, err)
		return
	}
	j.snaps = append(j.snaps, snapshot{when: when, committed: committed, approved: approved})
}

func (j *job) logs() string {
	var b strings.Builder
	for _, p := range j.procs {
		fmt.Fprintf(&b, "--- %s (%s), last lines:\n%s\n", p.Name, p.LogPath, p.Tail(15))
	}
	return b.String()
}

// faultRun is a streaming run under faults next to an uninterrupted one
// over the same live input.
type faultRun struct {
	t              *testing.T
	feed           *faulttest.Feed
	base, crash    *faulttest.Stack
	baseT, crashT  *faulttest.Target
	baseJ, crashJ  *job
	dripDone       chan error
	dripStart, end time.Time
}

func newFaultRun(t *testing.T, patients int, span time.Duration) *faultRun {
	bin := faulttest.Build(t, ".")
	r := &faultRun{t: t, feed: liveFeed(t, patients, span)}
	r.base, r.crash = faulttest.StartStack(t, "uninterrupted"), faulttest.StartStack(t, "faulted")
	r.baseT, r.crashT = faulttest.NewTarget(t, r.base), faulttest.NewTarget(t, r.crash)
	r.baseJ = &job{t: t, bin: bin, stack: r.base, name: "uninterrupted"}
	r.crashJ = &job{t: t, bin: bin, stack: r.crash, name: "faulted"}
	t.Logf("live input: %d records (%d patients) from %s over %v", r.feed.Len(), patients,
		r.feed.Data.Facts[0].EventTime.Format(time.TimeOnly), span)
	r.baseJ.start()
	r.crashJ.start()
	r.dripDone = make(chan error, 1)
	r.dripStart, r.end = time.Now(), r.feed.End()
	go func() { r.dripDone <- r.feed.Drip(context.Background(), r.baseT, r.crashT) }()
	return r
}

// killMoments are n seeded moments between now+1s and the end of the input
// plus 10s, at least 1.5s apart.
func killMoments(seed uint64, n int, end time.Time) []time.Time {
	rng := rand.New(rand.NewPCG(seed, seed^0x15))
	from := time.Now().Add(time.Second)
	span := end.Add(10 * time.Second).Sub(from)
	var out []time.Time
	at := from
	for i := 0; i < n; i++ {
		// The i-th kill falls in the i-th of n equal slices, at a random
		// point of it.
		slot := from.Add(span * time.Duration(i) / time.Duration(n))
		m := slot.Add(time.Duration(rng.Int64N(int64(span / time.Duration(n)))))
		if m.Before(at) {
			m = at
		}
		out = append(out, m)
		at = m.Add(1500 * time.Millisecond)
	}
	return out
}

// killAndRestart SIGKILLs the faulted job at each moment, snapshots what it
// left, and restarts it with the same command.
func (r *faultRun) killAndRestart(moments []time.Time) {
	for i, m := range moments {
		time.Sleep(time.Until(m))
		if err := r.crashJ.alive(); err != nil {
			r.t.Fatal(err)
		}
		up := r.crashJ.cur().Uptime()
		r.crashJ.cur().Kill()
		r.t.Logf("kill %d/%d: SIGKILL after %v up (input %s)", i+1, len(moments), up.Round(time.Millisecond), r.inputState())
		r.crashJ.snapshot(context.Background(), fmt.Sprintf("after kill %d", i+1))
		r.crashJ.start()
	}
}

func (r *faultRun) inputState() string {
	if time.Now().After(r.end) {
		return "complete"
	}
	return fmt.Sprintf("%v to go", time.Until(r.end).Round(time.Second))
}

// finish waits for the input and for both jobs to catch up, then checks
// the faulted run against the uninterrupted one in subtests.
func (r *faultRun) finish() {
	t := r.t
	if err := <-r.dripDone; err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	took := make([]time.Duration, 2)
	for i, j := range []*job{r.baseJ, r.crashJ} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took[i], errs[i] = faulttest.WaitCaughtUp(ctx, j.stack, faulttest.CatchUp{Group: "g1", Alive: j.alive, Timeout: 4 * time.Minute})
		}()
	}
	wg.Wait()
	for i, j := range []*job{r.baseJ, r.crashJ} {
		if errs[i] != nil {
			t.Fatalf("%s job: %v\n%s", j.name, errs[i], j.logs())
		}
		t.Logf("%s job caught up %v after the input ended", j.name, took[i].Round(time.Millisecond))
	}
	want, err := faulttest.ReadApproved(ctx, r.base)
	if err != nil {
		t.Fatal(err)
	}
	got, err := faulttest.ReadApproved(ctx, r.crash)
	if err != nil {
		t.Fatal(err)
	}
	wn, wr := faulttest.Count(want)
	gn, gr := faulttest.Count(got)
	t.Logf("approved_patients: uninterrupted %d NEW / %d RETRACTED, faulted %d NEW / %d RETRACTED", wn, wr, gn, gr)
	if wn == 0 {
		t.Fatalf("the uninterrupted run published no match: the data set proves nothing\n%s", r.baseJ.logs())
	}
	if d := faulttest.DoubleNews(want); len(d) > 0 {
		t.Errorf("the uninterrupted run itself has %d keys with a second NEW and no RETRACTED between:\n  %s", len(d), faulttest.Summarize(d, 10))
	}
	t.Run("no_second_NEW", func(t *testing.T) {
		if d := faulttest.DoubleNews(got); len(d) > 0 {
			t.Errorf("%d keys got a second NEW with no RETRACTED between them:\n  %s", len(d), faulttest.Summarize(d, 10))
		}
	})
	t.Run("equals_uninterrupted", func(t *testing.T) {
		if d := faulttest.Diff(faulttest.Collapse(got), faulttest.Collapse(want)); len(d) > 0 {
			t.Errorf("collapsed per key, approved_patients differs from the uninterrupted run's at %d keys:\n  %s", len(d), faulttest.Summarize(d, 15))
		}
	})
	t.Run("commit_after_outputs", func(t *testing.T) {
		r.crashJ.snapshot(ctx, "at the end")
		placed := r.crashT.Placed()
		for _, s := range r.crashJ.snaps {
			if d := faulttest.CommitAhead(s.committed, placed, want, s.approved); len(d) > 0 {
				t.Errorf("%s: offsets committed for input whose outputs were not in approved_patients (%d keys):\n  %s", s.when, len(d), faulttest.Summarize(d, 8))
			}
		}
	})
	if t.Failed() {
		t.Logf("logs:\n%s%s", r.baseJ.logs(), r.crashJ.logs())
	}
}

// TestFaultCrashRestart: kill -9 the streaming job at N random moments
// while input arrives, restart it each time; once caught up, its
// approved_patients must equal an uninterrupted run's, collapsed per key,
// with never a second NEW for a key without a RETRACTED between them, and
// no offset committed before its outputs were in Kafka. The uninterrupted
// run's log must have no ERROR line (clean_logs).
func TestFaultCrashRestart(t *testing.T) {
	skipFaults(t)
	n := faultKills(t)
	patients, span := 300, 30*time.Second
	if faultsFull() {
		patients, span = 600, 90*time.Second
	}
	r := newFaultRun(t, patients, span)
	r.killAndRestart(killMoments(faultSeed(t), n, r.end))
	r.finish()
	t.Run("clean_logs", func(t *testing.T) {
		for _, p := range r.baseJ.procs {
			var bad []string
			for _, l := range strings.Split(p.Output(), "\n") {
				if strings.Contains(l, "ERROR") {
					bad = append(bad, l)
				}
			}
			if len(bad) > 0 {
				t.Errorf("a healthy streaming run logged %d ERROR lines (%s):\n  %s", len(bad), p.LogPath, faulttest.Summarize(bad, 5))
			}
		}
	})
}

// TestFaultBrokerOutage: every connection to the broker is dropped and new
// ones refused for a few seconds mid-run. The job either waits and
// recovers or exits with a message naming the broker; restarted if it
// exited, it ends equal to the uninterrupted run, and no offset was
// committed ahead of its outputs.
func TestFaultBrokerOutage(t *testing.T) {
	skipFaults(t)
	if !faultsFull() {
		t.Skip("broker outage: make test-faults (TRIALFLOW_FAULTS=full)")
	}
	r := newFaultRun(t, 300, 40*time.Second)
	ctx := context.Background()
	time.Sleep(time.Until(r.dripStart.Add(15 * time.Second)))
	for i, down := range []time.Duration{3 * time.Second, 8 * time.Second} {
		r.crash.BrokerDown()
		t.Logf("broker outage %d: %v (input %s)", i+1, down, r.inputState())
		time.Sleep(down)
		r.crash.BrokerUp()
		r.afterOutage(ctx, "broker", fmt.Sprintf("after broker outage %d", i+1), "kafka", "broker", "connection", "dial", "127.0.0.1")
		time.Sleep(5 * time.Second)
	}
	r.finish()
}

// TestFaultRegistryOutage: the registry stops mid-run, the job is killed
// and restarted while it is down, then the registry comes back on the same
// port from its data dir. The job waits or exits with a message naming
// the registry; restarted if it exited, it ends equal to the uninterrupted
// run, and no offset was committed ahead of its outputs.
func TestFaultRegistryOutage(t *testing.T) {
	skipFaults(t)
	if !faultsFull() {
		t.Skip("registry outage: make test-faults (TRIALFLOW_FAULTS=full)")
	}
	r := newFaultRun(t, 300, 40*time.Second)
	ctx := context.Background()
	time.Sleep(time.Until(r.dripStart.Add(12 * time.Second)))
	if err := r.crash.StopRegistry(); err != nil {
		t.Fatal(err)
	}
	t.Logf("registry down (input %s)", r.inputState())
	time.Sleep(4 * time.Second)
	if err := r.crashJ.alive(); err != nil {
		t.Logf("while the registry was down: %v", err)
	} else {
		r.crashJ.cur().Kill()
		t.Logf("killed the job while the registry is down; restarting it")
	}
	r.crashJ.snapshot(ctx, "registry down, job killed")
	r.crashJ.start()
	time.Sleep(8 * time.Second)
	if err := r.crash.StartRegistry(); err != nil {
		t.Fatal(err)
	}
	t.Logf("registry back (input %s)", r.inputState())
	r.afterOutage(ctx, "registry", "after the registry outage", "registry", "schema", r.crash.RegistryURL())
	r.finish()
}

// afterOutage checks the job after an outage: still running, or exited
// with a clear message (one naming what failed: any of words), in which
// case it is restarted. Either way the commits are snapshotted.
func (r *faultRun) afterOutage(ctx context.Context, what, when string, words ...string) {
	t := r.t
	p := r.crashJ.cur()
	if ok, err := p.Exited(); ok {
		out := p.Output()
		named := false
		for _, w := range words {
			if strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
				named = true
			}
		}
		if !named {
			t.Errorf("%s outage: the job exited (%v) without naming the %s:\n%s", what, err, what, p.Tail(20))
		}
		t.Logf("%s outage: the job exited (%v); restarting it", what, err)
		r.crashJ.snapshot(ctx, when+", job exited")
		r.crashJ.start()
		return
	}
	t.Logf("%s outage: the job kept running", what)
	r.crashJ.snapshot(ctx, when)
}

// bounded runs `trialflow match` (bounded) on s to its end and returns its
// output.
func bounded(t *testing.T, bin string, s *faulttest.Stack, name string, extra ...string) string {
	t.Helper()
	args := append([]string{"match", "--bootstrap", strings.Join(s.Bootstrap(), ","), "--registry", s.RegistryURL(), "--shards", "4"}, extra...)
	p := faulttest.Start(t, name, bin, args...)
	select {
	case <-p.Done():
	case <-time.After(5 * time.Minute):
		p.Kill()
		t.Fatalf("%s: bounded match did not finish in 5 minutes:\n%s", name, p.Tail(20))
	}
	if !p.ExitedCleanly() {
		_, err := p.Exited()
		t.Fatalf("%s: bounded match failed (%v):\n%s", name, err, p.Tail(30))
	}
	return p.Output()
}

func boundedFeed(t *testing.T) *faulttest.Feed {
	t.Helper()
	c := synth.DefaultConfig()
	c.Seed, c.Patients, c.Tenants, c.Trials = 11, 300, 3, 6
	f, err := faulttest.NewFeed(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFaultBoundedRerunUnchanged: a bounded match run twice over unchanged
// input publishes nothing the second time.
func TestFaultBoundedRerunUnchanged(t *testing.T) {
	skipFaults(t)
	bin := faulttest.Build(t, ".")
	f := boundedFeed(t)
	s := faulttest.StartStack(t, "rerun")
	ctx := context.Background()
	if err := f.Produce(ctx, 0, f.Len(), faulttest.NewTarget(t, s)); err != nil {
		t.Fatal(err)
	}
	bounded(t, bin, s, "first")
	first, err := faulttest.ReadApproved(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 {
		t.Fatal("the first run published nothing: the data set proves nothing")
	}
	bounded(t, bin, s, "second")
	second, err := faulttest.ReadApproved(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(second) - len(first); n != 0 {
		t.Errorf("the second bounded run over unchanged input published %d records (want none; the first published %d)", n, len(first))
	}
}

// TestFaultBoundedRerunGrown: a bounded match over 60% of the input, then
// over all of it, publishes only the differences: collapsed per key it
// equals one bounded run over all the input, with no second NEW for a key
// without a RETRACTED between them.
func TestFaultBoundedRerunGrown(t *testing.T) {
	skipFaults(t)
	bin := faulttest.Build(t, ".")
	f := boundedFeed(t)
	grown, whole := faulttest.StartStack(t, "grown"), faulttest.StartStack(t, "whole")
	gt, wt := faulttest.NewTarget(t, grown), faulttest.NewTarget(t, whole)
	ctx := context.Background()
	part := f.Len() * 6 / 10
	if err := f.Produce(ctx, 0, part, gt, wt); err != nil {
		t.Fatal(err)
	}
	bounded(t, bin, grown, "part")
	before, err := faulttest.ReadApproved(ctx, grown)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Produce(ctx, part, f.Len(), gt, wt); err != nil {
		t.Fatal(err)
	}
	bounded(t, bin, grown, "grown")
	bounded(t, bin, whole, "whole")
	got, err := faulttest.ReadApproved(ctx, grown)
	if err != nil {
		t.Fatal(err)
	}
	want, err := faulttest.ReadApproved(ctx, whole)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("approved_patients: %d records after 60%% of the input, %d after all of it; one run over all: %d", len(before), len(got), len(want))
	if d := faulttest.DoubleNews(got); len(d) > 0 {
		t.Errorf("%d keys got a second NEW with no RETRACTED between them:\n  %s", len(d), faulttest.Summarize(d, 10))
	}
	if d := faulttest.Diff(faulttest.Collapse(got), faulttest.Collapse(want)); len(d) > 0 {
		t.Errorf("collapsed per key, the re-run over grown input differs from one run over all of it at %d keys:\n  %s", len(d), faulttest.Summarize(d, 15))
	}
}
