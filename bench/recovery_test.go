package bench

// Recovery time and the steady-state cost of durability (issue 15), on the
// demo-sized data set (synth.DefaultConfig: 5 practices, 20,000 patients,
// ~125,000 facts, 40 trials), with the real trialflow binary:
//
//	TRIALFLOW_RECOVERY=1 go test -run TestRecoveryTime -v -timeout 60m ./bench/
//
// 1. Streaming: `trialflow match --unbounded --group g1 --tick 10m` (the
//    demo's tick) from an empty approved_patients until caught up; then
//    SIGKILL, restart the same command, and time restart -> caught up.
//    Caught up: the job's patient_view stage has folded every fact
//    (Prometheus, --metrics-addr) and approved_patients has been quiet for
//    15 s (not counted), or, without the metric, the group's committed
//    offsets at the ends and approved_patients quiet.
// 2. Bounded, the same data: a first run (empty ledger, publishes
//    everything), a re-run that reads the ledger back (publishes only
//    differences: none), and a re-run with --republish (ignores the ledger,
//    publishes everything again). The steady-state cost of durability is
//    the re-run with the ledger next to the one with --republish, in the
//    same process.
//
// Wall-clock times of whole processes (startup included), on a shared
// machine: compare within one run.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners/local/faulttest"
)

func TestRecoveryTime(t *testing.T) {
	if os.Getenv("TRIALFLOW_RECOVERY") == "" {
		t.Skip("recovery measurement: TRIALFLOW_RECOVERY=1 go test -run TestRecoveryTime -v -timeout 60m ./bench/")
	}
	bin := faulttest.Build(t, "../cmd/trialflow")
	ctx := context.Background()
	f, err := faulttest.NewFeed(synth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	facts := len(f.Data.Facts)

	// 1. Streaming: recovery after a kill.
	s := faulttest.StartStack(t, "recovery")
	if err := f.Produce(ctx, 0, f.Len(), faulttest.NewTarget(t, s)); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %d records (%d facts)", f.Len(), facts)
	metricsAddr := recoveryFreeAddr(t)
	args := []string{"match", "--unbounded", "--group", "g1", "--bootstrap", strings.Join(s.Bootstrap(), ","),
		"--registry", s.RegistryURL(), "--tick", "10m", "--metrics-addr", metricsAddr}
	first := faulttest.Start(t, "streaming-first", bin, args...)
	took := recoveryWait(t, s, first, metricsAddr, facts)
	t.Logf("streaming, empty approved_patients: caught up in %v", took.Round(time.Millisecond))
	first.Kill()
	restarted := faulttest.Start(t, "streaming-restart", bin, args...)
	took = recoveryWait(t, s, restarted, metricsAddr, facts)
	approved, err := faulttest.ReadApproved(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	n, r := faulttest.Count(approved)
	t.Logf("RECOVERY streaming: restart after SIGKILL -> caught up in %v (approved_patients now %d NEW / %d RETRACTED)", took.Round(time.Millisecond), n, r)
	restarted.Kill()

	// 2. Bounded: the ledger's cost next to --republish.
	b := faulttest.StartStack(t, "bounded")
	if err := f.Produce(ctx, 0, f.Len(), faulttest.NewTarget(t, b)); err != nil {
		t.Fatal(err)
	}
	run := func(name string, extra ...string) time.Duration {
		args := append([]string{"match", "--bootstrap", strings.Join(b.Bootstrap(), ","), "--registry", b.RegistryURL()}, extra...)
		start := time.Now()
		p := faulttest.Start(t, name, bin, args...)
		<-p.Done()
		el := time.Since(start)
		if !p.ExitedCleanly() {
			_, err := p.Exited()
			t.Fatalf("%s: %v\n%s", name, err, p.Tail(30))
		}
		recs, err := faulttest.ReadApproved(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bounded %-26s %8v  approved_patients now %d records", name+":", el.Round(time.Millisecond), len(recs))
		return el
	}
	initial := run("first (empty ledger)")
	ledger := run("re-run with the ledger")
	republish := run("re-run with --republish", "--republish")
	t.Logf("COST bounded, demo data set: first run %v; re-run reading the ledger %v vs --republish %v (%.2fx)",
		initial.Round(time.Millisecond), ledger.Round(time.Millisecond), republish.Round(time.Millisecond),
		ledger.Seconds()/republish.Seconds())
}

// recoveryWait waits until p has folded every fact (patient_view's
// records_in on its metrics endpoint) and approved_patients is quiet, and
// returns the time from p's start to the last of those.
func recoveryWait(t *testing.T, s *faulttest.Stack, p *faulttest.Proc, metricsAddr string, facts int) time.Duration {
	t.Helper()
	start := time.Now().Add(-p.Uptime())
	deadline := time.Now().Add(30 * time.Minute)
	var folded time.Time
	for folded.IsZero() {
		if ok, err := p.Exited(); ok {
			t.Fatalf("%s exited (%v):\n%s", p.Name, err, p.Tail(30))
		}
		if n, ok := recoveryFolded(metricsAddr); ok && n >= int64(facts) {
			folded = time.Now()
		} else if !ok && p.Uptime() > 2*time.Minute {
			t.Logf("%s: no patient_view metric on %s; falling back to committed offsets", p.Name, metricsAddr)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not all %d facts folded in 30 minutes:\n%s", p.Name, facts, p.Tail(20))
		}
		time.Sleep(250 * time.Millisecond)
	}
	c := faulttest.CatchUp{Group: "g1", Timeout: 30 * time.Minute, NoCommits: !folded.IsZero(),
		Alive: func() error {
			if ok, err := p.Exited(); ok {
				return fmt.Errorf("%s exited (%v)", p.Name, err)
			}
			return nil
		}}
	since := time.Now()
	quietAfter, err := faulttest.WaitCaughtUp(context.Background(), s, c)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Tail(20))
	}
	end := since.Add(quietAfter)
	if folded.After(end) {
		end = folded
	}
	return end.Sub(start)
}

// recoveryFolded reads trialflow's patient_view records_in counter from a
// Prometheus endpoint.
func recoveryFolded(addr string) (int64, bool) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var total float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || !strings.Contains(l, "records_in_total") || !strings.Contains(l, `"patient_view"`) {
			continue
		}
		fs := strings.Fields(l)
		if v, err := strconv.ParseFloat(fs[len(fs)-1], 64); err == nil {
			total += v
			found = true
		}
	}
	return int64(total), found
}

// recoveryFreeAddr is a free loopback address for the metrics endpoint.
func recoveryFreeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
